"""One address in front of two collectors, as a load balancer would put them: a gate's creation
(POST /api/v1/bridge/gates/{id}) goes to the first upstream, every other request to the second.
Prints "port N" once listening, then one line per request: "<upstream index> <method> <path> <status>".

  split_proxy.py FIRST_BASE_URL SECOND_BASE_URL     (loopback URLs, e.g. http://127.0.0.1:4320)
"""
import http.client
import re
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAMS = [urllib.parse.urlsplit(u) for u in sys.argv[1:3]]
for u in UPSTREAMS:
    assert u.hostname in ("127.0.0.1", "::1", "localhost"), "loopback upstreams only"
GATE_CREATION = re.compile(r"^/api/v1/bridge/gates/[^/]+$")


class Split(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        index = 0 if self.command == "POST" and GATE_CREATION.match(self.path) else 1
        upstream = UPSTREAMS[index]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        connection.request(self.command, self.path, body=body or None, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        connection.close()
        print(index, self.command, self.path, answer.status, flush=True)

    do_GET = do_POST = forward

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Split)
print("port", server.server_port, flush=True)
server.serve_forever()
