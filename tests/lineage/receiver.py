#!/usr/bin/python3
"""A tiny OpenLineage HTTP receiver for the tests.

usage: receiver.py PORTFILE OUT.ndjson [PORT]
Listens on 127.0.0.1 (PORT, default a free one, written to PORTFILE) and
appends {"auth": ..., "path": ..., "event": ...} per POST to OUT.ndjson.
"""
import json
import sys
from http.server import HTTPServer, BaseHTTPRequestHandler


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        rec = {"auth": self.headers.get("Authorization"), "path": self.path,
               "type": self.headers.get("Content-Type"), "event": json.loads(body)}
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer.allow_reuse_address = True
srv = HTTPServer(("127.0.0.1", int(sys.argv[3]) if len(sys.argv) > 3 else 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
