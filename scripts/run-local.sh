#!/usr/bin/env bash
# The first command: install what is needed, start a throwaway PostgreSQL cluster under
# .local/pg (initdb on first use), build, and run the collector with configs/local.yaml.
# Ctrl-C stops the collector and the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

root="$PWD/.local/pg"
data="$root/data"
port="${GC_LOCAL_PG_PORT:-54329}"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
as_owner=()
if [ "$(id -u)" -eq 0 ]; then as_owner=(runuser -u postgres --); fi

mkdir -p "$root"
if [ ! -f "$data/PG_VERSION" ]; then
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$root"
  "${as_owner[@]}" "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-instructions >/dev/null
  printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" "$port" "$root" >> "$data/postgresql.auto.conf"
fi
if ! "${as_owner[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  "${as_owner[@]}" "$bin/pg_ctl" -D "$data" -l "$root/server.log" -w start >/dev/null
fi
trap '"${as_owner[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null' EXIT

swift build -c release --product governance-collector
# The signing key for checkpoints (configs/local.yaml), made once; for this local setup only.
[ -f .local/checkpoint.key ] || .build/release/governance-collector checkpoint keygen --name localhost/governance-collector --out .local/checkpoint.key >/dev/null
export GOVERNANCE_CHECKPOINTS=true GOVERNANCE_CHECKPOINT_KEY_FILE="$PWD/.local/checkpoint.key"
export DATABASE_URL="postgresql://postgres@127.0.0.1:$port/postgres"
echo "PostgreSQL: $DATABASE_URL (data in .local/pg)"
echo "Collector:  http://127.0.0.1:4320 (platform ingest API), http://127.0.0.1:4318/v1/logs (OTLP)"
echo "            token wf_local_development_token (see README: send an event)"
echo "Operator:   http://127.0.0.1:8888/metrics, /healthz, /readyz"
echo "Timeline:   http://127.0.0.1:8890 (web UI)"
echo "Checkpoints: signed every 10 s into governance_checkpoints and .local/witness (public key .local/checkpoint.key.pub)"
.build/release/governance-collector run --config configs/local.yaml
