#!/usr/bin/env bash
# The second command: install what is needed, build everything (the tests start the real
# governance-collector binary), and run all tests against real PostgreSQL clusters that the
# test support creates and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
