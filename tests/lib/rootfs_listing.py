#!/usr/bin/env python3
"""rootfs_listing.py: a canonical listing of a file tree, for diff.

Usage:
    rootfs_listing.py fs DIR          walk DIR (e.g. umoci's bundle/rootfs)
    rootfs_listing.py clip < LS_OUT   parse `clipfs ls -Rix INDEX` output
    rootfs_listing.py sums < SUMS     `sha256sum -z` output (NUL-terminated
                                      "HASH  PATH" records, names unescaped)
                                      as "HASH  PATH" lines, PATH escaped as
                                      below and without a leading "./", for
                                      comparison with `clipcat --all`

Both modes print the same format, so `diff` of the two is the comparison.
One line per path below the top (the top directory itself is not listed:
`clipfs ls -R` does not list it), sorted by path components as bytes:

    PATH<TAB>type=T<TAB>mode=OOOO<TAB>uid=U<TAB>gid=G[<TAB>size=N]
        [<TAB>rdev=MAJ:MIN]<TAB>mtime=SEC.NSEC[<TAB>target=TARGET]
        [<TAB>xattr=NAME=HEX,...][<TAB>nlink=N][<TAB>link=FIRST]

PATH and TARGET are escaped like clipfs ls does it: bytes below 0x20,
0x7f and up, and the backslash become \\xHH.  T is one of f d l c b p s.
mode is the permission bits including setuid, setgid and sticky, octal.
size: regular files and symlinks only.  rdev: devices only.  nlink: for
non-directories only.  link: the first path (in sorted order) of the
paths sharing an inode, only when more than one path does (a hardlink
group); the two sides number inodes differently, so the group is named
by its first path instead.

Left out on purpose, because they legitimately differ:
  - directory sizes: the index stores 0, a real filesystem reports its
    own block-based size (4096 on ext4, other values on tmpfs/xfs).
  - directory nlink: a real filesystem counts "." and every subdirectory's
    ".." (2 + subdirs on ext4, but 1 on btrfs); the index has its own
    convention.  The directory structure itself is compared via the paths.
  - xattrs named trusted.overlay.* and security.selinux: the host's
    filesystem (overlayfs, an SELinux policy) may add them to the
    unpacked tree; they never come from the image.
Everything else, including the mtimes of directories and symlinks, is
compared; if a difference shows up there, it is a real one.
"""

import os
import re
import stat
import sys

SKIP_XATTR_PREFIXES = ("trusted.overlay.", "security.selinux")

TYPES = {
    stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l", stat.S_IFCHR: "c",
    stat.S_IFBLK: "b", stat.S_IFIFO: "p", stat.S_IFSOCK: "s",
}
LS_TYPES = {"-": "f", "d": "d", "l": "l", "c": "c", "b": "b", "p": "p", "s": "s"}


def escape(b):
    """bytes -> str, escaped as clipfs ls does (see clipfs/format_util.c)."""
    out = []
    for c in b:
        if c < 0x20 or c >= 0x7F or c == 0x5C:
            out.append("\\x%02x" % c)
        else:
            out.append(chr(c))
    return "".join(out)


_ESC = re.compile(rb"\\x([0-9a-fA-F]{2})")


def unescape(s):
    """The inverse of escape(); s is str."""
    return _ESC.sub(lambda m: bytes([int(m.group(1), 16)]), s.encode("latin-1"))


class Entry:
    __slots__ = ("path", "type", "perm", "uid", "gid", "size", "rdev", "mtime",
                 "target", "xattrs", "nlink", "inode")

    def __init__(self):
        self.size = None
        self.rdev = None
        self.target = None
        self.xattrs = []
        self.nlink = None
        self.inode = None


def keep_xattr(name):
    return not name.startswith(SKIP_XATTR_PREFIXES)


def walk_fs(top):
    """Every path below top (bytes), with its metadata, via os.lstat."""
    top = os.fsencode(top)
    entries = []
    stack = [b""]
    while stack:
        rel = stack.pop()
        full = os.path.join(top, rel) if rel else top
        with os.scandir(full) as it:
            names = [d.name for d in it]
        for name in names:
            p = rel + b"/" + name if rel else name
            fp = os.path.join(top, p)
            st = os.lstat(fp)
            e = Entry()
            e.path = p
            e.type = TYPES[stat.S_IFMT(st.st_mode)]
            e.perm = stat.S_IMODE(st.st_mode)
            e.uid, e.gid = st.st_uid, st.st_gid
            e.mtime = (st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9)
            if e.type in "fl":
                e.size = st.st_size
            if e.type in "cb":
                e.rdev = (os.major(st.st_rdev), os.minor(st.st_rdev))
            if e.type == "l":
                e.target = os.readlink(fp)
            if e.type != "d":
                e.nlink = st.st_nlink
                e.inode = (st.st_dev, st.st_ino)
            try:
                names_x = os.listxattr(fp, follow_symlinks=False)
            except OSError:
                names_x = []
            for xn in names_x:
                if keep_xattr(xn):
                    v = os.getxattr(fp, xn, follow_symlinks=False)
                    e.xattrs.append((xn.encode("utf-8", "surrogateescape"), v))
            entries.append(e)
            if e.type == "d":
                stack.append(p)
    return entries


# `clipfs ls -Rix` line: ino mode nlink uid gid (size | maj, min) date time path
_LS_LINE = re.compile(
    r"^\s*(\d+) ([-dlcbps?])([-rwxsStT]{9})\s+(\d+)\s+(\d+)\s+(\d+)\s+"
    r"(?:(\d+),\s+(\d+)|(\d+)) "
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|@-?\d+)\.(\d{9}) (.*)$")
_LS_XATTR = re.compile(r"^    xattr (.*)=([0-9a-f]*)$")


def perm_bits(s):
    """'rwsr-xr-t' -> permission bits incl. setuid/setgid/sticky."""
    bits = 0
    for i, (r, w) in enumerate(((0o400, 0o200), (0o40, 0o20), (0o4, 0o2))):
        if s[i * 3] == "r":
            bits |= r
        if s[i * 3 + 1] == "w":
            bits |= w
    special = (0o4000, 0o2000, 0o1000)
    xbits = (0o100, 0o10, 0o1)
    for i in range(3):
        c = s[i * 3 + 2]
        if c in "xst":
            bits |= xbits[i]
        if c in "sStT":
            bits |= special[i]
    return bits


def utc_seconds(date):
    if date.startswith("@"):
        return int(date[1:])
    import calendar
    import time
    return calendar.timegm(time.strptime(date, "%Y-%m-%d %H:%M:%S"))


def parse_clip(lines):
    entries = []
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        m = _LS_XATTR.match(line)
        if m:
            if not entries:
                sys.exit("line %d: xattr before any entry" % n)
            if keep_xattr(unescape(m.group(1)).decode("utf-8", "surrogateescape")):
                entries[-1].xattrs.append((unescape(m.group(1)), bytes.fromhex(m.group(2))))
            continue
        m = _LS_LINE.match(line)
        if not m:
            sys.exit("line %d: not clipfs ls -Rix output: %r" % (n, line))
        (ino, t, perm, nlink, uid, gid, maj, mnr, size, date, nsec,
         rest) = m.groups()
        e = Entry()
        e.type = LS_TYPES.get(t)
        if e.type is None:
            sys.exit("line %d: unknown type %r" % (n, t))
        e.perm = perm_bits(perm)
        e.uid, e.gid = int(uid), int(gid)
        e.mtime = (utc_seconds(date), int(nsec))
        if e.type in "cb":
            if maj is None:
                sys.exit("line %d: device without major, minor" % n)
            e.rdev = (int(maj), int(mnr))
        elif e.type in "fl":
            if size is None:
                sys.exit("line %d: no size" % n)
            e.size = int(size)
        if e.type == "l":
            # A name that itself contains " -> " would be ambiguous; the
            # test images have none.
            path, sep, target = rest.partition(" -> ")
            if not sep:
                sys.exit("line %d: symlink without a target" % n)
            e.target = unescape(target)
        else:
            path = rest
        e.path = unescape(path)
        if e.type != "d":
            e.nlink = int(nlink)
            e.inode = int(ino)
        entries.append(e)
    return entries


def emit(entries, out):
    entries.sort(key=lambda e: e.path.split(b"/"))
    first = {}
    count = {}
    for e in entries:
        if e.inode is not None:
            first.setdefault(e.inode, e.path)
            count[e.inode] = count.get(e.inode, 0) + 1
    for e in entries:
        f = [escape(e.path), "type=" + e.type, "mode=%04o" % e.perm,
             "uid=%d" % e.uid, "gid=%d" % e.gid]
        if e.size is not None:
            f.append("size=%d" % e.size)
        if e.rdev is not None:
            f.append("rdev=%d:%d" % e.rdev)
        f.append("mtime=%d.%09d" % e.mtime)
        if e.target is not None:
            f.append("target=" + escape(e.target))
        if e.xattrs:
            f.append("xattr=" + ",".join(escape(k) + "=" + v.hex()
                                         for k, v in sorted(e.xattrs)))
        if e.nlink is not None:
            f.append("nlink=%d" % e.nlink)
        if e.inode is not None and count[e.inode] > 1:
            f.append("link=" + escape(first[e.inode]))
        out.write("\t".join(f) + "\n")


def main(argv):
    if len(argv) == 3 and argv[1] == "fs":
        entries = walk_fs(argv[2])
    elif len(argv) == 2 and argv[1] == "clip":
        data = sys.stdin.buffer.read().decode("latin-1")
        entries = parse_clip(data.split("\n")[:-1] if data.endswith("\n") else data.split("\n"))
    elif len(argv) == 2 and argv[1] == "sums":
        for rec in sys.stdin.buffer.read().split(b"\0"):
            if not rec:
                continue
            digest, sep, path = rec.partition(b"  ")
            if not sep or len(digest) != 64:
                sys.exit("not sha256sum -z output: %r" % rec[:100])
            if path.startswith(b"./"):
                path = path[2:]
            sys.stdout.write(digest.decode() + "  " + escape(path) + "\n")
        return 0
    else:
        sys.stderr.write(__doc__)
        return 2
    emit(entries, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
