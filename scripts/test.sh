#!/usr/bin/env bash
# The second command: install what is needed, build everything (the tests start the real
# governance-collector binary), and run all tests against real PostgreSQL clusters that the
# test support creates and removes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The reference SDK from PyPI, for the interop tests (Tests/interop/sdk_interop.py).
if [ ! -x .build/interop-venv/bin/python ]; then python3 -m venv .build/interop-venv; fi
.build/interop-venv/bin/pip install -q --disable-pip-version-check 'code-atelier-governance[platform]==0.7.3'
swift build --build-tests
swift test --skip-build "$@"
