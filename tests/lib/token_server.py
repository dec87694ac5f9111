#!/usr/bin/env python3
"""A minimal Docker registry token server (distribution's "token" auth) for tests.

Speaks the protocol of distribution's docs/spec/auth/token.md:

    GET /token?service=SERVICE&scope=repository:NAME:pull,push[&scope=...]
    Authorization: Basic base64(user:pass)

and answers {"token", "access_token", "expires_in", "issued_at"} with an RS256
JWT whose header carries the signing certificate in "x5c" (the registry trusts
it because the same certificate is in its auth.token.rootcertbundle). The
signature comes from `openssl dgst -sha256 -sign KEY`: Python's stdlib has no
RSA, and a subprocess per token is cheap enough for tests.

POST /token with an OAuth2 password grant (form fields grant_type=password,
username, password, service, scope) works too; refresh tokens do not (400).

Requests without valid credentials get 401; a valid user gets every
action it asks for (the registry is what enforces scopes; tests only need to
tell "no token" from "a token for repository X").

Knobs (so tests can make tokens expire and count token fetches):
  --lifetime SECONDS      expires_in and exp - iat (default 300).
  --lifetime-file PATH    if this file exists, its integer content overrides
                          --lifetime for each new token (change it mid-test).
  --exp-shift SECONDS     added to the exp claim only (not to expires_in).
                          distribution accepts tokens up to 60 s past exp
                          (leeway), so -60 makes the registry reject a token
                          as soon as expires_in has run out.
  --log PATH              one JSON line per request: time, user, scopes, status.
  --port-file PATH        the server binds 127.0.0.1:0 and writes the port it
                          got here once it is listening (no port race).
"""

import argparse
import base64
import datetime
import json
import os
import subprocess
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pem_to_der_b64(pem_path):
    """The x5c header wants standard base64 of the DER certificate, which is
    exactly the body of the PEM file."""
    with open(pem_path, "r", encoding="ascii") as f:
        lines = f.read().splitlines()
    body = []
    inside = False
    for line in lines:
        if line.startswith("-----BEGIN CERTIFICATE"):
            inside = True
        elif line.startswith("-----END CERTIFICATE"):
            break
        elif inside:
            body.append(line.strip())
    if not body:
        raise ValueError("no certificate in " + pem_path)
    return "".join(body)


def parse_scope(scope):
    """repository:NAME:pull,push -> {type, name, actions}. NAME may itself
    contain ':' only in the registry:catalog:* form, so split from both ends."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    rtype = parts[0]
    actions = [a for a in parts[-1].split(",") if a]
    name = ":".join(parts[1:-1])
    return {"type": rtype, "name": name, "actions": actions}


class TokenHandler(BaseHTTPRequestHandler):
    server_version = "clipfs-test-token/1"

    def log_message(self, fmt, *args):  # keep stderr for real problems
        pass

    def _log(self, record):
        path = self.server.opts.log
        if not path:
            return
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _reply(self, status, body, headers=None):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _user(self):
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode(
                "utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return self._check_password(user, password)

    def _lifetime(self):
        opts = self.server.opts
        if opts.lifetime_file and os.path.exists(opts.lifetime_file):
            try:
                with open(opts.lifetime_file, "r", encoding="ascii") as f:
                    return int(f.read().strip())
            except ValueError:
                pass
        return opts.lifetime

    def _check_password(self, user, password):
        opts = self.server.opts
        return user if (user == opts.user and password == opts.password) else None

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/health":  # readiness probe, not logged
            self._reply(200, {})
            return
        query = parse_qs(url.query)
        self._issue("GET", url.path, query.get("service", [""])[0],
                    query.get("scope", []), self._user())

    def do_POST(self):
        """OAuth2 form (grant_type=password), as containerd tries first.
        Refresh tokens are not supported: 400, so clients fall back to GET."""
        url = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > 65536:
            self._reply(400, {"error": "invalid_request"})
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        if form.get("grant_type", [""])[0] != "password":
            self._log({"time": time.time(), "method": "POST", "path": url.path,
                       "grant_type": form.get("grant_type", [""])[0],
                       "status": 400})
            self._reply(400, {"error": "unsupported_grant_type"})
            return
        user = self._check_password(form.get("username", [""])[0],
                                    form.get("password", [""])[0])
        scopes = []
        for s in form.get("scope", []):
            scopes.extend(x for x in s.split(" ") if x)
        self._issue("POST", url.path, form.get("service", [""])[0], scopes, user)

    def _issue(self, method, path, service, scopes, user):
        record = {"time": time.time(), "method": method, "path": path,
                  "service": service, "scopes": scopes, "user": user}
        if path != "/token":
            record["status"] = 404
            self._log(record)
            self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        if user is None:
            record["status"] = 401
            self._log(record)
            self._reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                          "message": "basic credentials required"}]},
                        {"WWW-Authenticate": 'Basic realm="clipfs-test"'})
            return

        opts = self.server.opts
        access = []
        for s in scopes:
            for one in s.split(" "):
                parsed = parse_scope(one) if one else None
                if parsed:
                    access.append(parsed)
        now = int(time.time())
        lifetime = self._lifetime()
        claims = {
            "iss": opts.issuer,
            "sub": user,
            "aud": service or opts.service,
            "exp": now + lifetime + opts.exp_shift,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.server.x5c]}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode())
                         + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", opts.key],
            input=signing_input.encode("ascii"), capture_output=True,
            check=True, timeout=10).stdout
        token = signing_input + "." + b64url(sig)
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        record["status"] = 200
        record["jti"] = claims["jti"]
        record["lifetime"] = lifetime
        self._log(record)
        self._reply(200, {"token": token, "access_token": token,
                          "expires_in": lifetime,
                          "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%SZ")})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--key", required=True, help="PEM private key (RSA)")
    p.add_argument("--cert", required=True, help="PEM certificate of --key")
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--lifetime", type=int,
                   default=int(os.environ.get("TOKEN_LIFETIME", "300")))
    p.add_argument("--lifetime-file")
    p.add_argument("--exp-shift", type=int,
                   default=int(os.environ.get("TOKEN_EXP_SHIFT", "0")))
    p.add_argument("--log")
    p.add_argument("--port-file", required=True)
    opts = p.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenHandler)
    server.daemon_threads = True
    server.opts = opts
    server.x5c = pem_to_der_b64(opts.cert)
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, opts.port_file)  # readers never see a half-written file
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
