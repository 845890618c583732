#!/usr/bin/env bash
# The governance-collector executable must not carry test or bench support: no throwaway
# PostgreSQL clusters, platform peer, test CA or load driver (the GovernanceTesting target).
# Usage: scripts/check-product-symbols.sh [path to the binary] (default .build/debug/governance-collector)
set -euo pipefail
binary="${1:-.build/debug/governance-collector}"
[ -x "$binary" ] || { echo "no executable at $binary: build it first" >&2; exit 2; }
# Swift mangles a module name as <length><name> (17GovernanceTesting) and types the same way.
pattern='17GovernanceTesting|13LocalPostgres|12PlatformPeer|6TestCA|10LoadDriver'
found=$(nm --defined-only "$binary" | grep -E "$pattern" || true)
if [ -n "$found" ]; then
    echo "FAIL: $binary links test support:" >&2
    echo "$found" | head -20 | swift demangle >&2
    exit 1
fi
echo "✔ $binary has no GovernanceTesting, LocalPostgres, PlatformPeer, TestCA or LoadDriver symbols"
