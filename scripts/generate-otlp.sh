#!/usr/bin/env bash
# Regenerates the C code for the OTLP messages (Sources/COTLP) from the .proto files in
# Sources/COTLP/proto with protoc-c (Debian: protobuf-c-compiler). The output is committed, so
# a build needs only libprotobuf-c, not the compiler.
set -euo pipefail
cd "$(dirname "$0")/../Sources/COTLP"
rm -rf generated include/opentelemetry include/google
mkdir -p generated
(cd proto && find . -name '*.proto' | sort | sed 's|^\./||') | xargs protoc-c --c_out=generated -I proto
# Headers go under include/ (the module's public headers), sources stay in generated/.
(cd generated && find . -name '*.h' | while read -r header; do
    mkdir -p "../include/$(dirname "$header")"
    mv "$header" "../include/$header"
done)
