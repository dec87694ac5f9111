#!/usr/bin/env python3
"""check_reader.py: reads and checks files of a mount in rounds, for
tests/restart.test, until told to stop.

Usage: check_reader.py --mount DIR --list FILE --stop FILE --seconds S
                       [--threads N] [--out FILE]

--list has "SHA256  RELATIVE/PATH" lines (sha256sum's format) made from
the reference tree.  Each thread walks the list in its own random order,
round after round: open, read the whole file, compare its SHA-256, then
posix_fadvise(DONTNEED) so that the next round's read of it goes to the
mount's daemon again (only this file's pages are dropped, not the
machine's page cache, which other tests may be measuring).  Stops when
the --stop file exists or after S seconds (a bound, never the goal).
Writes {"rounds", "reads", "failed", "wrong", "errors": [first 10]} as
JSON to --out (or stdout).  Exit status 0 whatever it saw: the test
judges the counts.
"""
import argparse
import hashlib
import json
import os
import random
import threading
import time


def read_one(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        h = hashlib.sha256()
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return h.hexdigest()
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mount", required=True)
    ap.add_argument("--list", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()
    files = []
    with open(a.list) as f:
        for line in f:
            sha, rel = line.rstrip("\n").split(None, 1)
            files.append((os.path.join(a.mount, rel.lstrip("*./")), sha))
    deadline = time.monotonic() + a.seconds
    lock = threading.Lock()
    res = {"rounds": 0, "reads": 0, "failed": 0, "wrong": 0, "errors": []}

    def note(kind, msg):
        with lock:
            res[kind] += 1
            if len(res["errors"]) < 10:
                res["errors"].append(msg)

    def worker(seed):
        rnd = random.Random(seed)
        while time.monotonic() < deadline and not os.path.exists(a.stop):
            order = files[:]
            rnd.shuffle(order)
            for path, sha in order:
                try:
                    got = read_one(path)
                except OSError as e:
                    note("failed", "%s: %s" % (path, e))
                    continue
                with lock:
                    res["reads"] += 1
                if got != sha:
                    note("wrong", "%s: sha256 %s, want %s" % (path, got, sha))
            with lock:
                res["rounds"] += 1

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    text = json.dumps(res)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
