#!/usr/bin/env python3
"""erofs_extra_layer.py: a gzip layer of what EROFS images must hold.

Usage: erofs_extra_layer.py OUT.tar.gz [bad-xattr]

Written with Python's tarfile (PAX), for tests/erofs.test, on top of
image_fixtures:
  extra/xattrs      xattrs in user., trusted., security. (binary values)
                    and a POSIX access ACL
  extra/acldir/     a default ACL
  extra/big/        3000 entries of varied name lengths (several directory
                    blocks), names sorting before "." ("+", "-", " ", "!")
  extra/names/      255-byte names (a file, a directory, inside it a file)
  extra/links/      symlink targets of 1, 447, 448 (inline up to here),
                    449 and 1000 bytes
  extra/dev/        devices with minors past 255 and the largest numbers
                    EROFS holds (4095:1048575), a fifo
  extra/meta/       nanosecond and pre-1970 mtimes, ids past 16 bits
  extra/hard-lower  a hardlink to zoo/files/text, a file of a lower layer
  extra/data/       files of 0, 1, 511, 512, 513 bytes and 1 MiB + 100
                    (many chunks with small chunk sizes)
With "bad-xattr", only extra/bad with an xattr "os2.name", which EROFS has
no namespace for.
"""
import gzip
import io
import random
import struct
import sys
import tarfile

MTIME = 1700000000


def acl(*entries):
    """A POSIX ACL xattr value: version 2, then (tag, perm, id) records."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def add(t, name, typ=tarfile.REGTYPE, data=b"", mode=0o644, pax=None, **kw):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = typ, mode, kw.pop("mtime", MTIME)
    ti.size = len(data) if typ == tarfile.REGTYPE else 0
    for k, v in kw.items():
        setattr(ti, k, v)
    if pax:
        ti.pax_headers = pax
    t.addfile(ti, io.BytesIO(data) if typ == tarfile.REGTYPE else None)


def xattrs(d):
    """PAX records for binary xattr values (tarfile writes str as UTF-8;
    surrogateescape keeps arbitrary bytes)."""
    return {"SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape")
            for k, v in d.items()}


def main_layer(t):
    add(t, "extra/", tarfile.DIRTYPE, mode=0o755)
    add(t, "extra/xattrs", data=b"x\n", pax=xattrs({
        "user.bin": b"\x00\xff\x01\x80",
        "trusted.t": b"trusted value", "security.s": b"\x01\x02\x03",
        "system.posix_acl_access": acl((1, 6, 0xFFFFFFFF), (2, 4, 1000),
                                       (4, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF),
                                       (0x20, 4, 0xFFFFFFFF)),
    }))
    add(t, "extra/acldir/", tarfile.DIRTYPE, mode=0o755, pax=xattrs({
        "system.posix_acl_default": acl((1, 7, 0xFFFFFFFF), (4, 5, 0xFFFFFFFF),
                                        (0x20, 5, 0xFFFFFFFF)),
    }))
    add(t, "extra/big/", tarfile.DIRTYPE, mode=0o755)
    for name in ("+plus", "-dash", " space", "!bang", "..dots", ".hidden"):
        add(t, "extra/big/" + name, data=name.encode())
    for i in range(3000):
        add(t, "extra/big/e%04d%s" % (i, "x" * (i % 97)),
            tarfile.SYMTYPE if i % 7 == 0 else tarfile.REGTYPE,
            linkname="t%d" % i, data=b"")
    n255 = "N" * 255
    add(t, "extra/names/", tarfile.DIRTYPE, mode=0o755)
    add(t, "extra/names/" + n255, data=b"long name\n")
    add(t, "extra/names/D" + "d" * 254 + "/", tarfile.DIRTYPE, mode=0o700)
    add(t, "extra/names/D" + "d" * 254 + "/" + n255, data=b"inside\n")
    add(t, "extra/links/", tarfile.DIRTYPE, mode=0o755)
    for n in (1, 447, 448, 449, 1000):
        add(t, "extra/links/l%d" % n, tarfile.SYMTYPE, mode=0o777,
            linkname=("t/" * 600)[:n - 1] + "z")
    add(t, "extra/dev/", tarfile.DIRTYPE, mode=0o755)
    add(t, "extra/dev/c259-70000", tarfile.CHRTYPE, devmajor=259, devminor=70000)
    add(t, "extra/dev/b-max", tarfile.BLKTYPE, mode=0o600, devmajor=4095,
        devminor=1048575)
    add(t, "extra/dev/fifo", tarfile.FIFOTYPE, mode=0o620)
    add(t, "extra/meta/", tarfile.DIRTYPE, mode=0o755)
    add(t, "extra/meta/ns", data=b"ns\n", pax={"mtime": "1700000000.123456789"})
    add(t, "extra/meta/old", data=b"old\n", mtime=-100)
    add(t, "extra/meta/ids", data=b"ids\n", uid=3000000, gid=4000000, mode=0o7755)
    add(t, "extra/hard-lower", tarfile.LNKTYPE, linkname="zoo/files/text")
    add(t, "extra/data/", tarfile.DIRTYPE, mode=0o755)
    rnd = random.Random(15)
    for n in (0, 1, 511, 512, 513, (1 << 20) + 100):
        add(t, "extra/data/f%d" % n, data=bytes(rnd.getrandbits(8) for _ in range(n)))


def main():
    buf = io.BytesIO()
    t = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
    if len(sys.argv) > 2 and sys.argv[2] == "bad-xattr":
        add(t, "extra/", tarfile.DIRTYPE, mode=0o755)
        add(t, "extra/bad", data=b"bad\n", pax=xattrs({"os2.name": b"v"}))
    else:
        main_layer(t)
    t.close()
    with open(sys.argv[1], "wb") as f:
        f.write(gzip.compress(buf.getvalue(), 6, mtime=0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
