"""An independent verifier of governance-collector's checkpoints and proofs, sharing no code
with it: hashlib and the `cryptography` package only (docs/components/checkpoints.md).

    verify_checkpoint.py VKEY PROOF.json      an inclusion or consistency proof from `prove`
    verify_checkpoint.py VKEY --note FILE     a signed checkpoint (e.g. a witness's copy)

VKEY is the log's verifier key `name+keyhash+base64`. Exit 0 and "ok ..." when valid, 1 when not."""
import base64, hashlib, json, os, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# RFC 9162's consistency check is the evidence verifier's (scripts/verify_evidence.py), also
# independent of the collector.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from verify_evidence import consistent  # noqa: E402

def node(l, r): return hashlib.sha256(b"\x01" + l + r).digest()

def open_checkpoint(note, vkey):
    """C2SP signed note: returns (origin, size, root) if signed by vkey."""
    name, keyhash, key = vkey.strip().split("+", 2)
    raw = base64.b64decode(key)
    assert raw[0] == 1 and len(raw) == 33, "not an Ed25519 verifier key"
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    assert key_id.hex() == keyhash, "key hash does not match the key"
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        dash, signer, sig = line.split(" ")
        sig = base64.b64decode(sig)
        if dash == "\u2014" and signer == name and sig[:4] == key_id:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], text.encode())  # raises if bad
            origin, size, root = text.split("\n")[:3]
            return origin, int(size), base64.b64decode(root)
    raise AssertionError("no signature by the trusted key")

def inclusion_root(index, size, leaf_hash, path):  # RFC 9162 2.1.3.2
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        assert sn > 0, "audit path too long"
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn: fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0, "audit path too short"
    return r

def main(vkey, arg, note_file=None):
    if arg == "--note":
        origin, size, _ = open_checkpoint(open(note_file).read(), vkey)
        return f"ok checkpoint {origin} size {size}"
    proof = json.load(open(arg))
    b64 = lambda items: [base64.b64decode(x) for x in items]
    if proof["type"] == "inclusion":
        _, size, root = open_checkpoint(proof["checkpoint"], vkey)
        leaf = base64.b64decode(proof["leaf"])
        assert json.loads(leaf)["event_id"] == proof["event_id"], "the leaf is another event's"
        got = inclusion_root(proof["leaf_index"], size, hashlib.sha256(b"\x00" + leaf).digest(), b64(proof["audit_path"]))
        assert got == root, "the audit path does not lead to the signed root"
        return f"ok event {proof['event_id']} is leaf {proof['leaf_index']} of {size}"
    _, m, old = open_checkpoint(proof["old_checkpoint"], vkey)
    _, n, new = open_checkpoint(proof["new_checkpoint"], vkey)
    assert 0 < m <= n and consistent(m, n, old, new, b64(proof["proof"])), "not consistent"
    return f"ok tree {m} is a prefix of tree {n}"

if __name__ == "__main__":
    try:
        print(main(*sys.argv[1:]))
    except Exception as e:  # any failure, including a bad signature, is a rejection
        print(f"FAIL: {type(e).__name__}: {e}")
        sys.exit(1)
