#!/usr/bin/env python3
"""many_entries.py: an OCI layout whose image has very many entries.

Usage: many_entries.py N LAYOUT_DIR REF

Writes LAYOUT_DIR (an OCI image layout, ref name REF) holding one image of
two gzip layers, built with Python's tarfile (not with clipfs's code):

  layer 1  big/                   one directory of N/2 small files
           tree/dNNNN/            N/200 directories of 100 files each
  layer 2  tree/.wh.dNNNN         every 10th of those directories deleted
           big/.wh.f0000001       one file of the big directory deleted
           big/f0000002           one file replaced (new content)
           tree/d0001/.wh..wh..opq + tree/d0001/new   an opaque directory

Everything is deterministic (fixed mtimes, owners and order), so two runs
give the same blobs.  Prints the number of paths the merged tree has below
its root, for the caller to compare with.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mutate_layout import OCI_TAR_GZIP, REF, put_blob  # noqa: E402

MTIME = 1700000000


def add(t, name, data=None, kind=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name)
    ti.mtime = MTIME
    ti.type = kind
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    if data is None:
        t.addfile(ti)
    else:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))


def layer(fill):
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as t:
            fill(t)
    blob = raw.getvalue()
    return blob, "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()


def main():
    n, layout, ref = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    nbig = n // 2
    ndirs = max(1, (n - nbig) // 100)

    def first(t):
        add(t, "big", kind=tarfile.DIRTYPE)
        for i in range(nbig):
            add(t, "big/f%07d" % i, b"%d\n" % i)
        add(t, "tree", kind=tarfile.DIRTYPE)
        for d in range(ndirs):
            add(t, "tree/d%04d" % d, kind=tarfile.DIRTYPE)
            for i in range(100):
                add(t, "tree/d%04d/f%03d" % (d, i), b"x" * (i % 64))

    gone = [d for d in range(0, ndirs, 10) if d != 1]

    def second(t):
        for d in gone:
            add(t, "tree/.wh.d%04d" % d, b"")
        add(t, "big/.wh.f0000001", b"")
        add(t, "big/f0000002", b"replaced\n")
        add(t, "tree/d0001", kind=tarfile.DIRTYPE)
        add(t, "tree/d0001/.wh..wh..opq", b"")
        add(t, "tree/d0001/new", b"new\n")

    descs, diff_ids = [], []
    for fill in (first, second):
        blob, diff_id = layer(fill)
        descs.append({"mediaType": OCI_TAR_GZIP, "digest": put_blob(layout, blob),
                      "size": len(blob)})
        diff_ids.append(diff_id)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                        sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": put_blob(layout, config), "size": len(config)},
        "layers": descs}, sort_keys=True).encode()
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": put_blob(layout, manifest), "size": len(manifest),
            "annotations": {REF: ref}}]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)

    # big/ and its files but one; tree/ and the surviving directories with
    # their files; d0001 holds only "new".
    kept = ndirs - len(gone)
    print(1 + (nbig - 1) + 1 + kept * 101 - 100 + 1)


if __name__ == "__main__":
    main()
