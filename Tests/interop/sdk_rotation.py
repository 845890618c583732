"""Chain key rotation with the reference SDK (code-atelier-governance): its writers, its
rotate_chain_key and its verify_chain_with_rotation, on a table the collector shares.

Keys are named by environment variables holding them in base64 (the SDK's env:// form).

setup DB_URL KEY_ENV: the SDK's tables as its own code makes them (audit/ddl.sql, then its
  migrations f6a1 agent keys and f6b2 chain key rotation), and KEY_ENV's key as version 1 from
  chain_seq 1 (the SDK has no API for that first row: its docs say to insert it).
log DB_URL KEY_ENV SESSION COUNT: a GovernanceSDK with that HMAC key logs COUNT events in SESSION.
rotate DB_URL OUT_ENV IN_ENV: rotate_chain_key from one key to the other.
verify DB_URL KEY_ENV...: verify_chain_with_rotation over every row, the key versions from
  governance_audit_chain_keys, each key found by its fingerprint; prints its result as JSON.
"""
import asyncio
import base64
import importlib
import json
import os
import sys
import uuid
from importlib import resources

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

OFF = dict(enable_gates=False, enable_scope=False, enable_cost=False, enable_loop=False,
           enable_presence=False, warn_on_no_wrappers=False)


def engine(url: str):
    return create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))


def key(name: str) -> bytes:
    return base64.b64decode(os.environ[name], validate=True)


async def setup(url: str, key_env: str) -> None:
    from codeatelier_governance.audit.keys import fingerprint_key
    from codeatelier_governance.cli.commands import _split_sql_statements
    eng = engine(url)
    async with eng.begin() as c:
        ddl = (resources.files("codeatelier_governance") / "audit/ddl.sql").read_text()
        for statement in _split_sql_statements(ddl):
            await c.execute(text(statement))

        def migrate(sync):
            with Operations.context(MigrationContext.configure(sync)):
                for name in ("f6a1_ed25519_agent_identity", "f6b2_chain_key_rotation"):
                    importlib.import_module("codeatelier_governance.migrations.versions." + name).upgrade()
        await c.run_sync(migrate)
        await c.execute(text("INSERT INTO governance_audit_chain_keys (fingerprint, activated_at_chain_seq) VALUES (:f, 1)"),
                        {"f": fingerprint_key(key(key_env))})
    await eng.dispose()


async def log(url: str, key_env: str, session: str, count: int) -> None:
    from codeatelier_governance import GovernanceSDK
    from codeatelier_governance.audit.models import AuditEvent
    sdk = GovernanceSDK(database_url=url, audit_secret=key(key_env), **OFF)
    await sdk.start()
    for i in range(count):
        await sdk.audit.log(AuditEvent(agent_id="sdk-agent", kind="tool.call", session_id=uuid.UUID(session), metadata={"i": i}))
    await sdk.close()


async def rotate(url: str, out_env: str, in_env: str) -> None:
    from codeatelier_governance.audit.rotation import rotate_chain_key
    eng = engine(url)
    result = await rotate_chain_key(eng, outgoing_secret=key(out_env), incoming_secret=key(in_env), operator_id="sdk-test")
    print(json.dumps({"marker_chain_seq": result.marker_chain_seq}))
    await eng.dispose()


async def verify(url: str, key_envs: list[str]) -> None:
    from codeatelier_governance.audit.chain import ChainVerifyRow, verify_chain_with_rotation
    from codeatelier_governance.audit.keys import KeyVersion, fingerprint_key
    from codeatelier_governance.audit.models import AuditEventRecord
    eng = engine(url)
    async with eng.connect() as c:
        versions = [KeyVersion(**r) for r in (await c.execute(text(
            "SELECT key_version, fingerprint, activated_at_chain_seq, retired_at_chain_seq FROM governance_audit_chain_keys"))).mappings()]
        rows = list((await c.execute(text("SELECT * FROM governance_audit_events ORDER BY chain_seq"))).mappings())
    await eng.dispose()
    records = [ChainVerifyRow(chain_seq=r["chain_seq"], hmac_next=r["hmac_next"], record=AuditEventRecord(
        event_id=r["event_id"], session_id=r["session_id"], agent_id=r["agent_id"], parent_event_id=r["parent_event_id"],
        kind=r["kind"], model=r["model"], input_hash=r["input_hash"], output_hash=r["output_hash"],
        metadata=r["metadata_json"], prev_hash=r["prev_hash"], hmac=r["hmac_value"], created_at=r["created_at"])) for r in rows]
    uris = {fingerprint_key(key(name)): "env://" + name for name in key_envs}
    result = verify_chain_with_rotation(records, versions, uris)
    print(json.dumps({"rows": len(rows), "verified": result.verified, "failed": result.failed,
                      "unverified": result.unverified, "status": result.status}))


def main() -> int:
    command, url, *rest = sys.argv[1:]
    if command == "setup":
        asyncio.run(setup(url, rest[0]))
    elif command == "log":
        asyncio.run(log(url, rest[0], rest[1], int(rest[2])))
    elif command == "rotate":
        asyncio.run(rotate(url, rest[0], rest[1]))
    elif command == "verify":
        asyncio.run(verify(url, rest))
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
