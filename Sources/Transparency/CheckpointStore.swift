package import AuditStore
import Config
package import Foundation
import Pipeline

/// The leaf of the checkpoint tree for one audit row: the reference SDK's
/// `canonical_row_bytes_for_signing` (the HMAC's fields plus the HMAC), computed from the
/// stored row, so an auditor needs no secret to recompute it. Metadata is read as Python reads
/// it back, as for the HMAC. A row that cannot be read back gets a leaf over every selected
/// column's stored text, so whatever it holds is bound by the tree, and changing it shows.
package enum AuditLeaf {
    package static func bytes(_ row: AuditTableFollower.Row) -> [UInt8] { bytes(row.decoded, columns: row.columns) }

    /// The leaf of a row read with `AuditRow.selectColumns`.
    package static func bytes(columns: [String?]) -> [UInt8] {
        bytes(Result { () throws(UndecodableRow) in try AuditRow.decode(columns[...]) }, columns: columns)
    }

    static func bytes(_ decoded: Result<AuditEvent, UndecodableRow>, columns: [String?]) -> [UInt8] {
        guard case .success(var event) = decoded else {
            let stored = JSONValue.array(columns.map { $0.map(JSONValue.string) ?? .null })
            var out: [UInt8] = []
            JSONValue.object([.init("undecodable_row", stored)]).write(into: &out, .pythonCanonical)
            return out
        }
        event.metadata = event.metadata.pythonNormalized()
        return AuditChain.signingBytes(event)
    }
}

/// The checkpoint tables (`CheckpointTables`, AuditStore) in the tree's own types.
package struct CheckpointStore {
    package struct State: Sendable {
        package var tree = CompactMerkleTree()
        package var cursor = AuditTableFollower.Cursor(txid: "0", chainSeq: 0)
        /// Seconds since the tree was started: the first checkpoint waits an interval from then.
        package var ageSeconds = 0.0
    }

    package typealias StoredCheckpoint = CheckpointTables.Stored

    package let connection: PGConnection

    package init(connection: PGConnection) {
        self.connection = connection
    }

    package func migrate() throws(PGError) {
        try CheckpointTables.migrate(connection)
    }

    /// True while this connection holds the signer lock (taken here when free).
    package func holdsSignerLock() throws(PGError) -> Bool {
        try CheckpointTables.holdsSignerLock(connection)
    }

    package func loadState() throws(PGError) -> State {
        guard let stored = try CheckpointTables.treeState(on: connection) else { return State() }
        guard let tree = CompactMerkleTree(size: stored.size, packedFrontier: stored.frontier) else {
            throw PGError(
                message: "governance_checkpoint_state does not describe a tree (size \(stored.size), \(stored.frontier.count / 32) hashes)",
                sqlState: nil,
                connectionLost: false)
        }
        return State(tree: tree, cursor: stored.cursor, ageSeconds: stored.ageSeconds)
    }

    package func latestCheckpoint() throws(PGError) -> StoredCheckpoint? {
        try CheckpointTables.latest(on: connection)
    }

    /// Every stored checkpoint up to `size`, oldest first.
    package func checkpoints(upTo size: Int) throws(PGError) -> [StoredCheckpoint] {
        try CheckpointTables.checkpoints(upTo: size, on: connection)
    }

    package func checkpoint(size: Int) throws(PGError) -> StoredCheckpoint? {
        try CheckpointTables.checkpoint(size: size, on: connection)
    }

    /// Appends `leaves` and saves the new state, with `checkpoint` (signed at the new size) if
    /// one is due, in one transaction.
    package func append(_ leaves: [(eventID: UUID?, hash: [UInt8])], state: State, checkpoint: (Checkpoint, note: String, keyHash: String)?)
        throws(PGError)
    {
        let tree = CheckpointTables.TreeState(size: state.tree.size, frontier: Array(state.tree.frontier.joined()), cursor: state.cursor)
        let signed = checkpoint.map { checkpoint, note, keyHash in
            CheckpointTables.Signed(size: checkpoint.size, origin: checkpoint.origin, rootHash: checkpoint.rootHash, keyHash: keyHash, note: note)
        }
        try CheckpointTables.append(leaves, state: tree, checkpoint: signed, on: connection)
    }

    package func register(_ key: NoteVerifier) throws(PGError) {
        try CheckpointTables.register(verifierKey: key.encoded, on: connection)
    }

    package func listedKeys() throws(PGError) -> [String] {
        try CheckpointTables.verifierKeys(on: connection)
    }

    /// The leaf hashes the signer recorded for indexes `range`, in order.
    package func leafHashes(_ range: Range<Int>) throws(PGError) -> [(eventID: String, hash: [UInt8])] {
        try CheckpointTables.leafHashes(range, on: connection)
    }

    /// The leaf index of `eventID`, if the tree has it.
    package func leafIndex(of eventID: UUID) throws(PGError) -> Int? {
        try CheckpointTables.leafIndex(of: eventID, on: connection)
    }
}
