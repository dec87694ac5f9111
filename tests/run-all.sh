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
#   tests/run-all.sh --sanitizers then the whole suite again in a build
#                                 with ASan and UBSan (from make dist)
#   tests/run-all.sh --valgrind   then every unit test program under
#                                 valgrind (make check-valgrind)
#   tests/run-all.sh --fuzz SECS  then each libFuzzer target for SECS
#                                 seconds (tests/fuzz/run-fuzzers.sh)
#
# Counting follows automake: each unit test program and each .test script is
# one test; SKIP (exit 77, e.g. a missing tool) counts as neither.

set -u
distcheck=no
install=no
sanitizers=no
valgrind=no
fuzz_seconds=0
while [ $# -gt 0 ]; do
	case $1 in
	--distcheck) distcheck=yes ;;
	--install) install=yes ;;
	--sanitizers) sanitizers=yes ;;
	--valgrind) valgrind=yes ;;
	--fuzz) fuzz_seconds=${2:-}; shift ;;
	*) echo "usage: $0 [--install] [--distcheck] [--sanitizers] [--valgrind] [--fuzz SECONDS]" >&2; exit 2 ;;
	esac
	shift
done
case $fuzz_seconds in
''|*[!0-9]*) echo "$0: --fuzz takes a number of seconds" >&2; exit 2 ;;
esac
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

# The distcheck and sanitizer passes run every test again, with the
# longest data-size cases cut down (the first pass runs them whole):
# erofs.test without its 100k-entry tree and with 5 s of random stacks.
LIGHT="EROFS_SCALE_ENTRIES=0 EROFS_FUZZ_SECONDS=5"

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
		# In the FUSE mode: the first pass and the sanitizer pass mount
		# as --mode auto does (EROFS as root on Linux 6.12+), so every
		# mount test runs in both modes (tests/lib/mount.sh).
		if step env $LIGHT CLIPFS_MOUNT_MODE=fuse make distcheck >distcheck.log 2>&1; then
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
	# The whole suite again under AddressSanitizer and UBSan, FUSE and
	# registry tests included: any report fails the test that ran it.
	if [ "$sanitizers" = yes ] && [ "$failed" -eq 0 ]; then
		san=$(mktemp -d /tmp/clipfs-asan.XXXXXX)
		if step make dist >/dev/null && tar -xzf clipfs-*.tar.gz -C "$san" &&
			(cd "$san"/clipfs-* && ./configure --enable-sanitizers --enable-werror \
				>configure.log && make -j2 >build.log 2>&1); then
			(cd "$san"/clipfs-* && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
				UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 step env $LIGHT make -j2 check)
			san_rc=$?
			log="$(echo "$san"/clipfs-*)/test-suite.log"
			if [ -f "$log" ]; then
				p=$(sed -n 's/^# PASS: *//p' "$log" | head -n 1)
				f=$(( $(sed -n 's/^# FAIL: *//p' "$log" | head -n 1) +
					$(sed -n 's/^# ERROR: *//p' "$log" | head -n 1) ))
				echo "sanitizers: $p passed, $f failed"
				passed=$((passed + p))
				failed=$((failed + f))
				[ "$f" -gt 0 ] && cat "$log"
			fi
			if [ "$san_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
				failed=$((failed + 1))
			fi
		else
			echo "sanitizer build failed" >&2
			tail -n 40 "$san"/clipfs-*/build.log 2>/dev/null
			failed=$((failed + 1))
		fi
		rm -rf "$san"
	fi
	# Each unit test program under valgrind's memcheck: one count each.
	if [ "$valgrind" = yes ] && [ "$failed" -eq 0 ]; then
		step make check-valgrind >valgrind.log 2>&1
		cat valgrind.log
		p=$(grep -c '^PASS: ' valgrind.log)
		f=$(grep -c '^FAIL: ' valgrind.log)
		passed=$((passed + p))
		failed=$((failed + f))
		if ! grep -q '^PASS: ' valgrind.log && [ "$f" -eq 0 ]; then
			failed=$((failed + 1))
		fi
	fi
	if [ "$fuzz_seconds" -gt 0 ] && [ "$failed" -eq 0 ]; then
		if step tests/fuzz/run-fuzzers.sh "$fuzz_seconds"; then
			passed=$((passed + 1))
		else
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
