"""The reference SDK (code-atelier-governance from PyPI) doing the benchmark's work, for
governance-bench --reference-sdk: N audit events written through its own AuditModule into
PostgreSQL from C concurrent tasks, and then the same events sent through its platform bridge.

  sdk_bench.py DSN N C SECRET [PLATFORM_URL PLATFORM_TOKEN]

Prints `ingest <events/s>` and, with a platform, `bridge <events/s> <sent> <dropped>`.
"""
import asyncio
import os
import sys
import time
import uuid

os.environ.setdefault("GOVERNANCE_AUDIT_SECRET", sys.argv[4])
from codeatelier_governance.sdk import GovernanceSDK  # noqa: E402
from codeatelier_governance.audit.chain import compute_event_hmac  # noqa: E402
from codeatelier_governance.audit.models import AuditEvent, AuditEventRecord  # noqa: E402
from codeatelier_governance.platform.client import PlatformClient  # noqa: E402
from codeatelier_governance.platform.config import PlatformConfig  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

dsn, total, concurrency, secret = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode()
platform = sys.argv[5:7]


async def main() -> None:
    sessions = [uuid.uuid4() for _ in range(64)]
    async with GovernanceSDK(database_url=dsn, audit_secret=secret) as sdk:
        async def worker(k: int) -> None:
            for i in range(k, total, concurrency):
                await sdk.audit.log(AuditEvent(session_id=sessions[i % 64], agent_id=f"agent-{i % 64}", kind="tool.call",
                                               metadata={"tool": "search", "n": i}))
        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        print(f"ingest {total / (time.perf_counter() - start):.0f}", flush=True)
    if platform:
        await bridge(*platform)


async def bridge(url: str, token: str) -> None:
    """The SDK's own bridge delivering `total` chained records, fed no faster than its
    1000-event queue takes them, so the rate is its delivery capacity, not its drop rate."""
    client = PlatformClient(PlatformConfig(ingest_url=url, ingest_token=token, enabled=True))
    await client.start()
    session, prev = uuid.uuid4(), None
    start = time.perf_counter()
    for i in range(total):
        while i - client.stats()["sent"] >= 900:
            await asyncio.sleep(0.001)
        fields = dict(event_id=uuid.uuid4(), session_id=session, agent_id="sdk-agent", parent_event_id=None, kind="tool.call",
                      model=None, input_hash=None, output_hash=None, metadata={"n": i}, prev_hash=prev,
                      created_at=datetime.now(timezone.utc))
        prev = compute_event_hmac(secret=secret, **fields)
        client.forward(AuditEventRecord(**fields, hmac=prev))
    while client.stats()["sent"] + client.stats()["dropped_5xx"] + client.stats()["dropped_4xx"] < total and time.perf_counter() - start < 300:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    stats = client.stats()
    await client.close()
    print(f"bridge {stats['sent'] / elapsed:.0f} {stats['sent']} {stats['dropped_queue_full'] + stats['dropped_4xx'] + stats['dropped_5xx']}", flush=True)


asyncio.run(main())
