#!/bin/bash
# run-fuzzers.sh SECONDS [NAME...] - the CI entry point for fuzzing.
#
# Copies the tracked source tree (git ls-files, so local build products
# do not leak in) to a scratch directory, builds it there with
# CC=clang --enable-fuzzing, and runs each fuzzer (all of them by
# default) for SECONDS over a scratch copy of its corpus.  The checkout
# is never configured or written to, except that crash artifacts are
# copied to $FUZZ_ARTIFACTS (default: ./fuzz-artifacts) so they survive
# the scratch directory.  Exit status: 0 clean, 1 a fuzzer found
# something (reproducer paths and stacks are printed), 2 the build failed.
#
# Environment: CC (default clang), FUZZ_BUILD_DIR (build there and keep
# it, instead of a scratch directory removed at exit), FUZZ_ARTIFACTS,
# FUZZ_KEEP_CORPUS (see fuzz-run.sh), MAKEFLAGS.
set -u
seconds=${1:?usage: run-fuzzers.sh SECONDS [NAME...]}
shift
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}

if [ -n "${FUZZ_BUILD_DIR:-}" ]; then
	build=$FUZZ_BUILD_DIR
	mkdir -p "$build"
else
	build=$(mktemp -d "${TMPDIR:-/tmp}/clipfs-fuzzbuild.XXXXXX")
	trap 'rm -rf "$build"' EXIT
fi

# The tree is not set up for VPATH builds: build in a copy.
if [ -d "$src/.git" ] || [ -f "$src/.git" ]; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
		(cd "$src" && xargs -0 cp --parents -t "$build" 2>/dev/null)
else
	cp -a "$src/." "$build/"
fi
echo "building in $build"
if ! (cd "$build" && autoreconf -fi >build.log 2>&1 &&
	./configure CC="${CC:-clang}" --enable-fuzzing --enable-werror >>build.log 2>&1 &&
	make -j"$(nproc)" >>build.log 2>&1); then
	echo "run-fuzzers: build failed; the end of $build/build.log:" >&2
	tail -n 40 "$build/build.log" >&2
	trap - EXIT
	exit 2
fi

bash "$build/tests/fuzz/fuzz-run.sh" "$build" "$src" "$seconds" "$@"
status=$?
if [ -n "$(find "$build/fuzz-artifacts" -type f 2>/dev/null | head -n 1)" ]; then
	mkdir -p "$out"
	cp -r "$build/fuzz-artifacts/." "$out/"
	[ $status -eq 0 ] || echo "run-fuzzers: artifacts copied to $out"
fi
exit $status
