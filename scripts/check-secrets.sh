#!/usr/bin/env bash
# Secret hygiene: searches a test transcript (every log line of the collectors the tests ran,
# every answer and every /metrics scrape; see Transcript in Tests/CollectorTests/Support.swift)
# for the credentials the tests configure. Any hit fails. Event content is not a credential:
# tests that send secrets inside metadata (redaction tests) use other strings.
set -euo pipefail
transcript="$1"
[ -s "$transcript" ] || { echo "✘ secret hygiene: transcript $transcript is missing or empty" >&2; exit 1; }
secrets=(
  wf_test_token_for_the_suite_0001          # ingest token (Tests/CollectorTests/Support.swift)
  wf_test_token_for_the_suite_0002          # second workflow's ingest token
  wf_platform_token_for_bridge_tests_9f3a   # platform bridge token
  test-audit-secret-0123456789abcdef        # HMAC chain secret
  whsec_budget_alerts_for_tests_4c1d        # budget webhook secret
  ui-admin-password-for-tests-7e2b          # timeline UI admin password (Tests/CollectorTests/TimelineTests.swift)
  ui-admin-token-for-tests-0123456789abcdef # timeline UI admin token
)
hits=0
for secret in "${secrets[@]}"; do
  n=$(grep -c -F -- "$secret" "$transcript" || true)
  if [ "$n" -gt 0 ]; then
    echo "✘ secret hygiene: $n line(s) contain ${secret:0:6}…:" >&2
    grep -n -F -- "$secret" "$transcript" | head -5 | cut -c1-300 >&2
    hits=$((hits + n))
  fi
done
[ "$hits" -eq 0 ] || exit 1
echo "✔ secret hygiene: $(wc -l < "$transcript") lines of logs, answers and metrics from the test run, none contains a token or secret"
