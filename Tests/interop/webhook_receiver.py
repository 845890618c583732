"""A budget-alert webhook receiver that checks signatures with the reference SDK's own
verify_signature (codeatelier_governance.cost.webhook), driven by Tests/CollectorTests/BudgetTests.swift.

  webhook_receiver.py PORT_FILE OUT_FILE SECRET FAIL_FIRST

Listens on 127.0.0.1 (a free port, written to PORT_FILE). Each POST appends one JSON line to
OUT_FILE: the header and body signatures' verdicts, the X-Governance-Event header and the
payload. The first FAIL_FIRST requests are answered 500, the rest 200.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from codeatelier_governance.cost.webhook import verify_signature

port_file, out_file, secret, fail_first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lock = threading.Lock()
seen = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        payload = json.loads(body)
        header = self.headers.get("X-Governance-Signature", "")
        record = {
            "header_verified": verify_signature(payload, secret, header),
            "body_verified": verify_signature(payload, secret, payload.get("signature", "")),
            "event_header": self.headers.get("X-Governance-Event"),
            "payload": payload,
        }
        with lock:
            seen += 1
            status = 500 if seen <= fail_first else 200
            record["status"] = status
            with open(out_file, "a") as out:
                out.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))

os.rename(port_file + ".tmp", port_file)
server.serve_forever()
