"""OpenTelemetry's own Python SDK and protobuf package sending audit log records to the
collector's otlp_http receiver (driven by Tests/CollectorTests/OTLPTests.swift).

  otel_interop.py sdk  BASE_URL TOKEN N   the real OTLPLogExporter (protobuf, gzip); prints the event ids
  otel_interop.py json BASE_URL TOKEN N   an ExportLogsServiceRequest built with opentelemetry-proto,
                                          sent as OTLP/JSON, with one record lacking gen_ai.agent.id;
                                          prints the event ids, then the HTTP status and response body
  otel_interop.py receive PORT_FILE - 0   a one-shot OTLP endpoint: 503 first, then decodes the
                                          collector's export with opentelemetry-proto and prints it
"""
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

mode, base, token, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])  # receive: base is PORT_FILE
session = str(uuid.uuid4())
ids = [str(uuid.uuid4()) for _ in range(count)]

if mode == "sdk":
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    exporter = OTLPLogExporter(endpoint=base + "/v1/logs", headers={"Authorization": "Bearer " + token},
                               compression=Compression.Gzip, timeout=120)
    provider = LoggerProvider(resource=Resource.create({"service.name": "billing-agent"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("audit-interop", "1.0")
    for i, event_id in enumerate(ids):
        logger.emit(LogRecord(
            timestamp=time.time_ns(), severity_number=SeverityNumber.INFO, severity_text="INFO",
            body="tool call %d" % i, event_name="tool.call",
            attributes={"gen_ai.agent.id": "agent-%d" % (i % 3), "session.id": session,
                        "gen_ai.audit.event_id": event_id, "tool": "search", "n": i, "ratio": 0.5}))
    provider.shutdown()
    print(json.dumps({"session": session, "ids": ids}))
elif mode == "json":
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

    def kv(key, **value):
        return KeyValue(key=key, value=AnyValue(**value))

    records = []
    for i, event_id in enumerate(ids):
        records.append(LogRecord(
            time_unix_nano=time.time_ns(), severity_number=13, severity_text="WARN", event_name="policy.denied",
            body=AnyValue(string_value="denied %d" % i), trace_id=bytes(range(16)), span_id=bytes(range(8)),
            attributes=[kv("gen_ai.agent.id", string_value="json-agent"), kv("session.id", string_value=session),
                        kv("gen_ai.audit.event_id", string_value=event_id), kv("count", int_value=i)]))
    records.append(LogRecord(event_name="tool.call", attributes=[kv("session.id", string_value=session)]))
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])])
    body = MessageToDict(request)
    # OTLP/JSON differs from protobuf's JSON mapping in one place: trace and span ids are hex.
    for record in body["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        if "traceId" in record:
            record["traceId"], record["spanId"] = bytes(range(16)).hex(), bytes(range(8)).hex()
    post = urllib.request.Request(base + "/v1/logs", data=json.dumps(body).encode(), method="POST",
                                  headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    print(json.dumps({"session": session, "ids": ids}))
    try:
        # The test asserts the answer, not its speed: a busy two-core machine running the
        # whole suite has held one for over 10 s.
        with urllib.request.urlopen(post, timeout=120) as response:
            print(response.status)
            print(response.read().decode())
    except urllib.error.HTTPError as error:
        print(error.code)
        print(error.read().decode())
elif mode == "receive":
    # A one-shot OTLP endpoint: answers the first POST 503 with Retry-After: 1 (retryable),
    # decodes the second with opentelemetry-proto and prints it as JSON, then exits.
    # Arguments: receive PORT_FILE - - (the port is written to PORT_FILE once listening).
    import gzip
    import http.server
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse

    state = {"requests": 0, "done": False}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["requests"] += 1
            if state["requests"] == 1:
                self.send_response(503)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportLogsServiceRequest.FromString(body)
            print(json.dumps({"requests": state["requests"], "path": self.path,
                              "content_type": self.headers.get("Content-Type"),
                              "request": MessageToDict(request)}))
            sys.stdout.flush()
            reply = ExportLogsServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply)
            self.close_connection = True
            state["done"] = True

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    with open(base, "w") as port_file:
        port_file.write(str(server.server_address[1]))
    server.timeout = 30
    while not state["done"]:
        server.handle_request()
