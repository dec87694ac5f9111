# bench/lib.sh: builds the benchmark images offline (Debian packages only).
# shellcheck shell=bash
# Sourced by the bench scripts. Everything lands under $BENCH_CACHE
# (default /var/tmp/clipfs-bench) and is reused on the next run.
#
#   bench_small_image   prints the OCI layout path holding tag "small":
#                       debootstrap minbase (layer 1), python3 added
#                       (layer 2), /usr/share/doc removed (whiteout layer 3).
#                       No layer carries apt's lists or caches.
#   bench_big_image     see below (tag "big", its own layout).
set -u
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/clipfs-bench}
BENCH_MIRROR=${BENCH_MIRROR:-http://deb.debian.org/debian}

bench_log() { printf '[bench] %s\n' "$*" >&2; }

_bench_need() {
	local p missing=()
	for p in "$@"; do command -v "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	bench_log "installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap umoci pigz isal skopeo \
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

# _bench_strip_apt ROOT: remove what apt leaves behind (package lists,
# pkgcache.bin/srcpkgcache.bin, downloaded .debs), keeping the directories,
# so that no layer carries ~40 MB of apt state a container never reads.
_bench_strip_apt() {
	local root=$1
	find "$root/var/lib/apt/lists" -type f -delete 2>/dev/null
	rm -f "$root"/var/cache/apt/*.bin
	find "$root/var/cache/apt/archives" -type f -name '*.deb' -delete 2>/dev/null
	return 0
}

# _bench_apt_layer ROOT [--recommends] PKG...: apt-get install PKG... in the
# chroot ROOT, with the package lists debootstrap fetched copied in for the
# duration and the .debs kept in $BENCH_CACHE/debs (so a rebuild downloads
# nothing), then strip apt's state again.
_bench_apt_layer() {
	local root=$1 rec=--no-install-recommends rc
	shift
	if [ "${1:-}" = --recommends ]; then rec=; shift; fi
	mkdir -p "$BENCH_CACHE/debs/partial"
	cp -a "$BENCH_CACHE/base/var/lib/apt/lists/." "$root/var/lib/apt/lists/"
	mount --bind "$BENCH_CACHE/debs" "$root/var/cache/apt/archives"
	# shellcheck disable=SC2086  # $rec is empty or one flag
	_bench_chroot_run "$root" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq $rec "$@" >>"$BENCH_CACHE/apt.log" 2>&1
	rc=$?
	umount "$root/var/cache/apt/archives"
	_bench_strip_apt "$root"
	[ $rc -eq 0 ] || bench_log "apt-get install $* failed (see $BENCH_CACHE/apt.log)"
	return $rc
}

_bench_debootstrap() {
	[ -f "$BENCH_CACHE/base/.done" ] && return 0
	mkdir -p "$BENCH_CACHE"
	bench_log "debootstrap minbase bookworm (about a minute)"
	rm -rf "$BENCH_CACHE/base"
	debootstrap --variant=minbase bookworm "$BENCH_CACHE/base" "$BENCH_MIRROR" \
		>"$BENCH_CACHE/debootstrap.log" 2>&1 || { bench_log "debootstrap failed"; return 1; }
	touch "$BENCH_CACHE/base/.done"
}

bench_small_image() {
	local layout=$BENCH_CACHE/layout bundle=$BENCH_CACHE/bundle-small
	_bench_need debootstrap umoci
	if [ -f "$layout/.small-v2-done" ]; then
		printf '%s\n' "$layout"
		return 0
	fi
	_bench_debootstrap || return 1
	rm -rf "$layout" "$bundle"
	umoci init --layout "$layout" && umoci new --image "$layout:small" &&
	umoci unpack --image "$layout:small" "$bundle" >/dev/null || return 1
	bench_log "layer 1: the minbase rootfs (apt lists and caches removed)"
	cp -a "$BENCH_CACHE/base/." "$bundle/rootfs/" && rm -f "$bundle/rootfs/.done"
	_bench_strip_apt "$bundle/rootfs"
	umoci repack --refresh-bundle --image "$layout:small" "$bundle" || return 1
	bench_log "layer 2: python3"
	_bench_apt_layer "$bundle/rootfs" python3 || return 1
	umoci repack --refresh-bundle --image "$layout:small" "$bundle" || return 1
	bench_log "layer 3: whiteouts (/usr/share/doc removed)"
	rm -rf "$bundle/rootfs/usr/share/doc"
	umoci repack --refresh-bundle --image "$layout:small" "$bundle" || return 1
	umoci config --image "$layout:small" --config.cmd python3 >/dev/null || return 1
	umoci gc --layout "$layout"
	rm -rf "$bundle"
	touch "$layout/.small-v2-done"
	printf '%s\n' "$layout"
}

#   bench_big_image     prints the OCI layout path holding tag "big": the
#                       three layers of "small" (same blobs), then a
#                       scientific Python layer (numpy, scipy, pandas,
#                       matplotlib) and a compiler toolchain layer (gcc,
#                       g++, llvm, clang, with recommends) that the
#                       benchmark's workload never reads.
bench_big_image() {
	local small layout=$BENCH_CACHE/layout-big bundle=$BENCH_CACHE/bundle-big
	local policy=$BENCH_CACHE/skopeo-policy.json
	small=$(bench_small_image) || return 1
	if [ -f "$layout/.big-done" ]; then
		printf '%s\n' "$layout"
		return 0
	fi
	rm -rf "$layout" "$bundle"
	echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$policy"
	skopeo --policy "$policy" copy --quiet "oci:$small:small" "oci:$layout:big" &&
	umoci unpack --image "$layout:big" "$bundle" >/dev/null || return 1
	bench_log "big layer 4: python3-numpy python3-scipy python3-pandas python3-matplotlib"
	_bench_apt_layer "$bundle/rootfs" python3-numpy python3-scipy python3-pandas \
		python3-matplotlib || return 1
	umoci repack --refresh-bundle --image "$layout:big" "$bundle" || return 1
	bench_log "big layer 5: gcc g++ llvm clang (with recommends)"
	_bench_apt_layer "$bundle/rootfs" --recommends gcc g++ llvm clang || return 1
	umoci repack --refresh-bundle --image "$layout:big" "$bundle" || return 1
	umoci config --image "$layout:big" --config.cmd python3 >/dev/null || return 1
	umoci gc --layout "$layout"
	rm -rf "$bundle"
	touch "$layout/.big-done"
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
