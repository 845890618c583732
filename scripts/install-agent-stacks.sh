#!/usr/bin/env bash
# The agent stacks the trace tests run unmodified from PyPI (Tests/interop/agent_stacks.py), each
# in its own virtualenv under .build/stacks because their pins conflict (traceloop-sdk 0.62.4
# resolves only with opentelemetry-sdk 1.45.1; the OpenAI GenAI instrumentation 2.4b0 needs
# opentelemetry-util-genai 1.1b0, and openai 3.x no longer brings the httpx it imports).
# docs/agent-stacks.md says what each stack sends. Idempotent: a venv whose pins are installed is
# left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
exporters_145_2="opentelemetry-exporter-otlp-proto-http==1.45.2 opentelemetry-exporter-otlp-proto-grpc==1.45.2"
declare -A stacks=(
    [otelv2]="openai==3.63.0 opentelemetry-sdk==1.45.2 opentelemetry-instrumentation-openai-v2==2.4b0 opentelemetry-util-genai==1.1b0 httpx==0.28.1 $exporters_145_2"
    [agents]="openai-agents==0.24.0 openinference-instrumentation-openai-agents==2.6.0 opentelemetry-sdk==1.45.2 $exporters_145_2"
    [traceloop]="traceloop-sdk==0.62.4 openai==3.63.0 opentelemetry-sdk==1.45.1 opentelemetry-instrumentation==0.66b1 httpx==0.28.1"
    [langfuse]="langfuse==5.2.0 openai==3.63.0 opentelemetry-proto==1.45.2 $exporters_145_2"
)
for name in otelv2 agents traceloop langfuse; do
    venv=".build/stacks/$name"
    stamp="$venv/.pins"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${stacks[$name]}" ]; then continue; fi
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 # the pins are words
    "$venv/bin/pip" install -q --disable-pip-version-check ${stacks[$name]}
    echo "${stacks[$name]}" > "$stamp"
done
