#!/usr/bin/env python3
"""corrupt_proxy.py: a misbehaving stand-in in front of a real registry.

Usage:
    corrupt_proxy.py --upstream HOST:PORT --port-file FILE --log FILE
                     [--corrupt-flag FILE] [--hang-flag FILE]
                     [--fault-file FILE]

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

  --fault-file FILE    while FILE exists, its first line selects a fault
                       for ranged blob GETs: "MODE [ARG] [once]" with MODE
                         500          answer 500 with a registry error body
                         503 [SECS]   answer 503 (with Retry-After: SECS
                                      when given)
                         close        read the request, close the
                                      connection without a byte of answer
                         short        send the real headers (status,
                                      Content-Length) and half the body,
                                      then close
                         stall        send the headers and half the body,
                                      then send nothing more until the
                                      client hangs up, the fault is
                                      switched off or 120 s pass
                       With "once", the first request that sees the fault
                       takes it (FILE is renamed to FILE.used) and later
                       requests pass through: a fault that happens once.

Every request is logged to --log as one JSON object per line: method,
path, range, status, corrupted, held, fault (once answered); a request being
held is logged when the hold starts, with "holding": true.  Upstream is
only ever 127.0.0.1.
"""

import argparse
import select
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
    ap.add_argument("--fault-file")
    args = ap.parse_args()
    host, _, port = args.upstream.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("upstream must be local")
    log_lock = threading.Lock()

    def log(rec):
        with log_lock, open(args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def take_fault():
        """The fault for this request, as a list of words, or None."""
        if not args.fault_file:
            return None
        try:
            with open(args.fault_file) as f:
                words = f.readline().split()
        except OSError:
            return None
        if not words:
            return None
        if "once" in words:
            try:
                # Only one request wins the rename: the fault happens once.
                os.rename(args.fault_file, args.fault_file + ".used")
            except OSError:
                return None
            words.remove("once")
            words.append("once")
        return words

    def fault_active(words):
        """Whether a stalled answer should keep stalling."""
        if "once" in words:
            return True
        try:
            with open(args.fault_file) as f:
                return f.readline().split()[:1] == words[:1]
        except OSError:
            return False

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def client_gone(self):
            r, _, _ = select.select([self.connection], [], [], 0.05)
            if not r:
                return False
            try:
                return self.connection.recv(1, 0x2) == b""  # MSG_PEEK
            except OSError:
                return True

        def error_answer(self, status, retry_after):
            body = json.dumps({"errors": [{"code": "UNAVAILABLE",
                                           "message": "injected fault %d" % status}]}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def forward(self):
            rng = self.headers.get("Range")
            ranged_blob = self.command == "GET" and "/blobs/" in self.path and rng
            held = False
            fault = take_fault() if ranged_blob else None
            if fault and fault[0] in ("500", "503", "close"):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                rec = {"method": self.command, "path": self.path, "range": rng,
                       "fault": " ".join(fault)}
                if fault[0] == "close":
                    self.close_connection = True
                    rec["status"] = 0
                else:
                    ra = fault[1] if len(fault) > 1 and fault[1] != "once" else None
                    self.error_answer(int(fault[0]), ra)
                    rec["status"] = int(fault[0])
                log(rec)
                return
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
            if fault and fault[0] in ("short", "stall") and status == 206 and len(body) > 1:
                self.send_response(status, reason)
                for k, v in rheaders:
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2])
                self.wfile.flush()
                rec = {"method": self.command, "path": self.path, "range": rng,
                       "status": status, "fault": " ".join(fault),
                       "sent": len(body) // 2, "length": len(body)}
                if fault[0] == "stall":
                    log(dict(rec, holding=True))
                    deadline = time.monotonic() + HOLD_MAX_S
                    while (time.monotonic() < deadline and fault_active(fault) and
                           not self.client_gone()):
                        pass
                self.close_connection = True
                log(rec)
                return
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
