#!/usr/bin/env python3
"""mutate_layout.py: rewrite one image of an OCI layout, in place.

Usage: mutate_layout.py LAYOUT TAG OP [ARGS...]

LAYOUT:TAG must be a single-platform image (index.json -> manifest).  Work
on a copy (`cp -a`) of a layout shared with other tests.  Layers are
numbered from 0 (the base); a negative N counts from the top (-1).

Ops that keep the image consistent (new blobs are written under their
digest; manifest, config and index.json get the new digests, sizes and
diff_ids, so only the change you asked for is wrong):
  get-layer N OUT            write layer N's tar stream (gunzipped if it is
                             gzip) to OUT
  set-layer N FILE [TYPE]    layer N becomes FILE's bytes, with media type
                             TYPE (default: unchanged)
  add-layer FILE [TYPE]      a new top layer (default TYPE: OCI tar+gzip)
  uncompress N|all           layer N (or every layer) stored as a plain tar
                             (application/vnd.oci.image.layer.v1.tar)
  set-media-type N TYPE      only the layer's media type changes
Ops that break the image on purpose:
  corrupt-layer N [OFFSET]   flip one byte of layer N's blob file (at
                             OFFSET, default the middle); its name, the
                             digest, stays
  remove-layer-blob N        delete layer N's blob file

diff_ids: the config's rootfs.diff_ids[N] is set to the SHA-256 of the new
layer's tar stream when it can be computed (plain tar, or gzip that
inflates completely); otherwise it is left as it was.
"""

import gzip
import hashlib
import json
import os
import sys
import zlib

REF = "org.opencontainers.image.ref.name"
OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_TAR_GZIP = OCI_TAR + "+gzip"


def blob_path(layout, digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(layout, "blobs", algo, hexd)


def put_blob(layout, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(layout, digest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
    return digest


def put_blob_file(layout, src):
    """Like put_blob for a file, streamed (layers can be big)."""
    h = hashlib.sha256()
    tmp = os.path.join(layout, "blobs", "sha256", ".incoming")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    size = 0
    with open(src, "rb") as i, open(tmp, "wb") as o:
        while True:
            b = i.read(1 << 20)
            if not b:
                break
            h.update(b)
            o.write(b)
            size += len(b)
    digest = "sha256:" + h.hexdigest()
    os.rename(tmp, blob_path(layout, digest))
    return digest, size


def read_json(layout, digest):
    with open(blob_path(layout, digest), "rb") as f:
        return json.loads(f.read())


def tar_stream_chunks(path):
    """Yields the layer's tar stream: gunzipped if gzip, else as is.
    Raises on a gzip stream that does not inflate completely."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        with gzip.open(path, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    return
                yield b
    else:
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    return
                yield b


def diff_id_of(path):
    h = hashlib.sha256()
    try:
        for b in tar_stream_chunks(path):
            h.update(b)
    except (OSError, EOFError, zlib.error):
        return None
    return "sha256:" + h.hexdigest()


class Image:
    def __init__(self, layout, tag):
        self.layout, self.tag = layout, tag
        with open(os.path.join(layout, "index.json")) as f:
            self.top = json.load(f)
        self.desc = next((m for m in self.top.get("manifests") or []
                          if m.get("annotations", {}).get(REF) == tag), None)
        if self.desc is None:
            sys.exit("mutate_layout: no tag %s in %s" % (tag, layout))
        self.manifest = read_json(layout, self.desc["digest"])
        if "layers" not in self.manifest:
            sys.exit("mutate_layout: %s:%s is not a single image" % (layout, tag))
        self.config = read_json(layout, self.manifest["config"]["digest"])

    def layer(self, n):
        layers = self.manifest["layers"]
        n = int(n)
        if not -len(layers) <= n < len(layers):
            sys.exit("mutate_layout: no layer %d (%d layers)" % (n, len(layers)))
        return n % len(layers)

    def layer_path(self, n):
        return blob_path(self.layout, self.manifest["layers"][n]["digest"])

    def set_layer(self, n, path, media_type=None, append=False):
        digest, size = put_blob_file(self.layout, path)
        if append:
            self.manifest["layers"].append({"mediaType": media_type or OCI_TAR_GZIP,
                                            "digest": digest, "size": size})
            n = len(self.manifest["layers"]) - 1
            self.config["rootfs"]["diff_ids"].append(diff_id_of(path) or digest)
        else:
            d = self.manifest["layers"][n]
            d["digest"], d["size"] = digest, size
            if media_type:
                d["mediaType"] = media_type
            did = diff_id_of(path)
            if did:
                self.config["rootfs"]["diff_ids"][n] = did

    def save(self):
        data = json.dumps(self.config, separators=(",", ":")).encode()
        self.manifest["config"]["digest"] = put_blob(self.layout, data)
        self.manifest["config"]["size"] = len(data)
        data = json.dumps(self.manifest, separators=(",", ":")).encode()
        self.desc["digest"] = put_blob(self.layout, data)
        self.desc["size"] = len(data)
        tmp = os.path.join(self.layout, "index.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.top, f)
        os.rename(tmp, os.path.join(self.layout, "index.json"))


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    layout, tag, op, args = argv[1], argv[2], argv[3], argv[4:]
    img = Image(layout, tag)
    if op == "get-layer" and len(args) == 2:
        n = img.layer(args[0])
        with open(args[1], "wb") as o:
            for b in tar_stream_chunks(img.layer_path(n)):
                o.write(b)
        return 0
    if op == "set-layer" and len(args) in (2, 3):
        img.set_layer(img.layer(args[0]), args[1], args[2] if len(args) == 3 else None)
    elif op == "add-layer" and len(args) in (1, 2):
        img.set_layer(None, args[0], args[1] if len(args) == 2 else None, append=True)
    elif op == "uncompress" and len(args) == 1:
        ns = (range(len(img.manifest["layers"])) if args[0] == "all"
              else [img.layer(args[0])])
        for n in ns:
            tmp = os.path.join(layout, "layer.tar.tmp")
            with open(tmp, "wb") as o:
                for b in tar_stream_chunks(img.layer_path(n)):
                    o.write(b)
            img.set_layer(n, tmp, OCI_TAR)
            os.unlink(tmp)
    elif op == "set-media-type" and len(args) == 2:
        img.manifest["layers"][img.layer(args[0])]["mediaType"] = args[1]
    elif op == "corrupt-layer" and len(args) in (1, 2):
        path = img.layer_path(img.layer(args[0]))
        size = os.path.getsize(path)
        off = int(args[1]) if len(args) == 2 else size // 2
        if not 0 <= off < size:
            sys.exit("mutate_layout: offset %d outside the %d-byte blob" % (off, size))
        with open(path, "r+b") as f:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ 0x55]))
        return 0
    elif op == "remove-layer-blob" and len(args) == 1:
        os.unlink(img.layer_path(img.layer(args[0])))
        return 0
    else:
        sys.stderr.write(__doc__)
        return 2
    img.save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
