package import AuditStore
import Config
import Crypto
package import Foundation
import Pipeline

/// The files of an evidence bundle (`governance-collector evidence`, docs/components/evidence.md):
/// the rows a time range selects, as the leaves the checkpoints sign, with what an auditor needs
/// to check them offline against the log's public key (`scripts/verify_evidence.py`).
///
/// The bundle covers a span of the tree: from the first selected row's leaf (without a
/// workflow, the leaf before it) to the first signed checkpoint past the last one. It carries the
/// tree state before the span (the frontier), every leaf hash of the span, and each row of the
/// span in full (with a workflow, only that workflow's), so the verifier recomputes the signed
/// root itself; a consistency proof ties that checkpoint to the newest. A manifest of every
/// file's SHA-256 is signed with the checkpoint key.
package struct EvidenceBundle {
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    package struct Summary: Sendable {
        /// Rows the selection takes.
        package var selected: Int
        /// Rows shipped in full (the selected ones, and without a workflow their neighbours in the span).
        package var events: Int
        /// The span: leaves `firstLeaf..<checkpointSize`.
        package var firstLeaf: Int
        package var checkpointSize: Int
        package var newestSize: Int
    }

    package static let format = "governance-collector-evidence/1"
    /// The text the manifest's signed note carries: this line, then the manifest's SHA-256.
    package static let manifestNoteTitle = "governance-collector evidence manifest"

    let connection: PGConnection
    let selection: EvidenceReads.Selection
    let signer: NoteSigner
    let chainSecret: String?
    let configSHA256: String?

    package init(
        connection: PGConnection, selection: EvidenceReads.Selection, signer: NoteSigner, chainSecret: String?, configSHA256: String?
    ) {
        (self.connection, self.selection, self.signer) = (connection, selection, signer)
        (self.chainSecret, self.configSHA256) = (chainSecret, configSHA256)
    }

    /// Writes the bundle's files into the empty folder `directory`.
    package func write(into directory: URL) throws -> Summary {
        guard try CheckpointTables.exist(on: connection) else { throw CheckpointProver.unsigned }
        let span = try EvidenceReads.span(selection, on: connection)
        guard span.rows > 0, let firstSelected = span.firstLeaf, let lastLeaf = span.lastLeaf else {
            throw Failure(description: "no rows were created in the range\(selection.workflow.map { " in workflow \($0)" } ?? "")")
        }
        guard span.inTree == span.rows else {
            throw Failure(
                description: "\(span.rows - span.inTree) of the \(span.rows) rows are not in the checkpoint tree yet: "
                    + "the signer appends them within checkpoints.interval; try again shortly, or end the range earlier")
        }
        let store = CheckpointStore(connection: connection)
        guard let covering = try CheckpointTables.firstCheckpoint(after: lastLeaf, on: connection),
            let newest = try store.latestCheckpoint()
        else {
            throw Failure(description: "leaf \(lastLeaf) is not covered by a signed checkpoint yet: wait for the next one (checkpoints.interval)")
        }
        let signed = try Checkpoint(text: SignedNote.unverifiedText(covering.note))
        // Without a workflow the span starts one leaf early: that row, created outside the range,
        // shows the verifier that the span was not cut short at its start.
        let firstLeaf = selection.workflow == nil ? max(0, firstSelected - 1) : firstSelected

        var files = BundleFiles(directory: directory)
        let frontier = try MerkleNodes(connection: connection).hashes(of: MerkleProof.perfectSubtrees(0..<firstLeaf))
        guard var tree = CompactMerkleTree(size: firstLeaf, frontier: frontier) else {
            throw Failure(description: "the stored tree has no state at leaf \(firstLeaf)")
        }
        var indices: [Int] = []
        var selected = 0
        let events = try files.create("events.ndjson")
        let hashes = try files.create("leaf-hashes.bin")
        var next = firstLeaf
        while next < covering.size {
            let page = try EvidenceReads.leaves(next..<min(next + 5000, covering.size), selection: selection, on: connection)
            guard page.first?.index == next, page.count == min(5000, covering.size - next) else {
                throw Failure(description: "the leaf record has a gap after leaf \(next): run `governance-collector checkpoint verify`")
            }
            for leaf in page {
                tree.append(leafHash: leaf.hash)
                try files.append(leaf.hash, to: hashes)
                if leaf.selected { selected += 1 }
                guard selection.workflow == nil || leaf.selected else { continue }
                guard let columns = leaf.columns else {
                    throw Failure(
                        description: "the row of leaf \(leaf.index) is not in the table (deleted): run `governance-collector checkpoint verify`")
                }
                let bytes = AuditLeaf.bytes(columns: columns)
                guard MerkleHash.leaf(bytes) == leaf.hash else {
                    throw Failure(
                        description: "the row of leaf \(leaf.index) no longer hashes to it (changed after it was appended): "
                            + "run `governance-collector checkpoint verify`")
                }
                try files.append(bytes + [0x0A], to: events)
                indices.append(leaf.index)
            }
            next += page.count
        }
        guard tree.root == signed.rootHash else {
            throw Failure(
                description:
                    "the stored tree does not lead to the checkpoint of tree size \(covering.size): run `governance-collector checkpoint verify`")
        }
        try files.close(events)
        try files.close(hashes)

        try files.write("checkpoint.note", Array(covering.note.utf8))
        if newest.size > covering.size {
            let proof = try CheckpointProver(connection: connection).consistency(oldSize: covering.size, newSize: newest.size)
            try files.write("consistency.json", try Self.json(proof))
        }
        try files.write(
            "tree.json",
            try Self.json(TreeFile(firstLeaf: firstLeaf, size: covering.size, frontier: frontier.map(\.hexString), eventLeaves: indices)))
        let keys = try AgentKeyTable.json(connection)
        try files.write("agent-keys.json", Array(#"{"keys": \#(keys.keys), "revocations": \#(keys.revocations)}"#.utf8) + [0x0A])
        try files.write(
            "retention-seals.json", Array(try RetentionRecord(connection: connection).sealsJSON(reachingInto: selection.from).utf8) + [0x0A])
        try files.write("chain-keys.json", try Self.json(chainSecret.map { [ChainKeyFile(secret: $0)] } ?? []))

        let manifest = try Self.json(
            Manifest(
                format: Self.format, origin: signed.origin, from: Timestamp(microseconds: selection.from).pythonISOFormat,
                to: Timestamp(microseconds: selection.to).pythonISOFormat, workflow: selection.workflow, builtAt: Timestamp.now().pythonISOFormat,
                selectedEvents: selected, configSHA256: configSHA256, files: files.digests))
        try files.write("manifest.json", manifest, listed: false)
        let note = try signer.sign("\(Self.manifestNoteTitle)\n\(Array(SHA256.hash(data: manifest)).hexString)\n")
        try files.write("manifest.sig", Array(note.utf8), listed: false)
        return Summary(selected: selected, events: indices.count, firstLeaf: firstLeaf, checkpointSize: covering.size, newestSize: newest.size)
    }

    private static func json(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value)) + [0x0A]
    }

    struct TreeFile: Encodable {
        var firstLeaf: Int
        var size: Int
        /// Hex hashes of the perfect subtrees before `firstLeaf`, largest first.
        var frontier: [String]
        /// The leaf index of each line of events.ndjson.
        var eventLeaves: [Int]

        enum CodingKeys: String, CodingKey {
            case size, frontier
            case firstLeaf = "first_leaf", eventLeaves = "event_leaves"
        }
    }

    /// A chain key named without giving it away: HMAC-SHA256 of a fixed text under the key, 16 hex digits.
    struct ChainKeyFile: Encodable {
        var fingerprint: String

        init(secret: String) {
            let mac = HMAC<SHA256>.authenticationCode(
                for: Array("governance-collector chain key fingerprint".utf8), using: SymmetricKey(data: Array(secret.utf8)))
            fingerprint = String(Array(mac).hexString.prefix(16))
        }
    }

    struct Manifest: Encodable {
        var format: String
        var origin: String
        var from: String
        var to: String
        var workflow: String?
        var builtAt: String
        var selectedEvents: Int
        var configSHA256: String?
        var files: [String: String]

        enum CodingKeys: String, CodingKey {
            case format, origin, from, to, workflow, files
            case builtAt = "built_at", selectedEvents = "selected_events", configSHA256 = "config_sha256"
        }
    }
}

/// The bundle's files in its folder, each created once (mode 0600), with the SHA-256 of what
/// was written: the manifest lists them.
private struct BundleFiles {
    let directory: URL
    private(set) var digests: [String: String] = [:]
    private var open: [String: (handle: FileHandle, hasher: SHA256)] = [:]

    init(directory: URL) { self.directory = directory }

    mutating func create(_ name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw EvidenceBundle.Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        open[name] = (FileHandle(fileDescriptor: fd, closeOnDealloc: true), SHA256())
        return name
    }

    mutating func append(_ bytes: [UInt8], to name: String) throws {
        try open[name]!.handle.write(contentsOf: bytes)
        open[name]!.hasher.update(data: bytes)
    }

    mutating func close(_ name: String) throws {
        guard let (handle, hasher) = open.removeValue(forKey: name) else { return }
        try handle.close()
        digests[name] = Array(hasher.finalize()).hexString
    }

    mutating func write(_ name: String, _ bytes: [UInt8], listed: Bool = true) throws {
        try append(bytes, to: create(name))
        try close(name)
        if !listed { digests[name] = nil }
    }
}
