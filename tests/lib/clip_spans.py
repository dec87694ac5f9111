#!/usr/bin/env python3
"""clip_spans.py: which spans of a CLIP v2 index hold a file's data.

Usage:
    clip_spans.py file INDEX INO     JSON about the spans holding inode INO
    clip_spans.py layers INDEX       JSON list of the layers and their spans

Written from clip(5) and common/format.h (not from clipfs's reader), so that tests can
check the mounter's fetch counters against an independent reckoning of
what a lazy read must fetch.  `file` prints:

    {"ino": N, "size": S, "layer": L, "digest": "sha256:...",
     "data_offset": O, "first": I, "last": J,
     "bytes": compressed bytes of spans I..J (what reading the file needs),
     "spans": J - I + 1,
     "next": [compressed sizes of the spans after J, in order],
     "layer_compressed": the layer blob's size, "layer_spans": count}

INO is the inode number, which clipfs reports as st_ino.  A span's
compressed bytes are [in_offset - (bits ? 1 : 0), next in_offset or the
blob size), its output [out_offset, next out_offset or the layer size).
"""

import json
import struct
import sys

MAGIC = b"\x89CLIP\r\n\x1a\n"
SEC_STRINGS, SEC_INODES, SEC_LAYERS, SEC_CHECKPOINTS = 1, 2, 6, 7
S_IFMT, S_IFREG = 0o170000, 0o100000


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:9] != MAGIC:
        sys.exit("%s: not a CLIP index" % path)
    # The header as common/format.h lays it out (clip(5)'s header table
    # still shows an older 64-byte layout with an 8-byte magic).
    major, _minor, _r, header_size, count, file_size = struct.unpack_from("<HHHIIQ", data, 10)
    if major != 2 or file_size != len(data):
        sys.exit("%s: version %d or size %d unexpected" % (path, major, file_size))
    sections = {}
    for i in range(count):
        typ, _flags, off, length = struct.unpack_from("<IIQQ", data, header_size + 24 * i)
        sections[typ] = data[off:off + length]
    return sections


def string(strings, off, length):
    return strings[off:off + length].decode("utf-8", "surrogateescape")


def layers(sec):
    strings, lay, cps = sec[SEC_STRINGS], sec[SEC_LAYERS], sec[SEC_CHECKPOINTS]
    out = []
    for i in range(len(lay) // 64):
        (d_off, d_len, _m_off, _m_len, comp, uncomp, first, n, _compression,
         _flags) = struct.unpack_from("<IIIIQQIIII", lay, 64 * i)
        cp = [struct.unpack_from("<QQQIIBB", cps, 72 * (first + k)) for k in range(n)]
        spans = []
        for k, (in_off, out_off, _w, _wz, _wl, bits, _kind) in enumerate(cp):
            c_end = cp[k + 1][0] if k + 1 < n else comp
            o_end = cp[k + 1][1] if k + 1 < n else uncomp
            spans.append({"comp_start": in_off - (1 if bits else 0), "comp_end": c_end,
                          "out_start": out_off, "out_end": o_end})
        out.append({"digest": string(strings, d_off, d_len), "compressed_size": comp,
                    "uncompressed_size": uncomp, "spans": spans})
    return out


def file_spans(sec, ino):
    inodes = sec[SEC_INODES]
    if ino < 1 or ino > len(inodes) // 56:
        sys.exit("no inode %d" % ino)
    mode, _fl, _nlink, _uid, _gid, size, _mt, _ns, _xs, a, _b, c = struct.unpack_from(
        "<HHIIIQqIIIIQ", inodes, 56 * (ino - 1))
    if mode & S_IFMT != S_IFREG or size == 0:
        sys.exit("inode %d is not a non-empty regular file" % ino)
    layer = layers(sec)[a]
    spans = layer["spans"]
    first = last = None
    for k, s in enumerate(spans):
        if s["out_start"] < c + size and s["out_end"] > c:
            first = k if first is None else first
            last = k
    if first is None:
        sys.exit("no span holds inode %d's data" % ino)
    size_of = [s["comp_end"] - s["comp_start"] for s in spans]
    return {"ino": ino, "size": size, "layer": a, "digest": layer["digest"],
            "data_offset": c, "first": first, "last": last,
            "bytes": sum(size_of[first:last + 1]), "spans": last - first + 1,
            "next": size_of[last + 1:], "layer_compressed": layer["compressed_size"],
            "layer_spans": len(spans)}


def main(argv):
    if len(argv) == 4 and argv[1] == "file":
        print(json.dumps(file_spans(load(argv[2]), int(argv[3]))))
    elif len(argv) == 3 and argv[1] == "layers":
        print(json.dumps(layers(load(argv[2]))))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
