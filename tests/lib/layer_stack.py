#!/usr/bin/env python3
"""layer_stack.py: an OCI image whose layers are written entry by entry.

Usage: layer_stack.py LAYOUT TAG SPEC      (SPEC a file, or - for stdin)

Writes one image tagged TAG into the OCI layout LAYOUT (created if
missing, shared if it exists), with one gzip layer per "layer" block of
SPEC, each a tar written by Python's tarfile in exactly the order given.
umoci can only make layers from a real tree, and a real tree cannot hold
what a tool that writes tars directly (jib, ko, rules_oci, nix2container)
may put in a layer: paths through a symlinked directory, a whiteout
before the entry it must not hide, the same path twice.

SPEC, one entry a line ('#' starts a comment line, blank lines ignored):

    layer                   starts the next layer (the first line too)
    d PATH [MODE]           a directory (MODE octal, default 0755)
    f PATH [TEXT]           a regular file holding TEXT (default: "PATH\\n";
                            empty for a whiteout, a name starting .wh.)
    l PATH TARGET           a symlink
    h PATH TARGET           a hardlink to the path TARGET

PATH, TARGET and TEXT hold no spaces.  Every entry gets mtime 1700000000
and uid/gid 0, so the blobs are the same on every run.  As a module:
write_layout(layout, tag, layers), layers a list of lists of tuples
(TYPE, PATH[, ARG[, MODE[, MTIME]]]) as above (ARG None for none; MODE an
int for d and f), and spec_text(layers) the SPEC of those layers.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

sys.dont_write_bytecode = True   # no __pycache__ in the source tree (make dist)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mutate_layout import OCI_TAR_GZIP, REF, put_blob  # noqa: E402

MTIME = 1700000000
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _entry(t, kind, path, arg=None, mode=None, mtime=MTIME):
    ti = tarfile.TarInfo(path)
    ti.mtime = mtime
    if kind == "f":
        base = path.rsplit("/", 1)[-1]
        data = b"" if base.startswith(".wh.") else (arg or path + "\n").encode()
        ti.mode, ti.size = mode or 0o644, len(data)
        t.addfile(ti, io.BytesIO(data))
        return
    if kind == "d":
        ti.type, ti.mode = tarfile.DIRTYPE, int(arg, 8) if arg else mode or 0o755
    elif kind in "lh" and arg is not None:
        ti.type = tarfile.SYMTYPE if kind == "l" else tarfile.LNKTYPE
        ti.linkname, ti.mode = arg, 0o777 if kind == "l" else 0o644
    else:
        raise ValueError("bad entry: %s %s %s" % (kind, path, arg))
    t.addfile(ti)


def layer_tar(entries):
    """The tar stream of one layer: entries in the order given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            _entry(t, *e)
    return buf.getvalue()


def _add_to_index(layout, tag, desc):
    path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(path):
        with open(path) as f:
            index = json.load(f)
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get(REF) != tag]
    index["manifests"].append(dict(desc, annotations={REF: tag}))
    with open(path + ".tmp", "w") as f:
        json.dump(index, f)
    os.rename(path + ".tmp", path)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def write_layout(layout, tag, layers):
    os.makedirs(layout, exist_ok=True)
    descs, diff_ids = [], []
    for entries in layers:
        raw = layer_tar(entries)
        blob = gzip.compress(raw, compresslevel=6, mtime=0)
        descs.append({"mediaType": OCI_TAR_GZIP, "digest": put_blob(layout, blob),
                      "size": len(blob)})
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                        sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": put_blob(layout, config), "size": len(config)},
        "layers": descs}, sort_keys=True).encode()
    _add_to_index(layout, tag, {"mediaType": MANIFEST, "digest": put_blob(layout, manifest),
                                "size": len(manifest)})


def parse_spec(text):
    layers = []
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words == ["layer"]:
            layers.append([])
        elif not layers or words[0] not in ("d", "f", "l", "h") or not 2 <= len(words) <= 3:
            sys.exit("spec line %d: not an entry: %r" % (n, line))
        else:
            layers[-1].append(tuple(words))
    return layers


def spec_text(layers):
    """layers as SPEC text (modes and mtimes left out), for a replay."""
    lines = []
    for entries in layers:
        lines.append("layer")
        for e in entries:
            lines.append(" ".join(w for w in e[:3] if w is not None))
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    text = sys.stdin.read() if argv[3] == "-" else open(argv[3]).read()
    write_layout(argv[1], argv[2], parse_spec(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
