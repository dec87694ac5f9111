#!/bin/bash
# make-seeds.sh BUILDDIR - regenerates the generated part of the seed
# corpora in tests/fuzz/corpus/ (the hand-written JSON, header and
# reference seeds are committed as they are).  Needs a built tree (mkzoo,
# clipfs), umoci, GNU tar, gzip and python3.  Review the diff before
# committing: index and tar seeds should stay small.
set -eu
build=$(cd "${1:?usage: make-seeds.sh BUILDDIR}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
corpus=$src/tests/fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$corpus"/{index,tar,inflate}

# index: the unit tests' zoo, and clipfs index of a tiny two-layer image
# with small spans, so there are several checkpoints with windows; both
# have a CHUNKS section.  zoo-2.1.clip and tiny-2.1.clip, committed as they
# are, are the same written by format 2.1, without one.
"$build/tests/mkzoo" "$corpus/index/zoo.clip"
umoci init --layout "$work/oci" >/dev/null
umoci new --image "$work/oci:t" >/dev/null
umoci unpack --image "$work/oci:t" "$work/b" >/dev/null
r=$work/b/rootfs
mkdir -p "$r/etc" "$r/usr/bin" "$r/d/e/f"
echo hello >"$r/etc/hostname"
seq 1 40000 >"$r/usr/bin/seq.txt"
ln -s ../etc/hostname "$r/usr/bin/link"
ln "$r/etc/hostname" "$r/d/e/f/hard"
mkfifo "$r/d/fifo"
setfattr -n user.fuzz -v seed "$r/etc/hostname" 2>/dev/null || true
umoci repack --image "$work/oci:t" "$work/b" >/dev/null
rm "$r/etc/hostname"
seq 50000 90000 | gzip -9 >"$r/d/e/numbers.gz"
umoci repack --image "$work/oci:t" "$work/b" >/dev/null
"$build/clipfs/clipfs" index -q --span 64K --big-file 0 "oci:$work/oci:t" -o "$corpus/index/tiny.clip"

# tar: 4 control bytes (tests/fuzz/fuzz_tar.c) + an archive.  The Go
# corpus with all-at-once feeding, the small ones also byte-wise and in
# odd chunks; then GNU tar's own formats.
prefix() { printf "$1"; cat "$2"; }
for f in "$src"/tests/data/tar/*.tar; do
	b=$(basename "$f" .tar)
	prefix '\0\0\0\0' "$f" >"$corpus/tar/go-$b"
	if [ "$(stat -c %s "$f")" -le 3072 ]; then
		prefix '\001\007\205\377' "$f" >"$corpus/tar/go-$b-chunked"
	fi
done
mkdir -p "$work/t/a/$(printf 'long%.0s' {1..30})"
echo data >"$work/t/a/file"
ln -s "$(printf 'target%.0s' {1..25})" "$work/t/a/longlink"
ln "$work/t/a/file" "$work/t/a/hard"
setfattr -n user.fuzz -v value "$work/t/a/file" 2>/dev/null || true
for fmt in gnu pax ustar v7 oldgnu; do
	tar --format=$fmt --xattrs -C "$work/t" -cf "$work/$fmt.tar" a 2>/dev/null ||
		tar --format=$fmt -C "$work/t" -cf "$work/$fmt.tar" a/file a/hard 2>/dev/null || continue
	prefix '\0\0\0\0' "$work/$fmt.tar" >"$corpus/tar/gnutar-$fmt"
	prefix '\003\200\011\001' "$work/$fmt.tar" >"$corpus/tar/gnutar-$fmt-chunked"
done

# inflate: gzip blobs for the indexer side, and a few control strings for
# the span-damage side (see tests/fuzz/fuzz_inflate.c for their layout).
printf 'hello, world\n' | gzip -n >"$corpus/inflate/hello.gz"
: | gzip -n >"$corpus/inflate/empty.gz"
{ seq 1 3000 | gzip -n -1; seq 1 2000 | gzip -n -9; } >"$corpus/inflate/two-members.gz"
python3 - "$corpus/inflate" <<'PY'
import sys, zlib, os
d = sys.argv[1]
data = bytes((i * 7 + (i >> 5)) & 0xff for i in range(30000))
c = zlib.compressobj(6, zlib.DEFLATED, 31)
out = b""
for i in range(0, len(data), 5000):   # sync flushes: byte-aligned boundaries
    out += c.compress(data[i:i + 5000]) + c.flush(zlib.Z_SYNC_FLUSH)
open(os.path.join(d, "sync-flush.gz"), "wb").write(out + c.flush())
seeds = {
    "span-plain": b"\x03\x00",
    "span-skip": b"\x05\x10" + bytes([0x10, 0x20, 0, 0, 0x00, 0x10, 0, 0]),
    "span-flip": b"\x02\x20\x03" + bytes([5, 0, 0, 0, 0x40, 9, 0, 0, 0, 0x01, 77, 0, 0, 0, 0xff]),
    "span-bits": b"\x01\x03\x05\x02",
    "span-window": b"\x04\x40" + b"window bytes " * 40,
    "span-replace": b"\x06\x80" + zlib.compress(b"x" * 1000)[2:-4],
    "span-cut": b"\x07\x0c\x01\x80",
    # index_generated: level, strategy + window, flush, interval, members, repeat
    "gen-text": bytes([6, 30, 1, 50, 1, 40]) + b"some text data for the generator, with repeats repeats ",
    "gen-fixed-small-window": bytes([9, 4, 4, 3, 2, 255]) + bytes((i * 37 + 11) & 0xff for i in range(64)),
    "gen-members": bytes([1, 33, 0, 0, 2, 200]) + b"abcabcabd" * 8,
}
for k, v in seeds.items():
    open(os.path.join(d, k), "wb").write(v)
PY
echo "seeds written under $corpus"
