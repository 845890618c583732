#!/usr/bin/env bash
# The second command: install what is needed, build everything (the tests start the real
# governance-collector binary), and run all tests against real PostgreSQL clusters that the
# test support creates and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The reference SDK and OpenTelemetry's Python SDK from PyPI, for the interop tests (Tests/interop),
# Selenium for the web UI's browser test (it drives Debian's chromedriver, never downloads one),
# aiosmtpd, the mail server the e-mail sign-in test sends its links to, and django-oidc-provider,
# the OpenID Connect provider the sign-in test signs people in at; schemathesis and
# openapi-spec-validator check the read API against its OpenAPI document.
if [ ! -x .build/interop-venv/bin/python ]; then python3 -m venv .build/interop-venv; fi
.build/interop-venv/bin/pip install -q --disable-pip-version-check 'code-atelier-governance[platform]==0.7.3' \
    'opentelemetry-sdk==1.45.2' 'opentelemetry-exporter-otlp-proto-http==1.45.2' 'opentelemetry-exporter-otlp-proto-grpc==1.45.2' \
    'selenium==4.51.0' 'aiosmtpd==1.4.6' 'Django==5.2.20' 'django-oidc-provider==0.9.0' \
    'schemathesis==4.32.5' 'openapi-spec-validator==0.7.2'
# The agent stacks the trace tests run (OpenAI GenAI instrumentation, Agents SDK + OpenInference,
# Traceloop, Langfuse), pinned, one virtualenv each.
scripts/install-agent-stacks.sh
scripts/check-imports.py
# One style (.swift-format: swift-format, which the toolchain ships, at 150 columns).
swift format lint --strict --configuration .swift-format -r -p Sources Tests Fuzz/Sources Package.swift Fuzz/Package.swift
# AuditStore owns every table and statement: no SQL in another product module.
scripts/house-counts.sh --check > /dev/null
scripts/module-graph.sh --check docs/architecture.md
swift build --build-tests
# Test and bench support stays out of the product (it lives in the GovernanceTesting target).
scripts/check-product-symbols.sh .build/debug/governance-collector
# Every log line, answer and metrics scrape of the run goes to a transcript, then is searched
# for the tests' credentials (scripts/check-secrets.sh).
export GOVERNANCE_TEST_TRANSCRIPT="$PWD/.build/test-transcript.log"
rm -f "$GOVERNANCE_TEST_TRANSCRIPT"
# Swift Testing would start every test at once: on a small machine a hundred collectors, clusters
# and Python clients then share the cores, and one test's requests wait behind all of them for
# longer than any client's timeout. At most six tests per core run at a time.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-$(($(nproc) * 6))}"
swift test --skip-build "$@"
# The scan must catch a leak (a planted token in a copy), then find none in the real transcript.
cp "$GOVERNANCE_TEST_TRANSCRIPT" .build/planted-leak.log && echo "log leaked wf_test_token_for_the_suite_0001" >> .build/planted-leak.log
if scripts/check-secrets.sh .build/planted-leak.log 2>/dev/null; then echo "FAIL: the secret scan missed a planted token" >&2; exit 1; fi
scripts/check-secrets.sh "$GOVERNANCE_TEST_TRANSCRIPT"

# The bridge is a package trait (it needs libcurl). A build without it must refuse platform
# settings at start-up, naming the fix, never ignore them.
swift build --disable-default-traits --product governance-collector --scratch-path .build-notrait
if GOVERNANCE_PLATFORM_INGEST_TOKEN=wf_check .build-notrait/debug/governance-collector validate --config configs/local.yaml 2> .build-notrait/refusal.txt; then
    echo "FAIL: a build without the PlatformBridge trait accepted platform settings" >&2
    exit 1
fi
grep -q "built without the PlatformBridge trait" .build-notrait/refusal.txt
echo "✔ a build without the PlatformBridge trait refuses platform settings"

# libFuzzer with address sanitizer on the parsers of untrusted input: every committed seed
# (including past crash inputs) replayed, then 120 s of fuzzing per target.
scripts/fuzz.sh 120
