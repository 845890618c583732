"""Interop with the reference SDK (code-atelier-governance, from PyPI).

verify-rows: reads rows (JSON lines on stdin, as the collector stored them) and recomputes each
  row's HMAC with the SDK's own compute_event_hmac; prints "verified N" or the first mismatch
  and exits 1.
bridge: builds a chain of AuditEventRecords with the SDK's HMAC function and sends them through
  the SDK's own platform bridge (PlatformClient) to the collector; prints one JSON line per
  event (event_id, hmac, prev_hash) and the bridge's counters.
"""
import asyncio
import json
import sys
import uuid
from datetime import datetime, timezone

from codeatelier_governance.audit.chain import compute_event_hmac
from codeatelier_governance.audit.models import AuditEventRecord
from codeatelier_governance.platform.client import PlatformClient
from codeatelier_governance.platform.config import PlatformConfig


def verify_rows(secret: bytes) -> int:
    count = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        row = json.loads(line)
        expected = compute_event_hmac(
            secret=secret,
            event_id=uuid.UUID(row["event_id"]),
            session_id=uuid.UUID(row["session_id"]),
            agent_id=row["agent_id"],
            parent_event_id=uuid.UUID(row["parent_event_id"]) if row["parent_event_id"] else None,
            kind=row["kind"],
            model=row["model"],
            input_hash=row["input_hash"],
            output_hash=row["output_hash"],
            metadata=json.loads(row["metadata_json"]),  # as the SDK reads jsonb back
            prev_hash=row["prev_hash"],
            created_at=datetime.fromisoformat(row["created_at"]),
        )
        if expected != row["hmac_value"]:
            print(f"mismatch event_id={row['event_id']} expected={expected} stored={row['hmac_value']}")
            return 1
        count += 1
    print(f"verified {count}")
    return 0


async def bridge(url: str, token: str, secret: bytes, count: int) -> int:
    client = PlatformClient(PlatformConfig(ingest_url=url, ingest_token=token, enabled=True))
    await client.start()
    session = uuid.uuid4()
    prev = None
    for i in range(count):
        created = datetime.now(timezone.utc)
        fields = dict(
            event_id=uuid.uuid4(), session_id=session, agent_id="sdk-agent", parent_event_id=None,
            kind="tool.call.granted" if i % 2 else "tool.call", model="gpt-x", input_hash=None, output_hash=None,
            metadata={"i": i, "ratio": 0.5 + i, "small": 1e-7 * (i + 1), "text": "caf\u00e9 \U0001F600"},
            prev_hash=prev, created_at=created,
        )
        mac = compute_event_hmac(secret=secret, **fields)
        record = AuditEventRecord(**fields, hmac=mac)
        client.forward(record)
        print(json.dumps({"event_id": str(record.event_id), "hmac": mac, "prev_hash": prev}))
        prev = mac
    # Close only once the bridge has settled every event (sent or dropped), so the caller's check
    # does not race the bridge's own close deadline on a busy machine. The bound is a safety net.
    for _ in range(2400):
        s = client.stats()
        if s["disabled"] or s["sent"] + sum(v for k, v in s.items() if k.startswith("dropped_")) >= count:
            break
        await asyncio.sleep(0.05)
    await client.close()
    print(json.dumps({"stats": client.stats()}, default=str))
    return 0


if __name__ == "__main__":
    command, secret = sys.argv[1], sys.argv[2].encode()
    if command == "verify-rows":
        sys.exit(verify_rows(secret))
    sys.exit(asyncio.run(bridge(sys.argv[3], sys.argv[4], secret, int(sys.argv[5]))))
