#!/bin/bash
# tests/quickstart.sh: the README's first command. On a fresh Debian 12
# machine, as root: installs what clipfs needs, builds it, and runs the
# main job on a built-in example: start a local registry, push a small
# sample image, index it, mount it, read a file from it, show the mount's
# counters, unmount. Everything it starts is stopped on exit.
set -eu   # not pipefail: the rig pipes into head
cd "$(dirname "$0")/.."
top=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

if [ "${1:-}" != "--no-install" ]; then
	say "Installing the Debian packages clipfs needs (tests/install-deps.sh)"
	bash tests/install-deps.sh >/dev/null
fi
say "Building"
{ autoreconf -fi && ./configure && make -j2; } >/tmp/clipfs-quickstart-build.log 2>&1 ||
	{ tail -30 /tmp/clipfs-quickstart-build.log; exit 1; }
CLIPFS=$top/clipfs/clipfs

# The test rig: a real docker-registry on 127.0.0.1, torn down on exit.
# shellcheck source=tests/lib/registry.sh
. tests/lib/registry.sh
# shellcheck source=tests/lib/images.sh
. tests/lib/images.sh
harness_init
mnt=$HARNESS_TMP/mnt
cleanup() {
	local rc=$?
	mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt"
	(exit "$rc")   # _harness_cleanup reads the status from $?
	_harness_cleanup
}
trap cleanup EXIT

say "Starting a local registry and pushing a sample image"
registry_start plain >/dev/null
image_basic "$HARNESS_TMP/layout" demo
push_oci "$HARNESS_TMP/layout:demo" demo/basic:v1 >/dev/null
echo "pushed $REGISTRY/demo/basic:v1"

say "Indexing it (one pass over each layer; no file data goes into the index)"
run "$CLIPFS" index --plain-http "$REGISTRY/demo/basic:v1" -o "$HARNESS_TMP/basic.clip"
run "$CLIPFS" inspect "$HARNESS_TMP/basic.clip"
run "$CLIPFS" ls -R "$HARNESS_TMP/basic.clip" /etc

say "Mounting it: metadata from the index, data fetched lazily with HTTP Range"
mkdir -p "$mnt"
run "$CLIPFS" mount --no-disk-cache "$HARNESS_TMP/basic.clip" "$mnt"
run ls -l "$mnt/etc" "$mnt/usr/bin"
run cat "$mnt/etc/motd"
run sha256sum "$mnt/usr/bin/tool"

say "What the mount fetched to serve that"
run "$CLIPFS" stats "$mnt"

say "Unmounting"
run "$CLIPFS" umount "$mnt"
echo "done"
