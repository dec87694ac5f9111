#!/bin/bash
# fuzz-run.sh BUILDDIR SRCDIR SECONDS [NAME...] - runs the libFuzzer
# targets of a build configured with --enable-fuzzing (what `make fuzz`
# calls).  Each fuzzer runs for SECONDS over a scratch copy of its
# committed corpus (SRCDIR/tests/fuzz/corpus/NAME plus its regressions),
# so the tree stays clean; set FUZZ_KEEP_CORPUS=DIR to keep the grown
# corpora in DIR/NAME.  Crashes, leaks, timeouts and OOMs are saved in
# BUILDDIR/fuzz-artifacts/NAME/; for each, the reproducer path and the
# report (with the stack) are printed, and the exit status is 1.
set -u
[ $# -ge 3 ] || { echo "usage: $0 BUILDDIR SRCDIR SECONDS [NAME...]" >&2; exit 2; }
build=$1 src=$2 seconds=$3
shift 3
names=("$@")
[ ${#names[@]} -gt 0 ] || mapfile -t names < <(sed -e '/^#/d' -e 's/ .*//' "$src/tests/fuzz/targets")
case $seconds in ''|*[!0-9]*) echo "$0: SECONDS must be a number" >&2; exit 2 ;; esac

scratch=$(mktemp -d "${TMPDIR:-/tmp}/clipfs-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
status=0
for name in "${names[@]}"; do
	fuzzer=$build/tests/fuzz/fuzz_$name
	[ -x "$fuzzer" ] || { echo "$0: $fuzzer not built (configure CC=clang --enable-fuzzing)" >&2; exit 2; }
	corpus=$scratch/corpus-$name
	artifacts=$build/fuzz-artifacts/$name
	mkdir -p "$corpus" "$artifacts"
	for d in "$src/tests/fuzz/corpus/$name" "$src/tests/fuzz/regressions/$name"; do
		[ -d "$d" ] && cp "$d"/* "$corpus"/ 2>/dev/null
	done
	echo "=== fuzz_$name: ${seconds}s, corpus $(ls "$corpus" | wc -l) files"
	log=$scratch/$name.log
	before=$(ls "$artifacts" | wc -l)
	# -timeout: a single input taking longer is a finding too.  The
	# parsers' own caps keep memory far below -rss_limit_mb.
	"$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
	rc=$?
	grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+.*DONE)' "$log" | sed 's/^/  /'
	after=$(ls "$artifacts" | wc -l)
	if [ $rc -ne 0 ] || [ "$after" -gt "$before" ]; then
		status=1
		echo "!!! fuzz_$name FOUND A PROBLEM (exit $rc)"
		grep -m1 -o 'Test unit written to .*' "$log" | sed 's/^Test unit written to /  reproducer: /'
		echo "  replay: $fuzzer <reproducer>   (or tests/fuzz/replay_$name <reproducer> in any build)"
		# The sanitizer or libFuzzer report, with the stack.
		sed -n '/^==[0-9]*==ERROR\|^[^ ]*: runtime error\|fuzz assertion failed\|^==[0-9]*== ERROR/,$p' "$log" |
			head -n 80 | sed 's/^/  | /'
		cp "$log" "$artifacts/$name.log"
		echo "  full log: $artifacts/$name.log"
	fi
	if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
		mkdir -p "$FUZZ_KEEP_CORPUS/$name" && cp "$corpus"/* "$FUZZ_KEEP_CORPUS/$name"/ 2>/dev/null
	fi
done
exit $status
