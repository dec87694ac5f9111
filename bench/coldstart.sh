#!/bin/bash
# bench/coldstart.sh: cold start of a container from a registry, from
# nothing local to the workload's output, clipfs against a full pull and a
# lazy peer, in the same run.  See bench/COLDSTART.md.
#
#   sudo bench/coldstart.sh [--quick] [--runs N] [--rtt "0 20"]
#        [--images "small big"] [--rate-mbit 1000] [--variants "..."]
#        [--span SIZE] [--index-opts "OPTIONS for clipfs index"]
#        [--mount-opts "OPTIONS for clipfs mount"] [--base CLIPFS] [--out DIR]
#
# It builds its images offline (bench/lib.sh, cached under $BENCH_CACHE),
# starts docker-registry on 127.0.0.1 behind bench/delay_proxy.py (one-way
# delay RTT/2 per chunk, a shared token-bucket cap), pushes the images, and
# for each RTT, each run and each variant drops the page cache, measures
# the time from the first command to the workload's exit, and reads the
# bytes and requests that crossed the proxy.  bench/coldstart_report.py
# turns the raw results (DIR/raw.jsonl) into DIR/coldstart.{txt,json,png}.
#
# Variants (time measured from the first command to the workload's exit):
#   pull-pigz       skopeo copy to a dir: through the proxy, then each layer
#                   pigz -dc | tar -x with OCI whiteouts applied, chroot
#   pull-stream     every layer downloaded at once (curl), each streamed
#                   through igzip -dc | tar -x as soon as the one before
#                   it is applied (whiteouts too), digests checked, chroot
#   pull-umoci      skopeo copy to an OCI layout, umoci unpack, chroot
#   clipfs          clipfs mount (empty --cache-dir), chroot into the mount;
#                   the default mode (auto: the EROFS tree as root)
#   clipfs-prefetch the same with an index made by clipfs index --prefetch
#                   from the clipfs mount --trace of an earlier run
#   clipfs-warm     clipfs mount with the disk cache of the clipfs run kept
#   clipfs-fuse, clipfs-fuse-prefetch, clipfs-fuse-warm
#                   the same three with --mode fuse (the FUSE tree)
#   lsr-local, lsr-clipfs, lsr-clipfs-fuse
#                   the metadata workload instead: ls -lR of the whole
#                   tree (page cache dropped) in the local rootfs, and in
#                   a clipfs mount of each mode (the mount is not timed)
#   clipfs-layers   clipfs mount with a disk cache that holds every layer
#                   whole, so every layer file is written (made once per
#                   image, untimed, by a mount with a fast background
#                   fetch): in the EROFS mode no layer read reaches the
#                   daemon
#   squashfs        the flattened rootfs as one squashfs (gzip) blob in the
#                   registry, httpfs2 (over the proxy) + squashfuse_ll
#   local           the workload in an already unpacked rootfs
#   base, base-warm, base-prefetch   with --base CLIPFS: clipfs,
#                   clipfs-warm and clipfs-prefetch run by that other
#                   build (the same indexes), in the same rounds, so that
#                   the report's "against the base" ratios compare two
#                   versions interleaved on one noisy machine
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
CLIPFS=${CLIPFS:-$top/clipfs/clipfs}
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"

RUNS=3
RTTS="0 20"
IMAGES="small big"
RATE_MBIT=1000
VARIANTS="pull-pigz pull-stream pull-umoci clipfs clipfs-warm clipfs-layers clipfs-prefetch
	clipfs-fuse
	clipfs-fuse-warm clipfs-fuse-prefetch squashfs local lsr-local lsr-clipfs lsr-clipfs-fuse"
SPAN=
INDEX_OPTS=
MOUNT_OPTS=
BASE=
OUT=
usage() {
	sed -n '2,/^set -u/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^set -u/d'
	exit "${1:-2}"
}
while [ $# -gt 0 ]; do
	case $1 in
	--quick) RUNS=1 RTTS=20 IMAGES=small ;;
	--runs) RUNS=$2; shift ;;
	--rtt) RTTS=$2; shift ;;
	--images) IMAGES=$2; shift ;;
	--rate-mbit) RATE_MBIT=$2; shift ;;
	--variants) VARIANTS=$2; shift ;;
	--span) SPAN=$2; shift ;;
	--index-opts) INDEX_OPTS=$2; shift ;;
	--mount-opts) MOUNT_OPTS=$2; shift ;;
	--base) BASE=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h|--help) usage 0 ;;
	*) echo "coldstart: unknown option $1" >&2; usage ;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || { echo "coldstart: run as root (FUSE, chroot, drop_caches)" >&2; exit 2; }
[ -x "$CLIPFS" ] || { echo "coldstart: build clipfs first ($CLIPFS)" >&2; exit 2; }
if [ -n "$BASE" ]; then
	[ -x "$BASE" ] || { echo "coldstart: --base $BASE is not an executable" >&2; exit 2; }
	case " $VARIANTS " in
	*" base "*) ;;
	*) VARIANTS="$VARIANTS base base-warm base-prefetch" ;;
	esac
fi
# What it needs, from Debian's packages, installed if missing (as
# tests/quickstart.sh does).
BENCH_PACKAGES="docker-registry skopeo umoci pigz isal tar jq curl python3 squashfs-tools httpfs2
	squashfuse gnuplot-nox debootstrap util-linux coreutils"
missing=
for p in docker-registry skopeo umoci pigz igzip tar jq curl python3 mksquashfs httpfs2 \
	squashfuse_ll gnuplot debootstrap mountpoint tail sha256sum; do
	command -v "$p" >/dev/null || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "coldstart: installing what is missing ($missing)" >&2
	# shellcheck disable=SC2086  # a list of package names
	{ DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		$BENCH_PACKAGES; } </dev/null >&2 ||
		{ echo "coldstart: apt-get install failed" >&2; exit 2; }
fi
case $RUNS in ''|*[!0-9]*|0) echo "coldstart: --runs wants a positive integer" >&2; exit 2 ;; esac

declare -A WORKLOAD=(
	[small]='import json, sqlite3, email.parser, http.client, asyncio, decimal'
	[big]='import numpy, scipy.linalg, pandas'
)

OUT=${OUT:-$BENCH_CACHE/results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" "$BENCH_CACHE"
RAW=$OUT/raw.jsonl
: >"$RAW"
WORK=$(mktemp -d "$BENCH_CACHE/run.XXXXXX")
POLICY=$WORK/policy.json
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$POLICY"

# --- cleanup: only what we started and mounted -----------------------------
PIDS=()
MOUNTS=()
cleanup() {
	local i m pid
	if [ -n "${MEMCG:-}" ] && [ -d "$MEMCG" ]; then
		echo "$BASHPID" >"$MEMCG_ROOT/cgroup.procs"
		rmdir "$MEMCG" 2>/dev/null
	fi
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		mountpoint -q "$m" 2>/dev/null || continue
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '[coldstart] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_for TRIES CMD...: poll CMD every 10 ms, at most TRIES times
wait_for() {
	local n=$1
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.01; done
	return 1
}
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || log "warning: cannot drop the page cache"
}
# The registry stands for a remote one: its own storage stays warm.
warm_registry() { find "$REG_DIR/storage" -type f -name data -exec cat {} + >/dev/null; }
# Umount a mount we made; lazily if it is busy.
unmount() {
	mountpoint -q "$1" || return 0
	umount "$1" 2>/dev/null || { sleep 0.2; umount "$1" 2>/dev/null; } || umount -l "$1"
}

# --- registry and proxy -----------------------------------------------------
start_registry() {
	REG_DIR=$BENCH_CACHE/registry
	mkdir -p "$REG_DIR/storage"
	local port
	port=$(free_port)
	cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REG_DIR/storage
http:
  addr: 127.0.0.1:$port
  secret: $(openssl rand -hex 16)
EOF
	env -i PATH="$PATH" HOME="$WORK" docker-registry serve "$WORK/registry.yml" \
		>"$WORK/registry.log" 2>&1 &
	PIDS+=($!)
	REGISTRY=127.0.0.1:$port
	wait_for 500 curl -sf -o /dev/null "http://$REGISTRY/v2/" ||
		{ cat "$WORK/registry.log" >&2; die "docker-registry did not start"; }
	log "registry at $REGISTRY (storage $REG_DIR/storage)"
}

start_proxy() {
	python3 "$top/bench/delay_proxy.py" --upstream "$REGISTRY" --rtt-ms 0 \
		--rate-mbit "$RATE_MBIT" --port-file "$WORK/proxy.ports" 2>"$WORK/proxy.log" &
	PIDS+=($!)
	wait_for 500 test -s "$WORK/proxy.ports" || die "delay_proxy did not start"
	read -r PROXY_PORT PROXY_CTL <"$WORK/proxy.ports"
	PROXY=127.0.0.1:$PROXY_PORT
	log "proxy at $PROXY -> $REGISTRY (control port $PROXY_CTL)"
}
proxy_cmd() {
	python3 - "$PROXY_CTL" "$*" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())
PY
}

# --- per image preparation (not timed) ---------------------------------------
layout_of() {
	case $1 in
	small) bench_small_image ;;
	big) bench_big_image ;;
	esac
}
image_layers() { bench_layers "${LAYOUT[$1]}" "$1"; }

# apply_layer DEST: the layer's tar on stdin extracted into DEST, then its
# OCI whiteouts applied (from tar's own member list: one pass)
apply_layer() {
	tar -xpv --numeric-owner --quoting-style=literal -C "$1" >"$WORK/names" || return 1
	python3 "$top/bench/apply_whiteouts.py" "$1" "$WORK/names" 2>/dev/null
}
# unpack_layers DEST BLOB...: the pigz | tar -x + whiteouts unpack
unpack_layers() {
	local dest=$1 b
	shift
	mkdir -p "$dest"
	for b in "$@"; do
		pigz -dc "$b" | apply_layer "$dest" || return 1
	done
}

declare -A LAYOUT SQFS_URL
prepare_image() {
	local img=$1 layout blobs b sq digest loc size
	layout=$(layout_of "$img") || die "building image $img failed"
	LAYOUT[$img]=$layout
	mapfile -t blobs < <(image_layers "$img")
	size=0
	for b in "${blobs[@]}"; do size=$((size + $(stat -c %s "$b"))); done
	log "$img: ${#blobs[@]} layers, $size bytes compressed; pushing to the registry"
	skopeo --policy "$POLICY" copy --quiet --dest-tls-verify=false \
		"oci:$layout:$img" "docker://$REGISTRY/$img:latest" || die "push of $img failed"

	# The local rootfs (the "local" row, and the source of the squashfs).
	if [ ! -f "$BENCH_CACHE/rootfs-$img.done" ]; then
		log "$img: unpacking a local rootfs"
		rm -rf "$BENCH_CACHE/rootfs-$img"
		unpack_layers "$BENCH_CACHE/rootfs-$img" "${blobs[@]}" || die "unpack of $img failed"
		touch "$BENCH_CACHE/rootfs-$img.done"
	fi
	sq=$BENCH_CACHE/$img.sqfs
	if [ ! -f "$sq.done" ]; then
		log "$img: mksquashfs (gzip)"
		mksquashfs "$BENCH_CACHE/rootfs-$img" "$sq" -comp gzip -noappend -quiet \
			-no-progress >/dev/null || die "mksquashfs failed"
		touch "$sq.done"
	fi
	digest=sha256:$(sha256sum "$sq" | cut -d' ' -f1)
	if ! curl -sf -o /dev/null -I "http://$REGISTRY/v2/$img-sqfs/blobs/$digest"; then
		log "$img: pushing the squashfs ($(stat -c %s "$sq") bytes) as a blob"
		loc=$(curl -sf -D - -o /dev/null -X POST "http://$REGISTRY/v2/$img-sqfs/blobs/uploads/" |
			tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
		case $loc in /*) loc=http://$REGISTRY$loc ;; esac
		case $loc in *\?*) loc="$loc&digest=$digest" ;; *) loc="$loc?digest=$digest" ;; esac
		curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
			--data-binary "@$sq" "$loc" || die "squashfs blob upload failed"
	fi
	SQFS_URL[$img]=http://$PROXY/v2/$img-sqfs/blobs/$digest

	# The indexes (clipfs index is done beforehand; not timed).
	"$CLIPFS" index -q ${SPAN:+--span "$SPAN"} $INDEX_OPTS "oci:$layout:$img" --storage-ref "$PROXY/$img" --plain-http \
		-o "$WORK/$img.clip" || die "clipfs index of $img failed"
	# The prefetch list: what one earlier run of the workload read.
	proxy_cmd set 0 "$RATE_MBIT" >/dev/null
	mkdir -p "$WORK/mnt" "$WORK/trace-cache"
	MOUNTS+=("$WORK/mnt")
	"$CLIPFS" mount $MOUNT_OPTS --cache-dir "$WORK/trace-cache" --trace "$WORK/$img.trace" \
		"$WORK/$img.clip" "$WORK/mnt" || die "clipfs mount (trace) failed"
	chroot "$WORK/mnt" /usr/bin/python3 -c "${WORKLOAD[$img]}" ||
		die "the $img workload failed in the clipfs mount"
	"$CLIPFS" umount "$WORK/mnt" || die "clipfs umount failed"
	rm -rf "$WORK/trace-cache"
	# Indexed again with the list: it is stored, and its files get
	# checkpoints around them, so that prefetching fetches little else.
	"$CLIPFS" index -q ${SPAN:+--span "$SPAN"} $INDEX_OPTS "oci:$layout:$img" --storage-ref "$PROXY/$img" --plain-http \
		--prefetch "$WORK/$img.trace" -o "$WORK/$img-pf.clip" 2>/dev/null ||
		die "clipfs index --prefetch of $img failed"
	log "$img: index $(stat -c %s "$WORK/$img.clip") bytes, with a prefetch list of" \
		"$(wc -l <"$WORK/$img.trace") entries $(stat -c %s "$WORK/$img-pf.clip") bytes"
	printf '{"type":"image","image":"%s","layers":%d,"compressed_bytes":%d,"squashfs_bytes":%d,"index_bytes":%d,"prefetch_index_bytes":%d,"prefetch_entries":%d,"workload":"%s"}\n' \
		"$img" "${#blobs[@]}" "$size" "$(stat -c %s "$sq")" "$(stat -c %s "$WORK/$img.clip")" \
		"$(stat -c %s "$WORK/$img-pf.clip")" "$(wc -l <"$WORK/$img.trace")" "${WORKLOAD[$img]}" \
		>>"$RAW"
}

# --- the variants ---------------------------------------------------------------
# Each sets T0/T1 around the timed part and may set EXTRA (JSON members).
# Everything before T0 and after T1 is untimed preparation and cleanup.
run_workload() { chroot "$1" /usr/bin/python3 -c "${WORKLOAD[$2]}"; }

v_pull_pigz() {
	local img=$1 d=$WORK/pull b
	rm -rf "$d"
	mkdir -p "$d"
	T0=$EPOCHREALTIME
	skopeo --policy "$POLICY" copy --quiet --src-tls-verify=false \
		"docker://$PROXY/$img:latest" "dir:$d/img" || return 1
	mark copy
	local blobs=()
	for b in $(jq -r '.layers[].digest' "$d/img/manifest.json"); do blobs+=("$d/img/${b#sha256:}"); done
	unpack_layers "$d/rootfs" "${blobs[@]}" || return 1
	mark unpack
	run_workload "$d/rootfs" "$img" || return 1
	T1=$EPOCHREALTIME
	mark workload
	rm -rf "$d"
}

# The fastest plain pull this machine allows: all layers download at once
# (one connection each, as containerd does); each layer is inflated and
# applied while it downloads, as soon as the layer before it is applied,
# by following its growing file (tail -f stops when its curl exits).
# igzip inflates ~3x faster than pigz here (RIG.md).  The digest of every
# layer is checked, as a pull must, from a tee of the same stream.
v_pull_stream() {
	local img=$1 d=$WORK/pull i digests=() pids=() accept
	accept='application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'
	rm -rf "$d"
	mkdir -p "$d/rootfs"
	T0=$EPOCHREALTIME
	curl -sf -H "Accept: $accept" -o "$d/manifest.json" \
		"http://$PROXY/v2/$img/manifests/latest" || return 1
	mapfile -t digests < <(jq -r '.layers[].digest' "$d/manifest.json")
	[ ${#digests[@]} -gt 0 ] || return 1
	for i in "${!digests[@]}"; do
		: >"$d/$i.gz"
		curl -sf -o "$d/$i.gz" "http://$PROXY/v2/$img/blobs/${digests[i]}" &
		pids+=($!)
	done
	mark manifest
	for i in "${!digests[@]}"; do
		tail -c +1 -s 0.01 --pid="${pids[i]}" -f "$d/$i.gz" |
			tee >(sha256sum | cut -d' ' -f1 >"$d/$i.sum") | igzip -dc |
			apply_layer "$d/rootfs" || return 1
		wait "${pids[i]}" || return 1
	done
	for i in "${!digests[@]}"; do
		# the sums are written by process substitutions: wait for each
		wait_for 500 test -s "$d/$i.sum" || return 1
		[ "sha256:$(cat "$d/$i.sum")" = "${digests[i]}" ] ||
			{ echo "layer $i: digest mismatch" >&2; return 1; }
	done
	mark pull
	run_workload "$d/rootfs" "$img" || return 1
	T1=$EPOCHREALTIME
	mark workload
	rm -rf "$d"
}

v_pull_umoci() {
	local img=$1 d=$WORK/pull
	rm -rf "$d"
	mkdir -p "$d"
	T0=$EPOCHREALTIME
	skopeo --policy "$POLICY" copy --quiet --src-tls-verify=false \
		"docker://$PROXY/$img:latest" "oci:$d/layout:latest" || return 1
	mark copy
	umoci unpack --image "$d/layout:latest" "$d/bundle" >/dev/null || return 1
	mark unpack
	run_workload "$d/bundle/rootfs" "$img" || return 1
	T1=$EPOCHREALTIME
	mark workload
	rm -rf "$d"
}

# clipfs_run IMG INDEX CACHE_DIR [MOUNT OPTION...]: mount, workload,
# stats, umount (with the build in $BIN: $CLIPFS, or --base's)
BIN=$CLIPFS
clipfs_run() {
	local img=$1 idx=$2 cache=$3 mnt=$WORK/mnt
	shift 3
	mkdir -p "$mnt"
	T0=$EPOCHREALTIME
	"$BIN" mount $MOUNT_OPTS "$@" --cache-dir "$cache" "$idx" "$mnt" || return 1
	mark mount
	run_workload "$mnt" "$img" || { "$BIN" umount "$mnt"; return 1; }
	T1=$EPOCHREALTIME
	mark workload
	PROXY_AT_T1=$(proxy_cmd stats)
	EXTRA="\"clipfs\":$("$BIN" stats --json "$mnt" | jq -c .)"
	"$BIN" umount "$mnt" || return 1
}
# clipfs_cold IMG INDEX CACHE [MOUNT OPTION...]: with an empty disk cache
# $WORK/CACHE (which the warm variant of the same round then reuses)
clipfs_cold() {
	local img=$1 idx=$2 cache=$WORK/$3
	shift 3
	rm -rf "$cache"
	mkdir -p "$cache"
	clipfs_run "$img" "$WORK/$idx" "$cache" "$@"
}
# clipfs_warm IMG INDEX CACHE [MOUNT OPTION...]: with the disk cache the
# cold variant left (filled first, untimed, if it did not run)
clipfs_warm() {
	local img=$1 idx=$2 cache=$WORK/$3
	shift 3
	if [ ! -d "$cache" ]; then
		mkdir -p "$cache"
		clipfs_run "$img" "$WORK/$idx" "$cache" "$@" || return 1
		# Out of the variant's memory cgroup: warming the registry
		# would charge its blobs to it.
		memcg_leave
		drop_caches
		warm_registry
		proxy_cmd reset >/dev/null
		MARKS=() EXTRA=''
		memcg_enter
	fi
	clipfs_run "$img" "$WORK/$idx" "$cache" "$@"
}
v_clipfs() { clipfs_cold "$1" "$1.clip" cache-cold; }
v_clipfs_warm() { clipfs_warm "$1" "$1.clip" cache-cold; }
v_clipfs_prefetch() { clipfs_cold "$1" "$1-pf.clip" cache-pf; }
v_clipfs_fuse() { clipfs_cold "$1" "$1.clip" cache-fuse --mode fuse; }
v_clipfs_fuse_warm() { clipfs_warm "$1" "$1.clip" cache-fuse --mode fuse; }
v_clipfs_fuse_prefetch() { clipfs_cold "$1" "$1-pf.clip" cache-fuse-pf --mode fuse; }
# The cache of clipfs-layers: every layer fetched and its layer file
# written, once per image (untimed; 10 minutes at most).
fill_layer_files() {
	local img=$1 cache=$WORK/cache-layers-$1 mnt=$WORK/mnt n want
	want=$("$CLIPFS" inspect --json "$WORK/$img.clip" | jq '.layers | length')
	n=$(find "$cache/layers" -name 'sha256-*' 2>/dev/null | wc -l)
	[ "$n" -ge "$want" ] && return 0
	mkdir -p "$cache" "$mnt"
	"$CLIPFS" mount --cache-size 64G --background-fetch=4G --cache-dir "$cache" \
		"$WORK/$img.clip" "$mnt" || return 1
	for _ in $(seq 1 6000); do
		n=$("$CLIPFS" stats --json "$mnt" | jq '.layer_files.written + .layer_files.errors')
		[ "$n" -ge "$want" ] && break
		sleep 0.1
	done
	"$CLIPFS" umount "$mnt" || return 1
	n=$(find "$cache/layers" -name 'sha256-*' | wc -l)
	[ "$n" -ge "$want" ] || { echo "only $n of $want layer files written" >&2; return 1; }
	drop_caches
	warm_registry
	proxy_cmd reset >/dev/null
}
v_clipfs_layers() {
	fill_layer_files "$1" || return 1
	clipfs_run "$1" "$WORK/$1.clip" "$WORK/cache-layers-$1"
}
# The same three with the --base build; its own disk cache.
v_base() { BIN=$BASE clipfs_cold "$1" "$1.clip" cache-base; }
v_base_warm() { BIN=$BASE clipfs_warm "$1" "$1.clip" cache-base; }
v_base_prefetch() { BIN=$BASE clipfs_cold "$1" "$1-pf.clip" cache-base-pf; }

# The metadata workload: ls -lR of the whole tree, page cache dropped.
# In a clipfs mount the mount (and, in the EROFS mode, building the
# image) is not timed: the cold rows time it.
run_lsr() {
	T0=$EPOCHREALTIME
	ls -lR "$1" >/dev/null || return 1
	T1=$EPOCHREALTIME
	mark ls
}
v_lsr_local() { run_lsr "$BENCH_CACHE/rootfs-$1"; }
# lsr_clipfs IMG [MOUNT OPTION...]
lsr_clipfs() {
	local img=$1 mnt=$WORK/mnt
	shift
	rm -rf "$WORK/cache-lsr"
	mkdir -p "$mnt" "$WORK/cache-lsr"
	"$CLIPFS" mount $MOUNT_OPTS "$@" --cache-dir "$WORK/cache-lsr" "$WORK/$img.clip" "$mnt" ||
		return 1
	drop_caches
	run_lsr "$mnt" || { "$CLIPFS" umount "$mnt"; return 1; }
	PROXY_AT_T1=$(proxy_cmd stats)
	EXTRA="\"clipfs\":$("$CLIPFS" stats --json "$mnt" | jq -c .)"
	"$CLIPFS" umount "$mnt"
}
v_lsr_clipfs() { lsr_clipfs "$1"; }
v_lsr_clipfs_fuse() { lsr_clipfs "$1" --mode fuse; }

v_squashfs() {
	local img=$1 h=$WORK/httpfs s=$WORK/sqmnt url=${SQFS_URL[$1]} pid
	mkdir -p "$h" "$s"
	T0=$EPOCHREALTIME
	httpfs2 -f -c /dev/null "$url" "$h" 2>/dev/null &
	pid=$!
	PIDS+=("$pid")
	wait_for 3000 test -e "$h/${url##*/}" || { kill "$pid"; return 1; }
	mark httpfs2
	squashfuse_ll "$h/${url##*/}" "$s" || { unmount "$h"; return 1; }
	mark squashfuse
	run_workload "$s" "$img" || { unmount "$s"; unmount "$h"; return 1; }
	T1=$EPOCHREALTIME
	mark workload
	unmount "$s"
	unmount "$h"
	wait "$pid" 2>/dev/null
}

v_local() {
	T0=$EPOCHREALTIME
	run_workload "$BENCH_CACHE/rootfs-$1" "$1" || return 1
	T1=$EPOCHREALTIME
	mark workload
}

# mark NAME: the phase NAME ended now (phases are reported in seconds)
# mark PHASE: the end of a phase.  The workload's end also samples the
# page cache, before the variant tears down what it built (an umount
# drops the tree's pages, rm -rf a pulled rootfs's).
mark() {
	MARKS+=("$1 $EPOCHREALTIME")
	case $1 in workload | ls) memcg_sample ;; esac
}
phases_json() {
	local prev=$T0 m name t out=
	for m in "${MARKS[@]}"; do
		read -r name t <<<"$m"
		out+=${out:+,}$(awk -v n="$name" -v a="$prev" -v b="$t" 'BEGIN { printf "\"%s\":%.3f", n, b - a }')
		prev=$t
	done
	printf '"phases":{%s}' "$out"
}

# round_order RUN: the variants of round RUN; with --base, every other
# round runs the base build's variants first, so that neither build
# always goes first after the caches are dropped.
round_order() {
	local v mine=() base=()
	for v in $VARIANTS; do
		case $v in base*) base+=("$v") ;; *) mine+=("$v") ;; esac
	done
	if [ $(($1 % 2)) -eq 0 ] && [ ${#base[@]} -gt 0 ]; then
		echo "${base[@]}" "${mine[@]}"
	else
		echo "${mine[@]}" "${base[@]}"
	fi
}

# The page cache a variant leaves (its clipfs daemon's included) is
# charged to a memory cgroup (v1) of its own that the variant runs in.
MEMCG_ROOT=/sys/fs/cgroup/memory
memcg_enter() {
	MEMCG=
	[ -f "$MEMCG_ROOT/cgroup.procs" ] || return 0
	MEMCG=$MEMCG_ROOT/clipfs-bench-$$
	mkdir -p "$MEMCG" && echo "$BASHPID" >"$MEMCG/cgroup.procs" || MEMCG=
}
# memcg_sample: the page cache charged so far, into CACHED_AT_END
memcg_sample() {
	[ -n "$MEMCG" ] || return 0
	CACHED_AT_END=$(awk '$1 == "cache" { print $2 }' "$MEMCG/memory.stat")
}
# memcg_leave: back to the root cgroup, with the page cache bytes at the
# workload's end in CACHED, and what the variant left in CACHED_LEFT
# (not a $(...): a subshell would move only itself)
memcg_leave() {
	CACHED=$CACHED_AT_END CACHED_LEFT=
	CACHED_AT_END=
	[ -n "$MEMCG" ] || return 0
	echo "$BASHPID" >"$MEMCG_ROOT/cgroup.procs"
	CACHED_LEFT=$(awk '$1 == "cache" { print $2 }' "$MEMCG/memory.stat")
	rmdir "$MEMCG" 2>/dev/null
	MEMCG=
}

run_variant() {
	local img=$1 rtt=$2 run=$3 v=$4 fn secs proxy rc=0
	fn=v_${v//-/_}
	EXTRA='' PROXY_AT_T1='' MARKS=()
	drop_caches
	warm_registry
	proxy_cmd reset >/dev/null
	memcg_enter
	"$fn" "$img" >"$WORK/variant.out" 2>&1 || rc=1
	memcg_leave
	if [ "$rc" -ne 0 ]; then
		log "$img rtt=$rtt run $run $v FAILED:"
		tail -n 5 "$WORK/variant.out" >&2
		printf '{"type":"result","image":"%s","rtt_ms":%s,"run":%d,"variant":"%s","ok":false}\n' \
			"$img" "$rtt" "$run" "$v" >>"$RAW"
		return 0
	fi
	proxy=${PROXY_AT_T1:-$(proxy_cmd stats)}
	secs=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f", b - a }')
	printf '{"type":"result","image":"%s","rtt_ms":%s,"run":%d,"variant":"%s","ok":true,"seconds":%s,"proxy":%s,%s%s%s}\n' \
		"$img" "$rtt" "$run" "$v" "$secs" "$proxy" "$(phases_json)" \
		"${CACHED:+,\"page_cache_bytes\":$CACHED}${CACHED_LEFT:+,\"page_cache_left_bytes\":$CACHED_LEFT}" \
		"${EXTRA:+,$EXTRA}" >>"$RAW"
	log "$img rtt=${rtt}ms run $run $(printf '%-16s' "$v") $secs s," \
		"$(jq -r '"\(.bytes_down) B, \(.requests) requests"' <<<"$proxy")"
}

# --- main ------------------------------------------------------------------------
MOUNTS+=("$WORK/mnt" "$WORK/httpfs" "$WORK/sqmnt")
start_registry
start_proxy
printf '{"type":"meta","date":"%s","runs":%d,"rtts_ms":[%s],"rate_mbit":%s,"host":"%s","nproc":%d,"clipfs":"%s","span":"%s"}\n' \
	"$(date -Is)" "$RUNS" "$(echo "$RTTS" | tr -s ' ' ',')" "$RATE_MBIT" "$(uname -r)" \
	"$(nproc)" "$(cd "$top" && git describe --always --dirty 2>/dev/null)" "${SPAN:-default}" >>"$RAW"
[ -z "$BASE" ] || printf '{"type":"base","clipfs":"%s"}\n' "$("$BASE" --version 2>/dev/null | head -n 1) ($BASE)" >>"$RAW"
for img in $IMAGES; do
	[ -n "${WORKLOAD[$img]:-}" ] || die "unknown image $img (small, big)"
	prepare_image "$img"
done
for rtt in $RTTS; do
	proxy_cmd set "$rtt" "$RATE_MBIT" >/dev/null
	for img in $IMAGES; do
		for run in $(seq "$RUNS"); do
			rm -rf "$WORK/cache-cold" "$WORK/cache-fuse" "$WORK/cache-base"
			for v in $(round_order "$run"); do
				run_variant "$img" "$rtt" "$run" "$v"
			done
		done
	done
done
python3 "$top/bench/coldstart_report.py" "$RAW" "$OUT"
log "results in $OUT"
