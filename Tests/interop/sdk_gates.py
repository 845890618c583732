"""The reference SDK's approval gates (code-atelier-governance, from PyPI) with its platform bridge
pointed at the collector: the gate bridge end to end.

wait DB_URL INGEST_URL TOKEN SECRET EXPIRES_S TIMEOUT_S: opens one gate with sdk.gates.request,
  then sdk.gates.wait_for; prints {"request_id", "action_hash"} first and {"result": "granted" |
  "denied" | "timeout"} last, then the bridge's counters.
local DB_URL INGEST_URL TOKEN SECRET DECISION: opens one gate, waits until the bridge has
  forwarded it, resolves it with the SDK's own single-use token (grant or deny, as an operator on
  the agent's host would), and waits until the bridge has told the platform (reverse sync).
"""
import asyncio
import json
import os
import sys
import tempfile
from datetime import timedelta

from codeatelier_governance import GovernanceSDK
from codeatelier_governance.gates.errors import ApprovalDenied, ApprovalTimeout


def make_sdk(db_url: str, url: str, token: str, secret: str) -> GovernanceSDK:
    return GovernanceSDK(database_url=db_url, audit_secret=secret.encode(),
                         platform_bridge_enabled=True, platform_ingest_token=token, platform_ingest_url=url,
                         enable_scope=False, enable_cost=False, enable_loop=False, enable_presence=False,
                         warn_on_no_wrappers=False,
                         fallback_path=os.path.join(tempfile.mkdtemp(prefix="gc-gates-"), "fallback.jsonl"))


def bridge(sdk: GovernanceSDK):
    """The SDK's platform client, whose counters say what it sent, dropped, or latched off
    (taken after start: close() lets go of it)."""
    return sdk._platform_client


async def settle(client, key: str) -> None:
    """Until the bridge has counted one `key` (sent) or dropped it; the bound is a safety net."""
    for _ in range(1200):
        s = client.stats()
        if s.get(key, 0) >= 1 or s.get(key.replace("_sent", "_dropped"), 0) >= 1 or s.get("disabled"):
            return
        await asyncio.sleep(0.05)


async def wait(db_url: str, url: str, token: str, secret: str, expires_s: float, timeout_s: float) -> int:
    sdk = make_sdk(db_url, url, token, secret)
    await sdk.start()
    client = bridge(sdk)
    request = await sdk.gates.request(kind="deploy.production", agent_id="gate-agent",
                                      payload={"service": "billing", "version": "2.4.1"},
                                      expires_in=timedelta(seconds=expires_s))
    print(json.dumps({"request_id": str(request.request_id), "action_hash": request.action_hash}), flush=True)
    try:
        result = "granted" if await sdk.gates.wait_for(request.request_id, timeout=timeout_s) else "denied"
    except ApprovalDenied:
        result = "denied"
    except ApprovalTimeout:
        result = "timeout"
    # Close once the bridge has settled both approval.* events (requested, and the verdict it
    # synced from the platform), which the SDK emits in tasks of their own.
    for _ in range(1200):
        st = client.stats()
        if st["disabled"] or st["sent"] + sum(v for k, v in st.items() if k.startswith("dropped_")) >= 2:
            break
        await asyncio.sleep(0.05)
    await sdk.close()
    print(json.dumps({"result": result}))
    print(json.dumps({"stats": client.stats()}, default=str))
    return 0


async def local(db_url: str, url: str, token: str, secret: str, decision: str) -> int:
    sdk = make_sdk(db_url, url, token, secret)
    await sdk.start()
    client = bridge(sdk)
    request = await sdk.gates.request(kind="refund.issue", agent_id="gate-agent", payload={"order": 42},
                                      expires_in=timedelta(minutes=10))
    print(json.dumps({"request_id": str(request.request_id), "action_hash": request.action_hash}), flush=True)
    # The bridge tells the platform about a local decision only for gates it has forwarded.
    await settle(client, "gate_requests_sent")
    if decision == "granted":
        await sdk.gates.grant(request.token)
    else:
        await sdk.gates.deny(request.token)
    await settle(client, "local_resolutions_sent")
    await sdk.close()
    print(json.dumps({"stats": client.stats()}, default=str))
    return 0


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "wait":
        sys.exit(asyncio.run(wait(args[0], args[1], args[2], args[3], float(args[4]), float(args[5]))))
    sys.exit(asyncio.run(local(*args[:5])))
