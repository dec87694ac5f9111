#!/bin/bash
# tests/run-all.sh: THE test command (the README and .ci/run both use it).
# Builds from the source tree, runs `make check`, optionally `make distcheck`,
# and ends with one line: "N passed, N failed". Exits non-zero on any failure
# and then prints the failing tests' logs (automake's test-suite.log) so the
# CI output shows why.
#
#   tests/run-all.sh              autoreconf, configure --enable-werror,
#                                 make -j2, make -j2 check
#   tests/run-all.sh --distcheck  the same, then make distcheck
#   tests/run-all.sh --install    first install the Debian packages needed
#                                 (tests/install-deps.sh; root)
#
# Counting follows automake: each unit test program and each .test script is
# one test; SKIP (exit 77, e.g. a missing tool) counts as neither.

set -u
distcheck=no
install=no
for arg in "$@"; do
	case $arg in
	--distcheck) distcheck=yes ;;
	--install) install=yes ;;
	*) echo "usage: $0 [--install] [--distcheck]" >&2; exit 2 ;;
	esac
done
cd "$(dirname "$0")/.." || exit 2
if [ "$install" = yes ]; then
	bash tests/install-deps.sh || exit 2
fi

step() {
	printf '\n=== %s\n' "$*"
	"$@"
}

# `# PASS:  3` from the summary at the top of test-suite.log.
count() {
	sed -n "s/^# $1: *//p" test-suite.log | head -n 1
}

build_ok=yes
step autoreconf -fi &&
step ./configure --enable-werror &&
step make -j2 || build_ok=no

passed=0
failed=0
skipped=0
if [ "$build_ok" = yes ]; then
	step make -j2 check
	check_rc=$?
	if [ -f test-suite.log ]; then
		passed=$(( $(count PASS) + $(count XFAIL) ))
		failed=$(( $(count FAIL) + $(count ERROR) + $(count XPASS) ))
		skipped=$(count SKIP)
		if [ "$failed" -gt 0 ] || [ "$check_rc" -ne 0 ]; then
			printf '\n=== test-suite.log (failing tests and their output)\n'
			cat test-suite.log
		fi
	fi
	# make check can fail before running any test (e.g. a test program
	# that does not compile): that is a failure too.
	if [ "$check_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		echo "make check failed (exit $check_rc) without a failing test" >&2
		failed=$((failed + 1))
	fi
	if [ "$distcheck" = yes ] && [ "$failed" -eq 0 ]; then
		if step make distcheck >distcheck.log 2>&1; then
			tail -n 4 distcheck.log
			passed=$((passed + 1))
		else
			printf '\n=== make distcheck failed; its last lines:\n'
			tail -n 80 distcheck.log
			# The tests that failed inside distcheck's own build.
			find clipfs-*/_build -name test-suite.log -exec cat {} + 2>/dev/null
			failed=$((failed + 1))
		fi
	fi
else
	echo "build failed: no test ran" >&2
	failed=1
fi

if [ "$skipped" -gt 0 ]; then
	echo "($skipped skipped: see SKIP lines above)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
