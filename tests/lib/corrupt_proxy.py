#!/usr/bin/env python3
"""corrupt_proxy.py: a misbehaving stand-in in front of a real registry.

Usage:
    corrupt_proxy.py --upstream HOST:PORT --port-file FILE --log FILE
                     [--corrupt-flag FILE] [--hang-flag FILE]

Listens on 127.0.0.1 (a free port, written to --port-file once it is
listening) and passes every request on to the plain-HTTP registry at
--upstream, answering with the registry's status, headers and body.
Only ranged blob reads (GET of a path with /blobs/ and a Range header)
are tampered with, and only while a flag file exists, so that the same
proxy can serve good bytes again once the test removes the flag:

  --corrupt-flag FILE  while FILE exists, one byte in the middle of the
                       body is flipped (xor 0xff); status, headers and
                       length stay as they are, as a bad disk or a broken
                       middlebox would leave them.
  --hang-flag FILE     while FILE exists, the answer is held back until
                       FILE is removed or 120 s pass (a registry that
                       accepts connections and then says nothing).

Every request is logged to --log as one JSON object per line: method,
path, range, status, corrupted, held (once answered); a request being
held is logged when the hold starts, with "holding": true.  Upstream is
only ever 127.0.0.1.
"""

import argparse
import http.client
import http.server
import json
import os
import sys
import threading
import time

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer",
              "upgrade", "proxy-authorization", "proxy-authenticate", "content-length"}
HOLD_MAX_S = 120


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--corrupt-flag")
    ap.add_argument("--hang-flag")
    args = ap.parse_args()
    host, _, port = args.upstream.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("upstream must be local")
    log_lock = threading.Lock()

    def log(rec):
        with log_lock, open(args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def forward(self):
            rng = self.headers.get("Range")
            ranged_blob = self.command == "GET" and "/blobs/" in self.path and rng
            held = False
            if ranged_blob and args.hang_flag and os.path.exists(args.hang_flag):
                held = True
                log({"method": self.command, "path": self.path, "range": rng,
                     "holding": True})
                deadline = time.monotonic() + HOLD_MAX_S
                while os.path.exists(args.hang_flag) and time.monotonic() < deadline:
                    time.sleep(0.05)
            body_in = None
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                body_in = self.rfile.read(n)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
            up = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                up.request(self.command, self.path, body=body_in, headers=headers)
                resp = up.getresponse()
                body = resp.read()
                status, reason, rheaders = resp.status, resp.reason, resp.getheaders()
                length = resp.getheader("Content-Length")
            except OSError as e:
                self.send_error(502, "upstream: %s" % e)
                log({"method": self.command, "path": self.path, "range": rng,
                     "status": 502, "corrupted": False, "held": held})
                return
            finally:
                up.close()
            corrupted = False
            if (ranged_blob and status == 206 and body and args.corrupt_flag and
                    os.path.exists(args.corrupt_flag)):
                b = bytearray(body)
                b[len(b) // 2] ^= 0xFF
                body = bytes(b)
                corrupted = True
            self.send_response(status, reason)
            for k, v in rheaders:
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            if self.command == "HEAD":
                self.send_header("Content-Length", length or "0")
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            log({"method": self.command, "path": self.path, "range": rng,
                 "status": status, "corrupted": corrupted, "held": held})

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
