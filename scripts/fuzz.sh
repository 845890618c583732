#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (address sanitizer on) and runs each one for SECONDS
# (default 600) from the committed seed corpus in Fuzz/Corpus/<target>. New inputs go to
# .build-fuzz/corpus/<target>; a crash is saved under .build-fuzz/crashes/<target>/ and fails
# the script. A crash input becomes a regression test: copy it to Fuzz/Corpus/<target>/ (every
# seed is replayed by scripts/test.sh) and fix the code.
#   scripts/fuzz.sh          # 10 minutes per target
#   scripts/fuzz.sh 120      # what CI runs (scripts/test.sh)
#   scripts/fuzz.sh 0        # replay the seeds only
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
root="$PWD/.build-fuzz"
targets=(FuzzIngestJSON FuzzOTLPProtobuf FuzzOTLPJSON FuzzOTLPTracesProtobuf FuzzOTLPTracesJSON FuzzConfig FuzzDestinationPolicy)

(cd Fuzz && swift build -c release --scratch-path "$root" \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
  -Xcc -fsanitize=fuzzer-no-link,address -Xswiftc -use-ld=lld)

for target in "${targets[@]}"; do
  mkdir -p "$root/corpus/$target" "$root/crashes/$target"
  seeds="Fuzz/Corpus/$target"
  if [ "$seconds" = 0 ]; then
    "$root/release/$target" -runs=0 "$seeds" 2>"$root/$target.log" || { tail -40 "$root/$target.log"; exit 1; }
    echo "✔ $target: $(ls "$seeds" | wc -l) seeds replayed"
  else
    "$root/release/$target" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$root/crashes/$target/" "$root/corpus/$target" "$seeds" 2>"$root/$target.log" \
      || { tail -60 "$root/$target.log"; echo "✘ $target crashed: input saved in $root/crashes/$target/"; exit 1; }
    echo "✔ $target: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$root/$target.log" | grep -o '[0-9]*$') runs in ${seconds}s, no crash"
  fi
done
