#!/usr/bin/env bash
# The house's counts (issue 31), printed so a change can show them before and after:
# SQL statements per module, tables per owning module, public and package declarations,
# wall-clock reads outside the clock, and fixed sleeps in tests. Heuristics over the source text.
set -uo pipefail
cd "$(dirname "$0")/.."

sql='"[^"]*\b(SELECT|INSERT INTO|UPDATE [a-z_]+ SET|DELETE FROM|CREATE (TABLE|INDEX|UNIQUE INDEX)|ALTER TABLE|DROP (TABLE|INDEX)|TRUNCATE|COPY [a-z_]+ ?\(|LOCK TABLE)\b|^\s*(SELECT|INSERT INTO|UPDATE [a-z_]+|DELETE FROM|CREATE (TABLE|INDEX|UNIQUE INDEX)|ALTER TABLE|WITH [a-z_]+ AS)\b'

echo "## SQL statement lines per module"
for dir in Sources/*/ Tests/*/; do
    n=$(grep -rEc "$sql" --include='*.swift' "$dir" 2>/dev/null | awk -F: '{s+=$2} END {print s+0}')
    if [ "$n" -gt 0 ]; then printf '%-34s %5d\n' "${dir%/}" "$n"; fi
done

echo "## tables per owning module (CREATE TABLE)"
for dir in Sources/*/; do
    names=$(grep -rhoE 'CREATE TABLE (IF NOT EXISTS )?[a-z_]+' --include='*.swift' "$dir" 2>/dev/null | awk '{print $NF}' | sort -u | tr '\n' ' ')
    if [ -n "$names" ]; then printf '%-34s %3d  %s\n' "${dir%/}" "$(wc -w <<<"$names")" "$names"; fi
done

echo "## declarations"
printf '%-34s %5d\n' "public/open (Sources)" "$(grep -rEc '^\s*(@[A-Za-z]+ )*(public|open) ' --include='*.swift' Sources | awk -F: '{s+=$2} END {print s}')"
printf '%-34s %5d\n' "package (Sources)" "$(grep -rEc '^\s*(@[A-Za-z]+ )*package ' --include='*.swift' Sources | awk -F: '{s+=$2} END {print s}')"

echo "## time"
clock='Date\(\)|Date\.now|ContinuousClock\(\)\.now|\.continuous\.now|DispatchTime\.now|clock_gettime|time\(nil\)|gettimeofday'
printf '%-34s %5d\n' "wall-clock reads (Sources)" "$(grep -rEc "$clock" --include='*.swift' Sources | awk -F: '{s+=$2} END {print s}')"
sleep_re='Task\.sleep|\bsleep\(|usleep\(|Thread\.sleep'
printf '%-34s %5d\n' "sleeps (Sources)" "$(grep -rEc "$sleep_re" --include='*.swift' Sources | awk -F: '{s+=$2} END {print s}')"
printf '%-34s %5d\n' "sleeps (Tests)" "$(grep -rEc "$sleep_re" --include='*.swift' Tests | awk -F: '{s+=$2} END {print s}')"
printf '%-34s %5d\n' "lines over 150 characters" "$(find Sources Tests -name '*.swift' -print0 | xargs -0 awk 'length > 150' | wc -l)"

# With --check: fail when a product module outside AuditStore holds an SQL statement (AuditStore's
# typed stores own every table and statement). The bench's raw-COPY baselines and the test
# support read the database as an outsider would, so they are not product modules.
if [ "${1:-}" = "--check" ]; then
    found=$(grep -rEn "$sql" --include='*.swift' Sources | grep -vE '^Sources/(AuditStore|governance-bench|GovernanceTesting)/' || true)
    if [ -n "$found" ]; then
        echo "FAIL: SQL outside AuditStore (add a typed store method there instead):" >&2
        echo "$found" >&2
        exit 1
    fi
    echo "✔ no SQL statement outside AuditStore"
fi
