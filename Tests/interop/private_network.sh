#!/bin/sh
# Runs the collector and a client in a network namespace of their own (started with
# `unshare -n`), where the only interface is loopback: nothing either of them does, Chromium's
# background probes included, can reach any address but 127.0.0.1. PostgreSQL is reached through
# its unix socket, which the namespace does not hide.
#   private_network.sh COLLECTOR CONFIG READY_URL -- CLIENT ARGS...
set -eu
collector=$1 config=$2 ready=$3
shift 4
ip link set lo up
"$collector" run --config "$config" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' EXIT
i=0
until curl -sf -o /dev/null "$ready"; do
  i=$((i + 1))
  [ $i -lt 200 ] || { echo "the collector did not become ready at $ready" >&2; exit 1; }
  sleep 0.1
done
"$@"
