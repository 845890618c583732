#!/usr/bin/env bash
# Installs the Debian packages the collector, its tests and its benchmark need.
# Idempotent; runs apt only when something is missing.
# chromium, chromium-driver and fonts-dejavu-core: the web UI's browser test (Tests/interop/ui_browser.py),
# run with iproute2 in a network namespace of its own (Tests/interop/private_network.sh).
# wrk: the load generator of the benchmark's single-event rows (governance-bench).
set -euo pipefail
packages=(libpq-dev libcurl4-openssl-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev postgresql openssl pkg-config curl iproute2 wrk \
    chromium chromium-driver fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's postgresql package starts a system cluster; the collector never uses it.
command -v swift >/dev/null || { echo "swift is not on PATH (Swift 6.1 or newer is required)" >&2; exit 1; }
