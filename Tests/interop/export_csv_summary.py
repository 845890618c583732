"""Reads a `governance-collector export --format csv` file with Python's csv module (no code
shared with the collector) and prints: rows, cells kept as text with a leading ', the second
row's metadata.request.model, whether rows are oldest first, distinct event ids."""
import csv
import json
import sys

rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
print(len(rows), sum(1 for r in rows if r["agent_id"].startswith("'=")), json.loads(rows[1]["metadata"])["request"]["model"],
      rows[0]["created_at"] < rows[-1]["created_at"], len({r["event_id"] for r in rows}))
