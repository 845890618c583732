"""Agent signatures with the reference SDK (code-atelier-governance): its file keystore, its
Ed25519 signer and its platform bridge. Every signature comes from the SDK.

keygen DIR: writes DIR/agent.key (PKCS#8 PEM, mode 0600, as the SDK's file keystore wants it)
  and DIR/agent.pub (the SDK's public_key_pem); prints {"fingerprint", "public_key_pem"} with
  the SDK's compute_fingerprint.
fixture: a fresh key from `cryptography`: prints {"pem", "fingerprint", "message_hex",
  "signature_hex"} for the collector's unit tests.
register DB_URL PUB_FILE AGENT: the SDK's AgentKeyRegistry.register_key into DB_URL.
revoke DB_URL FINGERPRINT: the SDK's RevocationStore.revoke_async at the table's last chain_seq.
send SDK_DB_URL KEY_FILE URL TOKEN COUNT SECRET: a GovernanceSDK (HMAC key SECRET) signing with KEY_FILE logs COUNT
  events and sends them over its platform bridge to URL; with URL `capture` it sends them to a
  local server instead and prints each body it received as {"body": ...}.
"""
import asyncio
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def keygen(directory: str) -> int:
    from codeatelier_governance.identity import Ed25519Signer
    from codeatelier_governance.identity.signer import compute_fingerprint
    priv = ed25519.Ed25519PrivateKey.generate()
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(os.path.join(directory, "agent.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, pem)
    os.close(fd)
    public = Ed25519Signer.from_private_key(priv).public_key_pem
    with open(os.path.join(directory, "agent.pub"), "w") as f:
        f.write(public)
    print(json.dumps({"fingerprint": compute_fingerprint(public), "public_key_pem": public}))
    return 0


def fixture() -> int:
    import hashlib
    priv = ed25519.Ed25519PrivateKey.generate()
    pem = priv.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    message = os.urandom(97)
    print(json.dumps({"pem": pem, "fingerprint": hashlib.sha256(pem.encode()).hexdigest()[:32],
                      "message_hex": message.hex(), "signature_hex": priv.sign(message).hex()}))
    return 0


async def register(db_url: str, pub_file: str, agent: str) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine
    from codeatelier_governance.identity.registry import AgentKeyRegistry
    engine = create_async_engine(async_url(db_url))
    record = await AgentKeyRegistry(engine=engine).register_key(agent, open(pub_file).read(), 0)
    await engine.dispose()
    print(json.dumps({"registered": record.key_fingerprint if hasattr(record, "key_fingerprint") else str(record)}))
    return 0


async def revoke(db_url: str, fingerprint: str) -> int:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from codeatelier_governance.identity.revocation import RevocationStore
    engine = create_async_engine(async_url(db_url))
    async with engine.connect() as c:
        seq = (await c.execute(text("SELECT coalesce(max(chain_seq), 0) FROM governance_audit_events"))).scalar()
    await RevocationStore(engine=engine).revoke_async(fingerprint, seq, "compromised in test", "interop-test")
    await engine.dispose()
    print(json.dumps({"revoked": fingerprint, "at_chain_seq": seq}))
    return 0


async def send(sdk_db_url: str, key_file: str, url: str, token: str, count: int, secret: bytes) -> int:
    from codeatelier_governance import GovernanceSDK
    from codeatelier_governance.audit.models import AuditEvent
    from codeatelier_governance.identity import AgentIdentityConfig
    bodies = []
    server = None
    if url == "capture":
        class Capture(BaseHTTPRequestHandler):
            def do_POST(self):
                bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass
        server = HTTPServer(("127.0.0.1", 0), Capture)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/api/v1/ingest/events"
    sdk = GovernanceSDK(database_url=sdk_db_url, audit_secret=secret,
                        agent_identity_config=AgentIdentityConfig(enabled=True, key_source="file", key_uri=key_file),
                        platform_bridge_enabled=True, platform_ingest_token=token, platform_ingest_url=url,
                        enable_gates=False, enable_scope=False, enable_cost=False, enable_loop=False,
                        enable_presence=False, warn_on_no_wrappers=False,
                        fallback_path=os.path.join(os.path.dirname(key_file), "fallback.jsonl"))
    await sdk.start()
    session = uuid.uuid4()
    for i in range(count):
        await sdk.audit.log(AuditEvent(agent_id="signing-agent", kind="tool.call", session_id=session,
                                       metadata={"i": i, "ratio": 0.5 + i, "text": "caf\u00e9"}))
    await sdk.close()
    if server is not None:
        server.shutdown()
        for body in bodies:
            print(json.dumps({"body": body.decode()}))
    return 0


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "keygen":
        sys.exit(keygen(sys.argv[2]))
    if command == "fixture":
        sys.exit(fixture())
    if command == "register":
        sys.exit(asyncio.run(register(sys.argv[2], sys.argv[3], sys.argv[4])))
    if command == "revoke":
        sys.exit(asyncio.run(revoke(sys.argv[2], sys.argv[3])))
    sys.exit(asyncio.run(send(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7].encode())))
