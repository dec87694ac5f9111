#!/usr/bin/env python3
"""merge_fuzz.py: random small layer stacks, merged by clipfs and by umoci.

Usage: merge_fuzz.py --clipfs PATH --work DIR [--seed N] [--cases N]
                     [--seconds S] [--keep]
                     [--erofs CLIP2EROFS --erofs-bin DIR [--mount-every N]]

Case i uses seed N + i (N: --seed, else taken from the clock and printed),
so "--seed N+i --cases 1" replays one case.  Each case is 2 to 4 layers
of up to 8 entries over a few short names, written entry by entry by
layer_stack.py: directories, files, symlinks (relative, absolute, through
"..", dangling, loops, to files), hardlinks, whiteouts and opaque markers,
often through the symlinks of the layers below or of the same layer.
Then:
  - umoci unpack is the reference; when it refuses the image, clipfs
    index must refuse it too, with exit status 5 (bad image);
  - when it unpacks the image, clipfs index must succeed and clipfs ls
    -Rix must list umoci's rootfs, path for path (rootfs_listing.py: type,
    mode, owner, size, mtime, target, nlink, hardlink groups).  Each
    entry has an mtime of its own, so an entry applied at the wrong place
    shows.  Not compared: the mtime of a directory umoci made or changed
    itself during the unpack (newer than its start): a directory no layer
    names (the index has 0) and one a whiteout emptied (umoci restores
    only the entry's parent).
With --erofs (tests/erofs.test), each case umoci unpacks is also written
as an EROFS image (tests/clip2erofs), checked by DIR/fsck.erofs with the
layers as devices, and every Nth of those (default 5, from the first)
mounted and its tree compared with umoci's rootfs the same way.
Stops after --cases cases or --seconds seconds, whichever comes first.  A
failing case prints its seed, the layers (as a layer_stack.py spec), the
difference, and keeps its files under DIR; exit status 1.
"""
import argparse
import difflib
import io
import os
import random
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree (make dist)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import erofs_mount  # noqa: E402
import layer_device  # noqa: E402
import layer_stack  # noqa: E402
import rootfs_listing  # noqa: E402

NAMES = ["a", "b", "c", "d"]
TIMEOUT = 60   # per command; a hang is a failure


def rand_path(rnd, depth=3):
    return "/".join(rnd.choice(NAMES) for _ in range(rnd.randint(1, depth)))


def rand_target(rnd, known):
    kind = rnd.randrange(8)
    base = rnd.choice(known) if known and rnd.random() < 0.6 else rand_path(rnd)
    if kind == 0:
        return "/" + base                             # absolute
    if kind == 1:
        return "../" * rnd.randint(1, 3) + base       # up, maybe past the root
    if kind == 2:
        return rnd.choice([".", "..", "/", "/.."])
    if kind == 3:
        parts = base.split("/")
        parts.insert(rnd.randrange(len(parts) + 1), "..")
        return "/".join(parts)                        # ".." in the middle
    if kind == 4:
        return "nowhere/" + rnd.choice(NAMES)         # dangling
    return base                                       # relative


def rand_entry(rnd, layer, idx, known):
    """One entry: (kind, path, arg, mode, mtime).  known: the paths named
    so far, by kind ("d", "f", "l"), to aim at them and below them."""
    mtime = 1700000000 + layer * 1000 + idx
    every = known["d"] + known["f"] + known["l"]
    r = rnd.random()
    if r < 0.5 and known["d"] + known["l"]:
        parents = known["d"] if known["d"] and rnd.random() < 0.7 else known["l"] or known["d"]
        path = rnd.choice(parents) + "/" + rnd.choice(NAMES)
    elif r < 0.75 and every:
        path = rnd.choice(every)
    else:
        path = rand_path(rnd)
    r = rnd.random()
    if r < 0.20:
        return ("d", path, rnd.choice(["0755", "0755", "0700"]), None, mtime)
    if r < 0.45:
        return ("f", path, "L%dE%d:%s" % (layer, idx, path), None, mtime)
    if r < 0.70:
        target = rand_target(rnd, every)
        if (target + "/").startswith(path + "/") and rnd.random() < 0.8:
            target = rand_target(rnd, [])   # fewer links into themselves (loops)
        return ("l", path, target, None, mtime)
    if r < 0.75:
        target = link_target(rnd, known)
        if target == path and rnd.random() < 0.8:
            target = link_target(rnd, known)
        return ("h", path, target, None, mtime)
    parent = path.rsplit("/", 1)[0] + "/" if "/" in path and rnd.random() < 0.7 else ""
    if r < 0.93:
        return ("f", parent + ".wh." + rnd.choice(NAMES), None, None, mtime)
    return ("f", parent + ".wh..wh..opq", None, None, mtime)


def link_target(rnd, known):
    """A hardlink target: mostly a file named before, as it was named or
    with its directory swapped for a symlink (which may lead there)."""
    if not known["f"] or rnd.random() < 0.1:
        return rand_path(rnd)
    f = rnd.choice(known["f"])
    if known["l"] and rnd.random() < 0.3:
        return rnd.choice(known["l"]) + "/" + f.rsplit("/", 1)[-1]
    return f


def rand_layers(rnd):
    layers, known = [], {"d": [], "f": [], "l": []}
    for layer in range(rnd.randint(2, 4)):
        entries = []
        for idx in range(rnd.randint(1, 8)):
            e = rand_entry(rnd, layer, idx, known)
            entries.append(e)
            if ".wh." not in e[1]:
                known["f" if e[0] == "h" else e[0]].append(e[1])
        layers.append(entries)
    return layers


def run(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return 124, b"", b"timed out after %d s" % TIMEOUT
    return p.returncode, p.stdout, p.stderr


def masked_texts(want, got, since):
    """Both entry lists as rootfs_listing text, the mtimes of directories
    umoci made or changed during the unpack (>= since) left out."""
    masked = {e.path for e in want if e.type == "d" and e.mtime[0] >= since}
    texts = []
    for entries in (want, got):
        for e in entries:
            if e.path in masked:
                e.mtime = (0, 0)
        out = io.StringIO()
        rootfs_listing.emit(entries, out)
        texts.append(out.getvalue())
    return texts


def listings(rootfs, ls_out, since):
    """umoci's tree and clipfs ls -Rix's, as masked_texts()."""
    return masked_texts(rootfs_listing.walk_fs(rootfs),
                        rootfs_listing.parse_clip(ls_out.decode("latin-1").splitlines()),
                        since)


def compare_trees(want_top, got_top, since):
    """None if the trees list the same (masked_texts()), else a diff."""
    want, got = masked_texts(rootfs_listing.walk_fs(want_top),
                             rootfs_listing.walk_fs(got_top), since)
    if want == got:
        return None
    return "".join(list(difflib.unified_diff(want.splitlines(True),
                                             got.splitlines(True)))[2:42])


def erofs_devices(d, info):
    """The device files clip2erofs's output asks for; (paths, error)."""
    devs = []
    for line in info.decode().splitlines():
        if not line.startswith("device "):
            continue
        _, k, size, digest = line.split()
        blob = os.path.join(d, "layout", "blobs", *digest.split(":", 1))
        dev = os.path.join(d, "dev" + k)
        why = layer_device.write_device(blob, int(size), dev)
        if why:
            return devs, why
        devs.append(dev)
    return devs, None


def erofs_case(args, d, idx, since):
    """None if the EROFS image of the case is right, else what is wrong."""
    img = os.path.join(d, "image.erofs")
    rc, info, err = run([args.erofs, idx, img])
    if rc != 0:
        return "clip2erofs exits %d: %s" % (rc, err.decode(errors="replace"))
    devs, why = erofs_devices(d, info)
    if why:
        return why
    rc, out, err = run([os.path.join(args.erofs_bin, "fsck.erofs")] +
                       ["--device=" + x for x in devs] + [img])
    if rc != 0:
        return "fsck.erofs exits %d: %s" % (rc, (out + err).decode(errors="replace"))
    args.erofs_checked += 1
    if (args.erofs_checked - 1) % args.mount_every != 0:
        return None
    args.erofs_mounted += 1
    mnt = os.path.join(d, "mnt")
    os.makedirs(mnt, exist_ok=True)
    try:
        erofs_mount.mount(img, mnt, devs)
    except OSError as e:
        return "mount of the EROFS image: %s" % e.strerror
    try:
        diff = compare_trees(os.path.join(d, "bundle", "rootfs"), mnt, since)
    finally:
        subprocess.run(["umount", mnt], check=False)
    return diff and "EROFS mount and umoci differ (- umoci, + EROFS):\n" + diff


def one_case(args, seed):
    """None if clipfs agrees with umoci, else what differs."""
    layers = rand_layers(random.Random(seed))
    d = os.path.join(args.work, "case-%d" % seed)
    shutil.rmtree(d, ignore_errors=True)
    layer_stack.write_layout(os.path.join(d, "layout"), "t", layers)
    since = int(time.time())
    urc, _, uerr = run(["umoci", "unpack", "--image", os.path.join(d, "layout") + ":t",
                        os.path.join(d, "bundle")])
    idx = os.path.join(d, "index.clip")
    crc, _, cerr = run([args.clipfs, "index", "-q", "oci:%s:t" % os.path.join(d, "layout"),
                        "-o", idx])
    why = None
    if urc != 0 and crc != 5:
        last = (uerr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        why = "umoci refuses it (%s), clipfs index exits %d%s" % (
            last, crc, "" if crc else " (accepts it)")
    elif urc == 0 and crc != 0:
        why = "umoci unpacks it, clipfs index exits %d: %s" % (
            crc, cerr.decode(errors="replace").strip())
    elif urc == 0:
        lrc, ls_out, lerr = run([args.clipfs, "ls", "-Rix", idx])
        if lrc != 0:
            why = "clipfs ls -Rix exits %d: %s" % (lrc, lerr.decode(errors="replace"))
        else:
            want, got = listings(os.path.join(d, "bundle", "rootfs"), ls_out, since)
            if want != got:
                why = "listings differ (- umoci, + clipfs):\n" + "".join(list(
                    difflib.unified_diff(want.splitlines(True), got.splitlines(True)))[2:42])
    if why is None and urc == 0 and args.erofs:
        why = erofs_case(args, d, idx, since)
    if why is None:
        if not args.keep:
            shutil.rmtree(d)
        return None, urc
    return "case seed %d (kept in %s): %s\nlayers:\n%s" % (
        seed, d, why, layer_stack.spec_text(layers)), urc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clipfs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--erofs", help="tests/clip2erofs: check EROFS images too")
    ap.add_argument("--erofs-bin", default="/opt/erofs/bin")
    ap.add_argument("--mount-every", type=int, default=5)
    args = ap.parse_args()
    args.erofs_checked = args.erofs_mounted = 0
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1000000007
    os.umask(0o022)   # umoci makes implicit directories 0777 & ~umask
    os.makedirs(args.work, exist_ok=True)
    print("merge_fuzz: seed %d, up to %d cases in %g s" % (args.seed, args.cases, args.seconds))
    t0, n, refused, failed = time.monotonic(), 0, 0, 0
    while n < args.cases and time.monotonic() - t0 < args.seconds:
        why, urc = one_case(args, args.seed + n)
        n += 1
        refused += urc != 0
        if why is not None:
            failed += 1
            print("FAIL: " + why, flush=True)
            if failed >= 3:
                break
    print("merge_fuzz: %d cases (seeds %d..%d), %d refused by umoci (and by clipfs), "
          "%d failed, %.1f s" % (n, args.seed, args.seed + n - 1, refused, failed,
                                 time.monotonic() - t0))
    if args.erofs:
        print("merge_fuzz: %d EROFS images passed fsck.erofs, %d of them mounted and "
              "compared" % (args.erofs_checked, args.erofs_mounted))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
