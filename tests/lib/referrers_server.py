#!/usr/bin/env python3
"""referrers_server.py: canned referrer lists, paged with Link headers.

Usage:
    referrers_server.py --port-file FILE --log FILE --subject DIGEST

Listens on 127.0.0.1 (a free port, written to --port-file once it is
listening), no auth.  For the repository MODE/app (MODE picks the
behaviour) it answers GET /v2/MODE/app/referrers/SUBJECT with an OCI image
index of referrers, paged with Link headers as the OCI distribution spec
allows (a page names the next with Link: <URL>; rel="next"), and GET
/v2/MODE/app/manifests/ARTIFACT with the clipfs index artifact listed.
The index artifact (its .clip digest is sha256 of b"clip") sits on the
last page; the pages before hold foreign referrers (SBOMs, signatures).

  paged     3 pages: page 2 named by a path, page 3 by an absolute URL on
            this host, in a Link header that also has rel="prev"
  tagpaged  no referrers API (404); the referrers tag sha256-HEX is page
            1 of 2, page 2 named by a path
  loop      page 1 -> page 2 -> page 1 -> ... (never the artifact)
  endless   page k -> page k+1, forever (never the artifact)
  offhost   page 1 names page 2 on another host (127.0.0.2)
  onepage   one page, with the artifact (no Link)

Every request is logged to --log as one line: "GET PATH".
"""

import argparse
import hashlib
import http.server
import json
import os
import re

ARTIFACT_TYPE = "application/vnd.clipfs.index.v2"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CLIP_DIGEST = "sha256:" + hashlib.sha256(b"clip").hexdigest()


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def artifact(subject):
    return dumps({
        "schemaVersion": 2, "mediaType": MT_MANIFEST, "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                   "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2},
        "layers": [{"mediaType": ARTIFACT_TYPE, "digest": CLIP_DIGEST, "size": 4}],
        "subject": {"mediaType": MT_MANIFEST, "digest": subject, "size": 100},
        "annotations": {"org.clipfs.index.format": "2.0"}})


def foreign(k):
    body = dumps({"k": k})
    return {"mediaType": MT_MANIFEST, "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "size": len(body), "artifactType": "application/spdx+json"}


def ours(subject):
    a = artifact(subject)
    return {"mediaType": MT_MANIFEST, "digest": "sha256:" + hashlib.sha256(a).hexdigest(),
            "size": len(a), "artifactType": ARTIFACT_TYPE,
            "annotations": {"org.clipfs.index.format": "2.0",
                            "org.opencontainers.image.created": "2026-01-01T00:00:00Z"}}


def index(entries):
    return dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--subject", required=True)
    args = ap.parse_args()
    subject = args.subject
    tag = subject.replace(":", "-")
    art = artifact(subject)
    art_digest = "sha256:" + hashlib.sha256(art).hexdigest()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, status, body=b"", ctype=MT_INDEX, link=None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if link:
                self.send_header("Link", link)
            self.end_headers()
            self.wfile.write(body)

        def page(self, mode, k):
            """Page k (1-based) of mode's list: (body, Link or None)."""
            base = "/v2/%s/app/referrers/%s" % (mode, subject)
            port = self.server.server_address[1]
            if mode == "paged":
                if k == 1:
                    return index([foreign(1), foreign(2)]), '<%s?n=2&last=b>; rel="next"' % base
                if k == 2:
                    return index([foreign(3)]), ('<%s>; rel="prev", <http://127.0.0.1:%d%s?n=2&last=c>; '
                                                 'rel="next"' % (base, port, base))
                return index([foreign(4), ours(subject)]), None
            if mode == "tagpaged":
                if k == 1:
                    return index([foreign(1)]), '</v2/tagpaged/app/tagpage/2>; rel=next'
                return index([ours(subject)]), None
            if mode == "loop":
                return index([foreign(k)]), '<%s?page=%d>; rel="next"' % (base, 2 if k == 1 else 1)
            if mode == "endless":
                return index([foreign(k)]), '<%s?page=%d>; rel="next"' % (base, k + 1)
            if mode == "offhost":
                return index([foreign(1)]), '<http://127.0.0.2:%d%s?page=2>; rel="next"' % (port, base)
            return index([ours(subject)]), None

        def send_page(self, mode, k):
            body, link = self.page(mode, k)
            return self.reply(200, body, link=link)

        def do_GET(self):
            with open(args.log, "a") as f:
                f.write("GET %s\n" % self.path)
            m = re.match(r"/v2/([a-z]+)/app/(referrers|manifests|tagpage)/([^?]+)(?:\?(.*))?$",
                         self.path)
            if not m:
                return self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}', "application/json")
            mode, kind, ref, query = m.group(1), m.group(2), m.group(3), m.group(4) or ""
            if kind == "manifests" and ref == art_digest:
                return self.reply(200, art, MT_MANIFEST)
            k = 1
            q = re.search(r"(?:page=(\d+)|last=([a-z]))", query)
            if q:
                k = int(q.group(1)) if q.group(1) else ord(q.group(2)) - ord("a") + 1
            if kind == "referrers" and ref == subject and mode != "tagpaged":
                return self.send_page(mode, k)
            if mode == "tagpaged" and kind == "manifests" and ref == tag:
                return self.send_page(mode, 1)
            if mode == "tagpaged" and kind == "tagpage":
                return self.send_page(mode, int(ref))
            return self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', "application/json")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
