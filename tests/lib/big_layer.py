#!/usr/bin/env python3
"""big_layer.py: a gzip layer holding one big file of zeros, cheaply.

Usage: big_layer.py OUT SIZE AFTER [OFFSET:TEXT ...]

Writes OUT, a gzip (level 1) tar of: big/ (a directory), big/zeros (SIZE
bytes: zeros, except TEXT at each OFFSET, in increasing order, not
overlapping), and big/after.txt (AFTER and a newline), whose data lies
past the big file's.  The tar is written by hand (tarfile headers, zeros
streamed in 1 MiB pieces), so a file of many GiB costs seconds and no
disk.  Used by tests/indexer.test and tests/erofs.test.
"""
import sys
import tarfile
import zlib


def header(name, size, typ=tarfile.REGTYPE, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.size, ti.type, ti.mode, ti.mtime = size, typ, mode, 1700000000
    return ti.tobuf(format=tarfile.GNU_FORMAT)


def main():
    out, size, after = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode() + b"\n"
    marks = []
    for arg in sys.argv[4:]:
        off, text = arg.split(":", 1)
        marks.append((int(off), text.encode()))
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    zero = memoryview(bytes(1 << 20))
    with open(out, "wb") as f:
        put = lambda b: f.write(z.compress(b))  # noqa: E731

        def zeros(n):
            while n:
                k = min(n, len(zero))
                put(zero[:k])
                n -= k
        put(header("big/", 0, tarfile.DIRTYPE, 0o755))
        put(header("big/zeros", size))
        pos = 0
        for off, text in marks:
            if off < pos or off + len(text) > size:
                sys.stderr.write("big_layer.py: marks out of order or past the end\n")
                return 2
            zeros(off - pos)
            put(text)
            pos = off + len(text)
        zeros(size - pos)
        put(bytes(-size % 512))
        put(header("big/after.txt", len(after)))
        put(after + bytes(-len(after) % 512))
        put(bytes(1024))
        f.write(z.flush())
    return 0


if __name__ == "__main__":
    sys.exit(main())
