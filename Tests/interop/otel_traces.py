"""OpenTelemetry's Python exporters, grpcio and the reference SDK's OTelExporter sending spans and
logs to the collector's otlp receiver (driven by Tests/CollectorTests/OTLPTracesTests.swift).

  otel_traces.py genai PROTOCOL ENDPOINT TOKEN [CA_FILE]
      the real OTLPSpanExporter (http: ENDPOINT is the base URL; grpc: host:port, over TLS verified
      against CA_FILE when given) exports one GenAI
      conversation, invoke_agent -> chat + execute_tool (the tool span fails), plus one span with no
      GenAI attributes; the same spans are exported twice. Prints the trace and span ids as JSON.
  otel_traces.py logs PROTOCOL ENDPOINT TOKEN N
      the real OTLPLogExporter sends N audit log records; prints their event ids.
  otel_traces.py sdk PROTOCOL ENDPOINT TOKEN DSN SECRET N
      a real GovernanceSDK writing N events to its own PostgreSQL (DSN), with the SDK's OTelExporter
      subscribed and a TracerProvider exporting its spans to the collector; prints the SDK's records.
  otel_traces.py marked PROTOCOL ENDPOINT TOKEN
      the real OTLPSpanExporter exports spans with the attributes traceloop-sdk 0.62.4 and
      langfuse 5.2.0 were seen to send (docs/agent-stacks.md), an older Traceloop LLM span
      (llm.request.type, no operation name), and a span with only gen_ai.conversation.id. Prints
      the span names and ids as JSON. (The attributes are written here: the stacks are not run.)
  otel_traces.py metrics PROTOCOL ENDPOINT TOKEN
      a MeterProvider records what a GenAI instrumentation does (gen_ai.client.token.usage and
      gen_ai.client.operation.duration histograms) and a plain counter, and the real
      OTLPMetricExporter (gzip) exports them; prints the export result and the data points sent.
  otel_traces.py raw ENDPOINT TOKEN CASE
      grpcio calling TraceService/Export with a hand-made body; prints the status code, details and
      any RetryInfo delay as JSON. CASE: garbage, no-token, bad-token, oversized, many (10,001 spans), valid.
"""
import json
import sys
import time
import uuid

mode = sys.argv[1]


# A deadline, not a measure: under the parallel suite on a busy 2-core machine an export (a TLS
# handshake, a first gRPC connection, a commit) can take longer than the SDK's 10 s default.
EXPORT_DEADLINE = 60


def span_exporter(protocol, endpoint, token, ca_file=None):
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter(endpoint=endpoint + "/v1/traces", headers={"Authorization": "Bearer " + token},
                                compression=Compression.Gzip, timeout=EXPORT_DEADLINE)
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    if ca_file:
        with open(ca_file, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        return OTLPSpanExporter(endpoint=endpoint, insecure=False, credentials=credentials,
                                headers={"authorization": "Bearer " + token}, compression=grpc.Compression.Gzip, timeout=EXPORT_DEADLINE)
    return OTLPSpanExporter(endpoint=endpoint, insecure=True, headers={"authorization": "Bearer " + token},
                            compression=grpc.Compression.Gzip, timeout=EXPORT_DEADLINE)


def log_exporter(protocol, endpoint, token):
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        return OTLPLogExporter(endpoint=endpoint + "/v1/logs", headers={"Authorization": "Bearer " + token}, timeout=EXPORT_DEADLINE)
    from grpc import Compression
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    return OTLPLogExporter(endpoint=endpoint, insecure=True, headers={"authorization": "Bearer " + token},
                           compression=Compression.Gzip, timeout=EXPORT_DEADLINE)


class Collect:
    """A span processor that keeps the finished spans, so the test exports them itself (twice)."""
    def __init__(self):
        self.spans = []

    def on_start(self, span, parent_context=None):
        pass

    def on_end(self, span):
        self.spans.append(span)

    def _on_ending(self, span):
        pass

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True


if mode == "genai":
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.trace import Status, StatusCode

    protocol, endpoint, token = sys.argv[2:5]
    ca_file = sys.argv[5] if len(sys.argv) > 5 else None
    conversation = "conv-" + uuid.uuid4().hex[:12]
    collect = Collect()
    provider = TracerProvider(resource=Resource.create({"service.name": "travel-service"}))
    provider.add_span_processor(collect)
    tracer = provider.get_tracer("genai-interop", "1.0")
    with tracer.start_as_current_span("invoke_agent travel-planner", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "travel-planner", "gen_ai.agent.id": "agent-7",
            "gen_ai.conversation.id": conversation, "gen_ai.provider.name": "openai"}):
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.conversation.id": conversation, "gen_ai.agent.id": "agent-7",
                "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 42,
                "gen_ai.response.finish_reasons": ["tool_calls"]}):
            pass
        with tracer.start_as_current_span("execute_tool search_flights", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.conversation.id": conversation, "gen_ai.agent.id": "agent-7",
                "gen_ai.tool.name": "search_flights", "gen_ai.tool.call.id": "call_1"}) as tool:
            tool.set_status(Status(StatusCode.ERROR, "upstream timeout"))
            tool.set_attribute("error.type", "TimeoutError")
        with tracer.start_as_current_span("GET /health"):
            pass
    exporter = span_exporter(protocol, endpoint, token, ca_file)
    results = [exporter.export(collect.spans) for _ in range(2)]
    exporter.shutdown()
    ids = {s.name.split(" ")[0]: {"span_id": format(s.context.span_id, "016x"),
                                  "parent": format(s.parent.span_id, "016x") if s.parent else None} for s in collect.spans}
    print(json.dumps({"ok": all(r == SpanExportResult.SUCCESS for r in results), "conversation": conversation,
                      "trace_id": format(collect.spans[0].context.trace_id, "032x"), "spans": ids}))

elif mode == "logs":
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    protocol, endpoint, token, count = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    session, ids = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(count)]
    provider = LoggerProvider(resource=Resource.create({"service.name": "billing-agent"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter(protocol, endpoint, token)))
    logger = provider.get_logger("audit-interop", "1.0")
    for i, event_id in enumerate(ids):
        logger.emit(LogRecord(timestamp=time.time_ns(), severity_number=SeverityNumber.INFO, event_name="tool.call",
                              attributes={"gen_ai.agent.id": "agent-%d" % (i % 3), "session.id": session,
                                          "gen_ai.audit.event_id": event_id, "n": i}))
    provider.shutdown()
    print(json.dumps({"session": session, "ids": ids}))

elif mode == "sdk":
    import asyncio
    import os

    protocol, endpoint, token, dsn, secret, count = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])
    os.environ.setdefault("GOVERNANCE_AUDIT_SECRET", secret)
    from codeatelier_governance.audit.models import AuditEvent
    from codeatelier_governance.audit.otel_exporter import OTelExporter
    from codeatelier_governance.sdk import GovernanceSDK
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-host"}))
    provider.add_span_processor(SimpleSpanProcessor(span_exporter(protocol, endpoint, token)))

    async def main():
        session = uuid.uuid4()
        records = []
        async with GovernanceSDK(database_url=dsn, audit_secret=secret.encode()) as sdk:
            sdk.audit.subscribe(OTelExporter(tracer=provider.get_tracer("codeatelier_governance.audit")))
            parent = None
            for i in range(count):
                record = await sdk.audit.log(AuditEvent(
                    session_id=session, agent_id="sdk-agent-%d" % (i % 2), parent_event_id=parent,
                    kind="tool.call" if i % 3 else "policy.denied", input_hash="in%d" % i,
                    metadata={"tool": "search", "n": i, "nested": {"a": 1}}))
                parent = record.event_id
                records.append({"event_id": str(record.event_id), "session_id": str(record.session_id),
                                "agent_id": record.agent_id, "kind": record.kind, "hmac": record.hmac})
        # sdk.audit.log awaits its subscribers, and SimpleSpanProcessor exports as each span ends.
        provider.force_flush()
        provider.shutdown()
        print(json.dumps(records))

    asyncio.run(main())

elif mode == "marked":
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult

    protocol, endpoint, token = sys.argv[2:5]
    collect = Collect()
    provider = TracerProvider(resource=Resource.create({"service.name": "trip-app"}))
    provider.add_span_processor(collect)
    tracer = provider.get_tracer("marked-interop", "1.0")
    # As traceloop-sdk 0.62.4 sends them: every span has the association properties; spans
    # under @agent carry gen_ai.agent.name; the LLM spans name their operation.
    session = {"traceloop.association.properties.session_id": "sess-traceloop-1", "traceloop.workflow.name": "travel"}
    agent = {"gen_ai.agent.name": "planner"}
    with tracer.start_as_current_span("travel.workflow", attributes={**session, "traceloop.span.kind": "workflow", "traceloop.entity.name": "travel"}):
        with tracer.start_as_current_span("planner.agent", attributes={**session, "traceloop.span.kind": "agent", "traceloop.entity.name": "planner"}):
            with tracer.start_as_current_span("search_flights.tool", attributes={
                    **session, **agent, "traceloop.span.kind": "tool", "traceloop.entity.name": "search_flights", "gen_ai.tool.name": "search_flights"}):
                pass
            with tracer.start_as_current_span("openai.chat", attributes={
                    **session, **agent, "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20}):
                pass
            with tracer.start_as_current_span("legacy.chat", attributes={**session, "gen_ai.system": "openai", "llm.request.type": "chat",
                                                                         "gen_ai.request.model": "gpt-4o"}):
                pass
    # As langfuse 5.2.0 sends them: the agent and tool are named only by their spans, usage is
    # a JSON string with OpenAI's key names, every span has session.id.
    langfuse_session = {"session.id": "sess-langfuse-1", "user.id": "user-1"}
    with tracer.start_as_current_span("handle request", attributes={**langfuse_session, "langfuse.observation.type": "span",
                                                                    "langfuse.internal.is_app_root": True}):
        with tracer.start_as_current_span("trip-agent", attributes={**langfuse_session, "langfuse.observation.type": "agent"}):
            with tracer.start_as_current_span("OpenAI-generation", attributes={
                    **langfuse_session, "langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4o-mini-2024-07-18",
                    "langfuse.observation.usage_details": json.dumps({"completion_tokens": 10, "prompt_tokens": 50, "total_tokens": 60})}):
                pass
            with tracer.start_as_current_span("lookup_weather", attributes={**langfuse_session, "langfuse.observation.type": "tool"}):
                pass
    with tracer.start_as_current_span("plain request", attributes={"gen_ai.conversation.id": "conv-plain-1"}):
        pass
    exporter = span_exporter(protocol, endpoint, token)
    result = exporter.export(collect.spans)
    exporter.shutdown()
    print(json.dumps({"ok": result == SpanExportResult.SUCCESS,
                      "spans": {s.name: {"trace_id": format(s.context.trace_id, "032x"), "span_id": format(s.context.span_id, "016x")}
                                for s in collect.spans}}))

elif mode == "metrics":
    protocol, endpoint, token = sys.argv[2:5]
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        exporter = OTLPMetricExporter(endpoint=endpoint + "/v1/metrics", headers={"Authorization": "Bearer " + token},
                                      compression=Compression.Gzip, timeout=EXPORT_DEADLINE)
    else:
        from grpc import Compression
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        exporter = OTLPMetricExporter(endpoint=endpoint, insecure=True, headers={"authorization": "Bearer " + token},
                                      compression=Compression.Gzip, timeout=EXPORT_DEADLINE)
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("agent-app")
    usage = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    for model, tokens in [("gpt-4o", (120, 30)), ("gpt-4o-mini", (80, 12))]:
        for kind, n in zip(("input", "output"), tokens):
            usage.record(n, {"gen_ai.operation.name": "chat", "gen_ai.request.model": model, "gen_ai.token.type": kind})
        duration.record(0.4, {"gen_ai.operation.name": "chat", "gen_ai.request.model": model})
    meter.create_counter("app.requests").add(3, {"route": "/run"})
    data = reader.get_metrics_data()
    points = {m.name: len(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    print(json.dumps({"result": exporter.export(data).name, "points": points}))

elif mode == "raw":
    import grpc
    from google.rpc import error_details_pb2, status_pb2
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    endpoint, token, case = sys.argv[2], sys.argv[3], sys.argv[4]
    span = Span(trace_id=uuid.uuid4().bytes, span_id=uuid.uuid4().bytes[:8], name="chat",
                start_time_unix_nano=time.time_ns(), end_time_unix_nano=time.time_ns(),
                attributes=[KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
                            KeyValue(key="gen_ai.agent.id", value=AnyValue(string_value="raw-agent"))])
    body = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]).SerializeToString()
    if case == "garbage":
        body = b"\x0a\xff\xff\xff\xff\x0f"
    elif case == "many":
        spans = [Span(trace_id=span.trace_id, span_id=uuid.uuid4().bytes[:8], name="chat", attributes=span.attributes) for _ in range(10_001)]
        body = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]).SerializeToString()
    elif case == "oversized":
        big = KeyValue(key="pad", value=AnyValue(string_value="x" * (5 << 20)))
        span.attributes.append(big)
        body = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]).SerializeToString()
    metadata = [] if case == "no-token" else [("authorization", "Bearer " + (token if case != "bad-token" else "wf_wrong"))]
    channel = grpc.insecure_channel(endpoint, options=[("grpc.max_send_message_length", 64 << 20)])
    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                 request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        reply = export(body, metadata=metadata, timeout=EXPORT_DEADLINE)
        response = ExportTraceServiceResponse.FromString(reply)
        print(json.dumps({"code": "OK", "rejected": response.partial_success.rejected_spans,
                          "message": response.partial_success.error_message}))
    except grpc.RpcError as error:
        delay = None
        for key, value in error.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                status = status_pb2.Status.FromString(value)
                for detail in status.details:
                    if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                        info = error_details_pb2.RetryInfo()
                        detail.Unpack(info)
                        delay = info.retry_delay.seconds
        print(json.dumps({"code": error.code().name, "details": error.details(), "retry_delay": delay}))
