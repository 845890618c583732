"""One small agent run (the user asks for the weather in Paris: chat -> get_weather tool call ->
chat) through a real agent instrumentation stack from PyPI, its spans exported to the collector's
otlp receiver (driven by Tests/CollectorTests/AgentStackTests.swift; each stack has its own
virtualenv, made by scripts/install-agent-stacks.sh).

  agent_stacks.py STACK PROTOCOL ENDPOINT TOKEN OPENAI_PORT

STACK: otelv2 (opentelemetry-instrumentation-openai-v2 and the app's own request and tool spans),
agents (openai-agents with openinference-instrumentation-openai-agents), traceloop (traceloop-sdk
with @workflow, @agent and @tool), langfuse (langfuse with @observe and its OpenAI wrapper).
PROTOCOL: http (ENDPOINT is the base URL) or grpc (host:port), or for langfuse `own`: Langfuse's
own exporter, configured only with the collector as its base URL and the workflow token as its
secret key (it posts to /api/public/otel/v1/traces with Basic auth; "exported" is then null). The model calls go to the fake
OpenAI server on 127.0.0.1:OPENAI_PORT; any connection or name lookup off loopback fails the run.
Each span is exported as it ends (children before their parents), as these stacks do by
default or with their "disable batch" switch. The stacks that emit the GenAI metrics (otelv2,
traceloop) also export them to the collector, once, as the process ends. Prints {"ok",
"exported", "metrics_ok", "answer"} as JSON.
"""
import json
import os
import socket
import sys

stack, protocol, endpoint, token, openai_port = sys.argv[1:6]
openai_url = "http://127.0.0.1:%s/v1" % openai_port
os.environ.update({"OPENAI_BASE_URL": openai_url, "OPENAI_API_KEY": "not-a-key", "OTEL_SERVICE_NAME": "weather-app",
                   "TRACELOOP_TELEMETRY": "false", "OTEL_SDK_DISABLED": "false"})
os.environ.pop("TRACELOOP_API_KEY", None)


def loopback_only():
    """Never reach a model provider or anything else: every address off loopback is refused."""
    def loopback(host):
        host = host.decode() if isinstance(host, bytes) else str(host)
        return host in ("localhost", "::1") or host.startswith("127.")
    connect, lookup = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            raise SystemExit("agent_stacks.py: %s tried to connect to %r" % (stack, address))
        return connect(self, address)

    def guarded_lookup(host, *args, **kwargs):
        if host is not None and not loopback(host):
            raise SystemExit("agent_stacks.py: %s tried to look up %r" % (stack, host))
        return lookup(host, *args, **kwargs)
    socket.socket.connect, socket.getaddrinfo = guarded_connect, guarded_lookup


loopback_only()

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult  # noqa: E402


class Counted(SpanExporter):
    """The stack's OTLP exporter, counting what it exported and whether every export succeeded."""
    def __init__(self, exporter):
        self.exporter, self.exported, self.ok = exporter, 0, True

    def export(self, spans):
        result = self.exporter.export(spans)
        self.exported += len(spans)
        self.ok = self.ok and result == SpanExportResult.SUCCESS
        return result

    def shutdown(self):
        self.exporter.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.exporter.force_flush(timeout_millis)


from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult  # noqa: E402


class CountedMetrics(MetricExporter):
    """The stack's OTLP metric exporter, noting whether every export succeeded (None: none was made)."""
    def __init__(self, exporter):
        super().__init__(preferred_temporality=exporter._preferred_temporality, preferred_aggregation=exporter._preferred_aggregation)
        self.exporter, self.ok = exporter, None

    def export(self, metrics_data, timeout_millis=10000, **kwargs):
        result = self.exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        self.ok = (self.ok is not False) and result == MetricExportResult.SUCCESS
        return result

    def shutdown(self, timeout_millis=30000, **kwargs):
        self.exporter.shutdown(timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis=10000):
        return self.exporter.force_flush(timeout_millis)


def metric_exporter():
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        return CountedMetrics(OTLPMetricExporter(endpoint=endpoint + "/v1/metrics", headers={"Authorization": "Bearer " + token}, timeout=60))
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    return CountedMetrics(OTLPMetricExporter(endpoint=endpoint, insecure=True, headers={"authorization": "Bearer " + token}, timeout=60))


def otlp_exporter():
    if protocol in ("http", "own"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        return Counted(OTLPSpanExporter(endpoint=endpoint + "/v1/traces", headers={"Authorization": "Bearer " + token}, timeout=60))
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    return Counted(OTLPSpanExporter(endpoint=endpoint, insecure=True, headers={"authorization": "Bearer " + token}, timeout=60))


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def chat_loop(client, on_tool):
    """The agent's two model calls around its tool call, through an OpenAI client."""
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": on_tool(call, **json.loads(call.function.arguments))})
    return client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS).choices[0].message.content


exporter = otlp_exporter()
metrics = None

if stack == "otelv2":
    # A bare client instrumentation: it knows model calls only; the app makes its request and tool spans.
    from opentelemetry import trace
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from openai import OpenAI
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    metrics = metric_exporter()
    # An hour's interval: the only export is the one at shutdown (cumulative, the SDK's default).
    meters = MeterProvider(metric_readers=[PeriodicExportingMetricReader(metrics, export_interval_millis=3_600_000)])
    OpenAIInstrumentor().instrument(tracer_provider=provider, meter_provider=meters)
    tracer = provider.get_tracer("weather-app")

    def run_tool(call, city):
        with tracer.start_as_current_span("execute_tool get_weather", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": call.id}):
            return "sunny in " + city
    with tracer.start_as_current_span("handle request"):
        answer = chat_loop(OpenAI(base_url=openai_url, api_key="not-a-key"), run_tool)
    provider.shutdown()
    meters.shutdown()

elif stack == "agents":
    from openinference.instrumentation import using_session
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # exclusive_processor (the default) replaces the Agents SDK's own exporter to OpenAI.
    OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
    from agents import Agent, Runner, function_tool, set_default_openai_client
    from openai import AsyncOpenAI
    set_default_openai_client(AsyncOpenAI(base_url=openai_url, api_key="not-a-key"), use_for_tracing=False)

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny in " + city
    agent = Agent(name="weather-agent", instructions="Answer weather questions.", model="gpt-4o", tools=[get_weather])
    with using_session("sess-1"):
        answer = Runner.run_sync(agent, "What is the weather in Paris?").final_output
    provider.shutdown()

elif stack == "traceloop":
    from traceloop.sdk import Traceloop
    from traceloop.sdk.decorators import agent, tool, workflow
    from openai import OpenAI
    metrics = metric_exporter()
    Traceloop.init(app_name="weather-app", exporter=exporter, metrics_exporter=metrics, disable_batch=True, telemetry_enabled=False)

    @tool(name="get_weather")
    def get_weather(city):
        return "sunny in " + city

    @agent(name="weather-agent")
    def weather_agent():
        return chat_loop(OpenAI(base_url=openai_url, api_key="not-a-key"), lambda call, city: get_weather(city))

    @workflow(name="handle request")
    def handle_request():
        return weather_agent()
    Traceloop.set_association_properties({"session_id": "sess-1"})
    answer = handle_request()
    from opentelemetry import metrics as otel_metrics, trace
    trace.get_tracer_provider().force_flush()
    otel_metrics.get_meter_provider().force_flush()

elif stack == "langfuse":
    # Langfuse's client with its exporter pointed at the collector (span_exporter), not Langfuse's cloud.
    from langfuse import Langfuse, observe, propagate_attributes
    from langfuse.openai import OpenAI
    if protocol == "own":
        langfuse = Langfuse(public_key="pk-lf-local", secret_key=token, base_url=endpoint, flush_at=1)
        exporter.exported = None
    else:
        langfuse = Langfuse(public_key="pk-lf-local", secret_key="sk-lf-local", base_url="http://127.0.0.1:9", span_exporter=exporter,
                            flush_at=1)

    @observe(name="get_weather", as_type="tool")
    def get_weather(city):
        return "sunny in " + city

    @observe(name="weather-agent", as_type="agent")
    def weather_agent():
        return chat_loop(OpenAI(base_url=openai_url, api_key="not-a-key"), lambda call, city: get_weather(city))

    @observe(name="handle request")
    def handle_request():
        with propagate_attributes(session_id="sess-1"):
            return weather_agent()
    answer = handle_request()
    langfuse.flush()
    langfuse.shutdown()

else:
    raise SystemExit("unknown stack " + stack)

print(json.dumps({"ok": exporter.ok, "exported": exporter.exported, "metrics_ok": metrics and metrics.ok, "answer": answer}))
