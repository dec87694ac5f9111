#!/usr/bin/python3
"""deny_syscalls.py ERRNO SYSCALL[,SYSCALL...] COMMAND [ARG...]

Runs COMMAND under a seccomp filter that fails the named system calls
with ERRNO (a name such as ENOSYS or EPERM) and allows every other one;
children inherit it.  Tests use it to stand in for a kernel without a
feature (fsopen failing as on a kernel without the new mount API, or
fsconfig refusing an EROFS image) on a kernel that has it.  Needs
python3-seccomp (Debian's package for the system python3).
"""
import errno
import os
import sys

import seccomp


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    err = getattr(errno, sys.argv[1])
    flt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in sys.argv[2].split(","):
        flt.add_rule(seccomp.ERRNO(err), name)
    flt.load()
    os.execvp(sys.argv[3], sys.argv[3:])


if __name__ == "__main__":
    main()
