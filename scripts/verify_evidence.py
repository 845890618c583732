#!/usr/bin/env python3
"""Checks a governance-collector evidence bundle offline, with nothing but the log's public key.
Python's standard library and the `cryptography` package; it shares no code with the collector
(docs/components/evidence.md says what each check means).

    verify_evidence.py BUNDLE.zip VKEY [VKEY ...]

VKEY is the log's verifier key `name+keyhash+base64` (the .pub file `checkpoint keygen` wrote,
or its text); list older keys after a rotation. Exit 0 and a report of what the bundle proves
and what it does not; exit 1 and the first failure, named."""
import base64, hashlib, json, os, sys, zipfile
from datetime import datetime
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "governance-collector-evidence/1"
MANIFEST_TITLE = "governance-collector evidence manifest"


class Rejected(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Rejected(message)


def leaf_hash(data): return hashlib.sha256(b"\x00" + data).digest()
def node(left, right): return hashlib.sha256(b"\x01" + left + right).digest()


def parse_key(text):
    name, keyhash, key = text.strip().split("+", 2)
    raw = base64.b64decode(key)
    check(raw[0] == 1 and len(raw) == 33, f"{name}: not an Ed25519 verifier key")
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    check(key_id.hex() == keyhash, f"{name}: the key hash does not match the key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:])


def open_note(note, keys, what):
    """A C2SP signed note's text, if one of `keys` signed it."""
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            continue
        signature = base64.b64decode(parts[2])
        for name, key_id, key in keys:
            if parts[1] == name and signature[:4] == key_id:
                try:
                    key.verify(signature[4:], text.encode())
                    return text
                except Exception:
                    raise Rejected(f"{what}: the signature by {name} does not verify (the note was altered)")
    raise Rejected(f"{what}: no signature by a trusted key")


def open_checkpoint(note, keys, what):
    origin, size, root = open_note(note, keys, what).split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def consistent(m, n, old, new, proof):  # RFC 9162 2.1.4.2
    if not 0 < m <= n: return False
    if m == n: return not proof and old == new
    if not proof: return False
    if m & (m - 1) == 0: proof = [old] + proof
    fn, sn = m - 1, n - 1
    while fn & 1: fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn: fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old and sr == new and sn == 0


class CompactTree:
    """The perfect subtrees of the leaves so far (RFC 9162's tree, built left to right)."""
    def __init__(self, size, frontier):
        check(len(frontier) == bin(size).count("1"), f"tree.json: {len(frontier)} frontier hashes cannot describe {size} leaves")
        self.size, self.frontier = size, list(frontier)

    def append(self, h):
        carried = self.size
        while carried & 1:
            h = node(self.frontier.pop(), h)
            carried >>= 1
        self.frontier.append(h)
        self.size += 1

    def root(self):
        root = self.frontier[-1]
        for h in reversed(self.frontier[:-1]):
            root = node(h, root)
        return root


def sha256_of(bundle, name):
    digest = hashlib.sha256()
    with bundle.open(name) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path, keys):
    bundle = zipfile.ZipFile(path)
    names = set(bundle.namelist())
    check({"manifest.json", "manifest.sig"} <= names, "the bundle has no manifest.json and manifest.sig")

    # 1. The manifest is the one the checkpoint key signed, and lists every file by its SHA-256.
    manifest_bytes = bundle.read("manifest.json")
    signed = open_note(bundle.read("manifest.sig").decode(), keys, "manifest.sig").split("\n")
    check(signed[0] == MANIFEST_TITLE, "manifest.sig: not an evidence manifest note")
    check(signed[1] == hashlib.sha256(manifest_bytes).hexdigest(), "manifest.json: altered (its SHA-256 is not the one manifest.sig signs)")
    manifest = json.loads(manifest_bytes)
    check(manifest.get("format") == FORMAT, f"manifest.json: format {manifest.get('format')!r}, this verifier reads {FORMAT}")
    listed = manifest["files"]
    extra = sorted(names - set(listed) - {"manifest.json", "manifest.sig"})
    check(not extra, f"files the manifest does not list: {', '.join(extra)}")
    missing = sorted(set(listed) - names)
    check(not missing, f"files the manifest lists are missing: {', '.join(missing)}")
    for name in sorted(listed):
        check(sha256_of(bundle, name) == listed[name], f"{name}: altered (its SHA-256 differs from the signed manifest)")

    # 2. The checkpoint is signed, and the tree state and leaves recompute its root.
    origin, size, root = open_checkpoint(bundle.read("checkpoint.note").decode(), keys, "checkpoint.note")
    check(origin == manifest["origin"], f"checkpoint.note: the log {origin!r} is not the manifest's {manifest['origin']!r}")
    tree = json.loads(bundle.read("tree.json"))
    first = tree["first_leaf"]
    check(tree["size"] == size, f"checkpoint.note is the checkpoint of tree size {size}, but the bundle's tree is {tree['size']} (a checkpoint was swapped)")
    check(0 <= first < size, f"tree.json: first leaf {first} outside the checkpoint's {size} leaves")
    hashes = bundle.read("leaf-hashes.bin")
    check(len(hashes) == 32 * (size - first), f"leaf-hashes.bin: {len(hashes) // 32} hashes for the {size - first} leaves {first}..{size - 1}")
    check(isinstance(first, int) and isinstance(tree["event_leaves"], list), "tree.json: first_leaf must be a number and event_leaves a list")
    frontier = [bytes.fromhex(h) for h in tree["frontier"]]
    check(all(len(h) == 32 for h in frontier), "tree.json: a frontier hash is not 32 bytes")
    compact = CompactTree(first, frontier)
    for i in range(0, len(hashes), 32):
        compact.append(hashes[i:i + 32])
    check(compact.root() == root, f"the leaves do not lead to the signed root of tree size {size} (a leaf was changed, removed or added)")

    # 3. Each event line is the leaf it claims to be.
    positions = tree["event_leaves"]
    start = datetime.fromisoformat(manifest["from"])
    end = datetime.fromisoformat(manifest["to"])
    workflow = manifest.get("workflow")  # absent: every workflow
    selected = lines = undated = 0
    previous = first - 1
    first_in_range = None
    with bundle.open("events.ndjson") as events:
        for line in events:
            check(lines < len(positions), f"events.ndjson has more lines than tree.json's {len(positions)} event leaves (an event was added)")
            index = positions[lines]
            check(isinstance(index, int) and previous < index < size, f"tree.json: event leaf {index} out of order or outside {first}..{size - 1}")
            check(workflow is not None or index == previous + 1, f"leaf {previous + 1} is withheld: its row is not in the bundle (an event was removed)")
            data = line.rstrip(b"\n")
            check(leaf_hash(data) == hashes[32 * (index - first):32 * (index - first + 1)],
                  f"events.ndjson line {lines + 1} is not leaf {index}: the event was changed")
            event = json.loads(data)
            # A row stored undecodable is its stored columns (`undecodable_row`): its time is unknown.
            created = datetime.fromisoformat(event["created_at"]) if isinstance(event, dict) and "created_at" in event else None
            in_range = created is not None and start <= created < end
            if created is None: undated += 1
            if in_range: selected += 1
            if lines == 0 and index == first: first_in_range = in_range
            check(workflow is None or in_range or created is None,
                  f"events.ndjson line {lines + 1} (leaf {index}) was not created in the range, but a workflow's bundle ships only the range's rows")
            previous = index
            lines += 1
    check(lines == len(positions), f"events.ndjson has {lines} lines, tree.json lists {len(positions)} event leaves (an event was removed)")
    check(first in positions[:1], f"the span starts at leaf {first}, but its row is not in the bundle")
    if workflow is None:
        # The span starts at the leaf before the first selected row: that one is outside the range.
        check(first == 0 or first_in_range is False, f"the span's first leaf {first} was created in the range: rows before it may have been cut off")
    check(selected <= manifest["selected_events"] <= selected + undated,
          f"{selected} events in the range, the manifest says {manifest['selected_events']}")
    withheld = (size - first) - lines
    if workflow is None:
        check(withheld == 0, f"leaf {previous + 1} is withheld: its row is not in the bundle (an event was removed)")

    # 4. The checkpoint is a prefix of the newest one the bundle names.
    newest = size
    if "consistency.json" in names:
        proof = json.loads(bundle.read("consistency.json"))
        old_origin, m, old = open_checkpoint(proof["old_checkpoint"], keys, "consistency.json old checkpoint")
        new_origin, n, new = open_checkpoint(proof["new_checkpoint"], keys, "consistency.json new checkpoint")
        check((old_origin, m, old) == (origin, size, root), "consistency.json does not start at checkpoint.note")
        check(new_origin == origin, f"consistency.json: the newest checkpoint is of another log ({new_origin!r})")
        check(consistent(m, n, old, new, [base64.b64decode(x) for x in proof["proof"]]), f"tree {m} is not a prefix of tree {n}")
        newest = n

    seals = json.loads(bundle.read("retention-seals.json"))
    keys_file = json.loads(bundle.read("agent-keys.json"))
    report = [
        f"ok: evidence bundle of {origin}, created {manifest['from']} to {manifest['to']}" + (f", workflow {workflow}" if workflow else ""),
        f"proves: the manifest and every file are as the log's key signed them",
        f"proves: the {lines} events in events.ndjson are exactly leaves of the signed log (tree size {size}), unaltered and in commit order",
        f"proves: tree {size} is a prefix of tree {newest}" + (" (consistency.json)" if newest != size else ""),
    ]
    if workflow is None:
        report.append(f"proves: {selected} events were created in the range within leaves {first}..{size - 1}, and no row there is withheld; "
                      f"leaf {first}, just before them, was created outside it" if first > 0 else
                      f"proves: {selected} events were created in the range within leaves 0..{size - 1}, and no row there is withheld")
    else:
        report.append(f"does not prove: that no row of workflow {workflow} is among the {withheld} other rows of leaves {first}..{size - 1} "
                      "(shipped as hashes; the leaf does not name its workflow)")
    if undated:
        report.append(f"note: {undated} rows are stored undecodable (the leaf is their stored columns): their time is unknown")
    report += [
        f"does not prove: rows before leaf {first} (committed earlier, created in the range) or after leaf {size - 1} (a later checkpoint's); "
        f"retention-seals.json lists {len(seals)} removal(s) that reached into the range",
        "does not prove: the HMAC chain (that needs the chain secret; chain-keys.json names its fingerprint) "
        f"or agent signatures ({len(keys_file['keys'])} agent key(s) and {len(keys_file['revocations'])} revocation(s) in agent-keys.json)",
        "does not prove: that the log's key was not misused; compare checkpoint.note with a witness's copy",
    ]
    return "\n".join(report)


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    try:
        keys = [parse_key(open(key).read() if os.path.exists(key) else key) for key in argv[1:]]
        print(verify(argv[0], keys))
        return 0
    except Rejected as e:
        print(f"FAIL: {e}")
        return 1
    except Exception as e:  # anything malformed, a damaged zip or a bad key is a rejection too
        print(f"FAIL: {type(e).__name__}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
