#!/usr/bin/env python3
"""A tiny token server for tests/registry-client.test (docker token auth).

usage: registry-token-server.py PORT KEY CERT USER:PASS LOGFILE
Grants pull on the requested repository to USER:PASS, nothing to anyone
else.  Tokens are RS256 JWTs signed with `openssl dgst`, the signing cert
in the x5c header.  Each request is appended to LOGFILE (one line).
"""
import base64, http.server, json, subprocess, sys, time, urllib.parse, os

port, key, cert, userpass, logfile = sys.argv[1:6]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                     check=True, capture_output=True).stdout

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def sign(claims):
    head = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
    msg = b64u(json.dumps(head).encode()) + "." + b64u(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=msg.encode(),
                         check=True, capture_output=True).stdout
    return msg + "." + b64u(sig)

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        auth = self.headers.get("Authorization", "")
        ok = auth == "Basic " + base64.b64encode(userpass.encode()).decode()
        with open(logfile, "a") as f:
            f.write("token %s auth=%s\n" % (q.get("scope", [""])[0], "yes" if ok else "no"))
        if auth and not ok:
            self.send_response(401); self.end_headers(); return
        access = []
        scope = q.get("scope", [""])[0].split(":")
        if ok and len(scope) == 3:
            access = [{"type": scope[0], "name": scope[1], "actions": ["pull", "push"]}]
        now = int(time.time())
        tok = sign({"iss": "test-issuer", "sub": "x", "aud": q.get("service", [""])[0],
                    "exp": now + 300, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(),
                    "access": access})
        body = json.dumps({"token": tok, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("127.0.0.1", int(port)), H).serve_forever()
