#!/usr/bin/env python3
"""layer_device.py: a layer's uncompressed tar as an EROFS extra device.

Usage: layer_device.py BLOB SIZE OUT

Writes OUT: the blob (gzip, or a plain tar) uncompressed, then zeros up to
SIZE bytes (clip2erofs's "device K SIZE": the tar padded to a whole
512-byte block, as umoci's truncated tars need).  Runs of zero blocks
are skipped with a seek, so a layer of zeros costs no disk.  Fails if the
stream is longer than SIZE or ends more than a block short of it.
"""
import sys
import zlib

BLOCK = 1 << 20


def chunks(path):
    with open(path, "rb") as f:
        magic = f.read(2)
        f.seek(0)
        if magic != b"\x1f\x8b":
            while True:
                b = f.read(BLOCK)
                if not b:
                    return
                yield b
        d = zlib.decompressobj(31)
        while True:
            b = f.read(BLOCK)
            if not b:
                break
            out = d.decompress(b, BLOCK * 4)
            while True:
                if out:
                    yield out
                if not d.unconsumed_tail:
                    break
                out = d.decompress(d.unconsumed_tail, BLOCK * 4)
            if d.eof:
                break
        yield d.flush()


def write_device(blob, size, out):
    """Writes the device file; None on success, else what is wrong."""
    n = 0
    with open(out, "wb") as f:
        for b in chunks(blob):
            if b.count(0) == len(b):
                f.seek(len(b), 1)
            else:
                f.write(b)
            n += len(b)
        if n > size or size - n >= 512:
            return "%s is %d bytes, device size %d" % (blob, n, size)
        f.truncate(size)
    return None


def main():
    why = write_device(sys.argv[1], int(sys.argv[2]), sys.argv[3])
    if why:
        sys.stderr.write("layer_device.py: %s\n" % why)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
