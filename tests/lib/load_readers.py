#!/usr/bin/env python3
"""load_readers.py: many concurrent random reads of a mount, each compared.

Usage:
    load_readers.py --mount DIR --ref DIR --list FILE --threads N
                    --seconds S --pid PID [--seed N] [--max-len BYTES]

--list holds "SIZE PATH" lines (PATH relative to both trees).  N threads
read for S seconds: a random file, a random offset, a random length (up
to --max-len, bounded by the file's end), with os.pread on the mount and
on the reference tree (umoci unpack of the same image), and compare.
After each read the mount's pages of that range are dropped
(POSIX_FADV_DONTNEED) so that the next read of it goes to the daemon, not
the kernel's page cache.  Meanwhile a sampler reads /proc/PID/status every
0.25 s for the daemon's VmRSS.

Prints one JSON object: reads, bytes, seconds, errors, mismatches, the
first few problems, vmhwm_kib (from /proc/PID/status at the end),
vmrss_max_kib (sampled).  Exit 0 even when there were errors: the test
decides.  Bounded: S seconds plus the time of the reads in flight.
"""

import argparse
import json
import os
import random
import threading
import time


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mount", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--list", required=True)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-len", type=int, default=1024 * 1024)
    a = ap.parse_args()

    files = []
    with open(a.list) as f:
        for line in f:
            size, path = line.rstrip("\n").split(" ", 1)
            if int(size) > 0:
                files.append((int(size), path))
    lock = threading.Lock()
    tot = {"reads": 0, "bytes": 0, "errors": 0, "mismatches": 0}
    problems = []
    stop = time.monotonic() + a.seconds
    rss_max = [0]

    def note(kind, msg):
        with lock:
            tot[kind] += 1
            if len(problems) < 10:
                problems.append(msg)

    def reader(k):
        rnd = random.Random(a.seed * 1000 + k)
        reads = nbytes = 0
        while time.monotonic() < stop:
            size, path = rnd.choice(files)
            off = rnd.randrange(size)
            # mostly small reads, some large ones crossing spans
            ln = rnd.choice((4096, 65536, 131072, a.max_len))
            ln = min(rnd.randrange(1, ln + 1), size - off)
            try:
                fd = os.open(os.path.join(a.mount, path), os.O_RDONLY)
                try:
                    got = os.pread(fd, ln, off)
                    os.posix_fadvise(fd, off, ln, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
            except OSError as e:
                note("errors", "%s at %d+%d: %s" % (path, off, ln, e))
                continue
            with open(os.path.join(a.ref, path), "rb") as r:
                want = os.pread(r.fileno(), ln, off)
            if got != want:
                note("mismatches", "%s at %d+%d: %d bytes read, differ" %
                     (path, off, ln, len(got)))
            reads += 1
            nbytes += len(got)
        with lock:
            tot["reads"] += reads
            tot["bytes"] += nbytes

    def sampler():
        while time.monotonic() < stop:
            try:
                rss_max[0] = max(rss_max[0], status_kib(a.pid, "VmRSS"))
            except OSError:
                pass
            time.sleep(0.25)

    t0 = time.monotonic()
    threads = [threading.Thread(target=reader, args=(k,)) for k in range(a.threads)]
    threads.append(threading.Thread(target=sampler))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = dict(tot)
    out["seconds"] = round(time.monotonic() - t0, 2)
    out["problems"] = problems
    out["vmhwm_kib"] = status_kib(a.pid, "VmHWM")
    out["vmrss_max_kib"] = rss_max[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
