#!/bin/bash
# tests/repeat.sh - runs tests again and again, to catch the ones that
# fail only now and then.
#
#   tests/repeat.sh [-j JOBS] N TEST...
#
# Runs each TEST (a unit test program such as tests/unit/test_reader, or
# a shell test such as tests/mount.test; paths from the top of a built
# tree) N times in a row, JOBS copies side by side (default 1: use 2 to
# run under load).  Run from the top of the build tree, after make.  The
# log of every failing run is kept in repeat-logs/; the last line is
# "N runs, N failed", and the exit status is 1 if any run failed.
#
# A long run can be watched and paused: every finished run adds a line
# (PASS, FAIL or SKIP) to repeat-logs/progress, and while the file
# repeat-logs/PAUSE exists no new run starts (the ones under way finish).
set -u
jobs=1
if [ "${1:-}" = -j ]; then
	jobs=${2:-}
	shift 2
fi
n=${1:-}
case $n in
''|*[!0-9]*) echo "usage: $0 [-j JOBS] N TEST..." >&2; exit 2 ;;
esac
case $jobs in
''|*[!0-9]*|0) echo "$0: -j takes a number >= 1" >&2; exit 2 ;;
esac
shift
[ $# -gt 0 ] || { echo "usage: $0 [-j JOBS] N TEST..." >&2; exit 2; }
top_builddir=$(pwd)
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
CLIPFS=$top_builddir/clipfs/clipfs
export top_srcdir top_builddir CLIPFS
for t in "$@"; do
	[ -x "$t" ] || { echo "$0: $t: not an executable test (run make first?)" >&2; exit 2; }
done
logs=$top_builddir/repeat-logs
mkdir -p "$logs"

# one_copy COPY: every test N times; prints one line per failed run.
one_copy() {
	local copy=$1 i t log
	shift
	for i in $(seq 1 "$n"); do
		for t in "$@"; do
			while [ -e "$logs/PAUSE" ]; do sleep 5; done
			log=$logs/$(basename "$t").$copy.$i.log
			if "./$t" >"$log" 2>&1; then
				rm -f "$log"
				echo "PASS: $t (copy $copy, run $i)" >>"$logs/progress"
			elif [ $? -eq 77 ]; then
				rm -f "$log"
				echo "SKIP: $t (copy $copy, run $i)" >>"$logs/progress"
			else
				echo "FAIL: $t (copy $copy, run $i): $log" |
					tee -a "$logs/progress"
			fi
		done
	done
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT
pids=()
for c in $(seq 1 "$jobs"); do
	( one_copy "$c" "$@" >>"$results" ) &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p"
done
cat "$results"
failed=$(grep -c '^FAIL' "$results")
echo "$((n * jobs * $#)) runs, $failed failed"
[ "$failed" -eq 0 ]
