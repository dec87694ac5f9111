#!/usr/bin/env python3
"""A misbehaving registry for tests/registry-client.test.

usage: registry-fake-server.py PORT LAYOUT_DIR USER:PASS LOGFILE
Serves the blobs and manifest "t" of an OCI layout under any repository
name, requiring HTTP basic auth, with behaviour chosen by the first
repository component:
  norange/...   blob GETs ignore Range and answer 200 with the whole blob
  redirect/...  blob GETs answer 307 to http://localhost:PORT/direct/DIGEST
                (another host: Authorization must not follow)
  flaky/...     the first GET of each blob sends half the body and closes
anything else behaves.  /direct/ logs whether Authorization came along.
"""
import base64, http.server, json, os, re, sys

port, layout, userpass, logfile = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
want = "Basic " + base64.b64encode(userpass.encode()).decode()
seen = set()

def log(s):
    with open(logfile, "a") as f:
        f.write(s + "\n")

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def send_blob(self, path, honour_range=True, truncate=False):
        data = open(path, "rb").read()
        rng = self.headers.get("Range")
        m = re.match(r"bytes=(\d+)-(\d*)$", rng or "")
        if honour_range and m:
            a = int(m.group(1)); b = int(m.group(2)) if m.group(2) else len(data) - 1
            b = min(b, len(data) - 1)
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (a, b, len(data)))
            data = data[a:b + 1]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if truncate:
            self.wfile.write(data[:len(data) // 2]); self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)
    def do_GET(self):
        p = self.path
        if p.startswith("/direct/"):
            log("direct auth=%s" % ("yes" if self.headers.get("Authorization") else "no"))
            return self.send_blob(layout + "/blobs/sha256/" + p[len("/direct/sha256:"):])
        if self.headers.get("Authorization") != want:
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"auth required"}]}'
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="fake"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers(); self.wfile.write(body); return
        m = re.match(r"/v2/(([a-z]+)/[a-z/]+)/(manifests|blobs)/(.+)$", p)
        if not m:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        kind, mode, ref = m.group(3), m.group(2), m.group(4)
        if kind == "manifests":
            idx = json.load(open(layout + "/index.json"))
            d = [x for x in idx["manifests"] if x.get("annotations", {}).get(
                "org.opencontainers.image.ref.name") == ref or x["digest"] == ref][0]
            data = open(layout + "/blobs/sha256/" + d["digest"][7:], "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", d["mediaType"])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers(); self.wfile.write(data); return
        path = layout + "/blobs/sha256/" + ref[7:]
        log("blob %s range=%s" % (mode, self.headers.get("Range", "none")))
        if mode == "redirect":
            self.send_response(307)
            self.send_header("Location", "http://localhost:%s/direct/%s" % (port, ref))
            self.send_header("Content-Length", "0")
            self.end_headers(); return
        if mode == "flaky" and ref not in seen:
            seen.add(ref)
            return self.send_blob(path, truncate=True)
        return self.send_blob(path, honour_range=(mode != "norange"))

http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H).serve_forever()
