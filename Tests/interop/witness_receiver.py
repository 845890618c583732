"""An HTTPS checkpoint witness for Tests/CollectorTests/CheckpointWitnessTests.swift. It checks
each checkpoint it is sent with verify_checkpoint.py's open_checkpoint (hashlib and
`cryptography`, no collector code) against the log's public key.

  witness_receiver.py PORT_FILE OUT_FILE VKEY CERT KEY TOKEN FAIL_FIRST

Listens with TLS on 127.0.0.1 (a free port, written to PORT_FILE). Each POST appends one JSON
line to OUT_FILE: the status answered, whether the bearer token matched, the signature verdict,
the tree size in the note and in X-Governance-Checkpoint-Size. The first FAIL_FIRST requests
are answered 503, the rest 200 (a bad signature or token: 403).
"""
import json
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify_checkpoint import open_checkpoint  # noqa: E402

port_file, out_file, vkey, cert, key, token, fail_first = sys.argv[1:8]
fail_first = int(fail_first)
lock = threading.Lock()
seen = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        record = {"token_ok": self.headers.get("Authorization") == "Bearer " + token,
                  "header_size": int(self.headers.get("X-Governance-Checkpoint-Size", "-1")),
                  "content_type": self.headers.get("Content-Type")}
        try:
            _, record["size"], _ = open_checkpoint(body, vkey)
            record["verified"] = True
        except Exception as e:  # a bad signature, or not a note at all
            record["verified"], record["error"] = False, f"{type(e).__name__}: {e}"
        with lock:
            seen += 1
            if seen <= fail_first:
                status = 503
            else:
                status = 200 if record["verified"] and record["token_ok"] else 403
            record["status"] = status
            with open(out_file, "a") as f:
                f.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
