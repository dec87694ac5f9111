# bench/lib.sh: builds the benchmark images offline (Debian packages only).
# shellcheck shell=bash
# Sourced by the bench scripts. Everything lands under $BENCH_CACHE
# (default /var/tmp/clipfs-bench) and is reused on the next run.
#
#   bench_small_image   prints the OCI layout path holding tag "small":
#                       debootstrap minbase (layer 1), python3 added
#                       (layer 2), /usr/share/doc removed (whiteout layer 3).
set -u
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/clipfs-bench}
BENCH_MIRROR=${BENCH_MIRROR:-http://deb.debian.org/debian}

bench_log() { printf '[bench] %s\n' "$*" >&2; }

_bench_need() {
	local p missing=()
	for p in "$@"; do command -v "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	bench_log "installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap umoci pigz isal \
		>/dev/null </dev/null
}

# _bench_chroot_run ROOT CMD...: run in a chroot with /proc and /dev.
_bench_chroot_run() {
	local root=$1; shift
	mount -t proc proc "$root/proc"
	mount --bind /dev "$root/dev"
	chroot "$root" "$@"
	local rc=$?
	umount "$root/dev" "$root/proc"
	return $rc
}

bench_small_image() {
	local layout=$BENCH_CACHE/layout bundle=$BENCH_CACHE/bundle-small
	_bench_need debootstrap umoci
	if [ -f "$layout/.small-done" ]; then
		printf '%s\n' "$layout"
		return 0
	fi
	mkdir -p "$BENCH_CACHE"
	if [ ! -f "$BENCH_CACHE/base/.done" ]; then
		bench_log "debootstrap minbase bookworm (about a minute)"
		rm -rf "$BENCH_CACHE/base"
		debootstrap --variant=minbase bookworm "$BENCH_CACHE/base" "$BENCH_MIRROR" \
			>"$BENCH_CACHE/debootstrap.log" 2>&1 || { bench_log "debootstrap failed"; return 1; }
		touch "$BENCH_CACHE/base/.done"
	fi
	rm -rf "$layout" "$bundle"
	umoci init --layout "$layout" && umoci new --image "$layout:small" &&
	umoci unpack --image "$layout:small" "$bundle" >/dev/null || return 1
	bench_log "layer 1: the minbase rootfs"
	cp -a "$BENCH_CACHE/base/." "$bundle/rootfs/" && rm -f "$bundle/rootfs/.done"
	umoci repack --refresh-bundle --image "$layout:small" "$bundle" || return 1
	bench_log "layer 2: python3"
	_bench_chroot_run "$bundle/rootfs" sh -c \
		'apt-get install -y -qq --no-install-recommends python3 >/dev/null && apt-get clean' ||
		return 1
	umoci repack --refresh-bundle --image "$layout:small" "$bundle" || return 1
	bench_log "layer 3: whiteouts (/usr/share/doc removed)"
	rm -rf "$bundle/rootfs/usr/share/doc"
	umoci repack --refresh-bundle --image "$layout:small" "$bundle" || return 1
	umoci config --image "$layout:small" --config.cmd python3 >/dev/null || return 1
	umoci gc --layout "$layout"
	rm -rf "$bundle"
	touch "$layout/.small-done"
	printf '%s\n' "$layout"
}

# bench_layers LAYOUT TAG: prints the blob paths of the image's layers.
bench_layers() {
	python3 - "$1" "$2" <<'PY'
import json, sys, os
layout, tag = sys.argv[1], sys.argv[2]
def blob(d):
    return os.path.join(layout, "blobs", *d.split(":"))
idx = json.load(open(os.path.join(layout, "index.json")))
m = [m for m in idx["manifests"]
     if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
man = json.load(open(blob(m["digest"])))
for l in man["layers"]:
    print(blob(l["digest"]))
PY
}
