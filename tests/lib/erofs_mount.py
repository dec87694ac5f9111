#!/usr/bin/env python3
"""erofs_mount.py: mount an EROFS image file read-only with mount(2).

Usage: erofs_mount.py IMAGE MOUNTPOINT [DEVICE...]

Calls mount(2) directly with fstype "erofs", the image file as the
source and "device=DEVICE" once per extra device as the data: the kernel
(>= 6.12, CONFIG_EROFS_FS_BACKED_BY_FILE) mounts a regular file and
regular-file devices this way.  util-linux mount(8) would put the image
on a loop device and then refuse regular-file device= options.
Exit 0 when mounted, 1 with the errno's message otherwise.
"""
import ctypes
import ctypes.util
import os
import sys

MS_RDONLY = 1


def mount(image, target, devices):
    """mount(2) of image on target with devices; raises OSError."""
    if any("," in d for d in devices):
        raise OSError(22, "a device path holds a comma")
    data = ",".join("device=" + os.path.abspath(d) for d in devices)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    rc = libc.mount(os.path.abspath(image).encode(), target.encode(), b"erofs",
                    ctypes.c_ulong(MS_RDONLY), data.encode() if data else None)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s on %s: %s" % (image, target, os.strerror(e)))


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    try:
        mount(sys.argv[1], sys.argv[2], sys.argv[3:])
    except OSError as e:
        sys.stderr.write("erofs_mount.py: %s\n" % e.strerror)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
