#!/bin/bash
# tests/install-erofs-utils.sh: builds erofs-utils from Debian 13's source
# package (1.8.6 when written) into /opt/erofs (mkfs.erofs, fsck.erofs, dump.erofs), for the
# tests that check clipfs's EROFS images (tests/erofs.test).  Debian 12's
# own erofs-utils (1.5) cannot handle 512-byte blocks; trixie's binaries
# need a newer libc, but its source builds here.  The system's binary
# packages stay Debian 12: trixie is added as a deb-src entry only, in a
# separate sources directory that only the "apt-get source" call reads.
# Idempotent: does nothing when /opt/erofs/bin/fsck.erofs is >= 1.7.
# Must run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PREFIX=${EROFS_PREFIX:-/opt/erofs}   # EROFS_PREFIX: elsewhere, for trying the script

have_new_enough() {
	local v
	[ -x "$PREFIX/bin/fsck.erofs" ] || return 1
	v=$("$PREFIX/bin/fsck.erofs" --version 2>&1 | grep -o '[0-9][0-9.]*' | head -n1) || return 1
	dpkg --compare-versions "$v" ge 1.7
}

if have_new_enough; then
	echo "install-erofs-utils.sh: $PREFIX/bin/fsck.erofs is new enough"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-erofs-utils.sh: must run as root (apt-get)" >&2
	exit 2
fi

# The mirror the machine already uses (first URIs line of debian.sources,
# or of sources.list when there is no deb822 file).
mirror_uri() {
	local f=/etc/apt/sources.list.d/debian.sources
	if [ -r "$f" ]; then
		awk '/^URIs:/ { print $2; exit }' "$f"
	else
		awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit }' /etc/apt/sources.list
	fi
}
uri=$(mirror_uri)
[ -n "$uri" ] || { echo "install-erofs-utils.sh: no Debian mirror found" >&2; exit 1; }

apt-get update </dev/null
apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 \
	build-essential autoconf automake \
	libtool pkg-config uuid-dev liblz4-dev dpkg-dev </dev/null

work=$(mktemp -d /tmp/erofs-utils.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt's _apt user downloads into it
# A private apt configuration whose only source list is trixie's deb-src,
# with its own lists and cache: apt-get source reads it, nothing else on
# the system does, and the system's own lists and caches stay as they are.
mkdir -p "$work/apt/sources.list.d" "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
cat >"$work/apt/sources.list.d/trixie-src.sources" <<SRC
Types: deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
: >"$work/apt/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$work/apt/sources.list"
	-o "Dir::Etc::SourceParts=$work/apt/sources.list.d"
	-o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
	-o "Debug::NoLocking=1")
apt-get "${APT_OPTS[@]}" update </dev/null
(cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only erofs-utils </dev/null)
dsc=$(ls "$work"/erofs-utils_*.dsc | head -n1)
(cd "$work" && dpkg-source -x "$dsc" src >/dev/null)
cd "$work/src"
./autogen.sh >/dev/null
./configure --prefix="$PREFIX" --disable-fuse --without-selinux \
	--without-libzstd --without-qpl --without-xxhash --without-libdeflate >/dev/null
make -j2 >/dev/null
make install >/dev/null
have_new_enough || { echo "install-erofs-utils.sh: $PREFIX/bin/fsck.erofs did not build" >&2; exit 1; }
"$PREFIX/bin/fsck.erofs" --version
