#!/bin/bash
# bench/index-bench.sh: how fast clipfs index is, and how big its index is,
# on a realistic image (debootstrap minbase + python3 + a whiteout layer,
# built offline by bench/lib.sh), against decompressing the same layers
# with `gzip -dc` (and `igzip -dc` where installed) in the same run.
# Prints a table and a JSON line; medians of $RUNS runs (default 3).
#
#   sudo bench/index-bench.sh [SPAN...]      (default spans: 1M 2M 4M 8M)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
CLIPFS=${CLIPFS:-$top/clipfs/clipfs}
RUNS=${RUNS:-3}
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "index-bench: run as root (debootstrap, chroot)" >&2; exit 2; }
[ -x "$CLIPFS" ] || { echo "index-bench: build clipfs first ($CLIPFS)" >&2; exit 2; }
spans=("$@")
[ ${#spans[@]} -gt 0 ] || spans=(1M 2M 4M 8M)

layout=$(bench_small_image) || exit 1
mapfile -t blobs < <(bench_layers "$layout" small)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() {  # timeit CMD...: seconds, output discarded
	local s e
	s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
	printf '%.3f\n' "$(echo "$e - $s" | bc -l)"
}
decompress_all() {  # decompress_all TOOL: every layer through TOOL -dc
	local b
	for b in "${blobs[@]}"; do "$1" -dc <"$b" >/dev/null; done
}

compressed=0
for b in "${blobs[@]}"; do compressed=$((compressed + $(stat -c %s "$b"))); done
for b in "${blobs[@]}"; do cat "$b" >/dev/null; done   # warm the page cache

gzip_s=$(for _ in $(seq "$RUNS"); do timeit decompress_all gzip; done | median)
igzip_s=""
if command -v igzip >/dev/null; then
	igzip_s=$(for _ in $(seq "$RUNS"); do timeit decompress_all igzip; done | median)
fi

printf 'image: %s layers, %s bytes compressed (%s)\n' "${#blobs[@]}" "$compressed" "$layout"
printf 'gzip -dc of the layers: %.2f s' "$gzip_s"
[ -n "$igzip_s" ] && printf '; igzip -dc: %.2f s' "$igzip_s"
printf '\n\n%-6s %9s %9s %11s %9s %12s %9s\n' span seconds vs_gzip checkpoints index_KB index_pct entries
json="{\"compressed_bytes\":$compressed,\"gzip_seconds\":$gzip_s${igzip_s:+,\"igzip_seconds\":$igzip_s},\"spans\":["
first=1
for span in "${spans[@]}"; do
	secs=$(for _ in $(seq "$RUNS"); do
		"$CLIPFS" index -q --span "$span" "oci:$layout:small" -o "$work/i.clip" --json |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])'
	done | median)
	read -r cps size files < <("$CLIPFS" inspect --json "$work/i.clip" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(sum(l["checkpoints"] for l in j["layers"]), j["size"], j["tree"]["entries"])')
	pct=$(printf '%.3f' "$(echo "100 * $size / $compressed" | bc -l)")
	ratio=$(printf '%.3f' "$(echo "$secs / $gzip_s" | bc -l)")
	printf '%-6s %9.2f %8.2fx %11s %9d %11.2f%% %9s\n' "$span" "$secs" "$ratio" "$cps" \
		$((size / 1024)) "$pct" "$files"
	[ $first -eq 1 ] || json+=","
	first=0
	json+="{\"span\":\"$span\",\"seconds\":$secs,\"ratio_vs_gzip\":$ratio,\"checkpoints\":$cps,\"index_bytes\":$size,\"index_percent\":$pct}"
done
json+="]}"
printf '\n(vs_gzip below 1.00x means clipfs index is faster than gzip -dc of the same bytes)\n'
printf 'JSON %s\n' "$json"
