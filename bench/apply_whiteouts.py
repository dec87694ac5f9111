#!/usr/bin/env python3
"""bench/apply_whiteouts.py ROOTFS NAMES: apply one OCI layer's whiteouts
after GNU tar extracted that layer over ROOTFS.

The full-pull baseline unpacks each layer in one pass with
`pigz -dc LAYER | tar -xpv --numeric-owner -C ROOTFS > NAMES`, which
extracts the whiteout markers as empty files and lists every member name.
This script then does what the layer's markers mean (OCI image spec,
layer.md), the way containerd's applier does it in one pass:

  DIR/.wh.NAME        DIR/NAME from the lower layers is deleted;
  DIR/.wh..wh..opq    everything under DIR that this layer did not itself
                      extract is deleted (the lower layers' content);

and removes the markers.  NAMES is tar -v output: one member name a line,
directories with a trailing slash, "./" prefixes allowed (tar must run with
--quoting-style=literal so names are printed as they are).
"""
import os
import shutil
import sys

WH = ".wh."
OPQ = ".wh..wh..opq"


def norm(name):
    name = name.rstrip("\n")
    while name.startswith("./"):
        name = name[2:]
    name = name.strip("/")
    return name


def remove(path):
    if os.path.islink(path) or not os.path.isdir(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    else:
        shutil.rmtree(path, ignore_errors=True)


def prune_opaque(root, d, layer):
    """Delete entries under d (relative) that the layer did not extract."""
    full = os.path.join(root, d) if d else root
    try:
        entries = os.listdir(full)
    except (FileNotFoundError, NotADirectoryError):
        return
    for e in entries:
        rel = f"{d}/{e}" if d else e
        p = os.path.join(root, rel)
        if rel not in layer:
            remove(p)
        elif os.path.isdir(p) and not os.path.islink(p):
            prune_opaque(root, rel, layer)


def main():
    root, names = sys.argv[1], sys.argv[2]
    with open(names, encoding="utf-8", errors="surrogateescape") as f:
        layer = {n for n in (norm(line) for line in f) if n}
    for n in list(layer):   # implicit parents count as extracted too
        while "/" in n:
            n = n.rpartition("/")[0]
            layer.add(n)
    opaque, whiteouts = [], []
    for n in layer:
        d, _, base = n.rpartition("/")
        if base == OPQ:
            opaque.append(d)
        elif base.startswith(WH):
            whiteouts.append((d, base[len(WH):]))
    for d in opaque:
        prune_opaque(root, d, layer)
        remove(os.path.join(root, d, OPQ))
    for d, target in whiteouts:
        remove(os.path.join(root, d, target))
        remove(os.path.join(root, d, WH + target))
    print(f"apply_whiteouts: {len(whiteouts)} whiteouts, {len(opaque)} opaque dirs",
          file=sys.stderr)


if __name__ == "__main__":
    main()
