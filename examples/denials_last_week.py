"""Last week's denials from a governance-collector, as a table: a notebook-style script on the
read API (/api/v1), with nothing but Python's standard library.

    GOVERNANCE_API_KEY=gck_... python3 examples/denials_last_week.py http://127.0.0.1:8890

Make the key on the UI's API keys page with the `read` scope. The script walks every page with
the API's cursor (each page is newest first; walking never skips or repeats an event, however
many arrive meanwhile), then prints the denials per agent and each denial.
"""
import collections
import datetime
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


def denials(base, key, days=7):
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
    query = {"decision": "deny", "from": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": "1000"}
    cursor = None
    while True:
        page_query = dict(query, **({"cursor": cursor} if cursor else {}))
        request = urllib.request.Request(
            f"{base}/api/v1/events?{urllib.parse.urlencode(page_query)}",
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                page = json.load(answer)
        except urllib.error.HTTPError as error:
            problem = json.load(error)  # RFC 9457 problem details, naming the parameter at fault
            sys.exit(f"{problem['status']} {problem['title']}: {problem['detail']}")
        yield from page["events"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def main():
    if len(sys.argv) != 2 or "GOVERNANCE_API_KEY" not in os.environ:
        sys.exit(__doc__)
    rows = [
        (e["payload"]["created_at"][:19], e["workflow"], e["agent_id"], e["event_type"], e["event_id"])
        for e in denials(sys.argv[1].rstrip("/"), os.environ["GOVERNANCE_API_KEY"])
    ]
    print(f"{len(rows)} denials in the last 7 days")
    for agent, count in collections.Counter(row[2] for row in rows).most_common():
        print(f"  {count:6}  {agent}")
    print()
    print(f"{'created (UTC)':19}  {'workflow':20}  {'agent':20}  {'kind':24}  event")
    for row in rows:
        print(f"{row[0]:19}  {row[1][:20]:20}  {row[2][:20]:20}  {row[3][:24]:24}  {row[4]}")


if __name__ == "__main__":
    main()
