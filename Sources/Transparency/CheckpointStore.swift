public import AuditStore
import Config
public import Foundation
public import Pipeline

/// The leaf of the checkpoint tree for one audit row: the reference SDK's
/// `canonical_row_bytes_for_signing` (the HMAC's fields plus the HMAC), computed from the
/// stored row, so an auditor needs no secret to recompute it. Metadata is read as Python reads
/// it back, as for the HMAC. A row that cannot be read back gets a leaf over every selected
/// column's stored text, so whatever it holds is bound by the tree, and changing it shows.
public enum AuditLeaf {
    public static func bytes(_ row: AuditTableFollower.Row) -> [UInt8] { bytes(row.decoded, columns: row.columns) }

    /// The leaf of a row read with `AuditRow.selectColumns`.
    public static func bytes(columns: [String?]) -> [UInt8] {
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

/// The checkpoint tables: the tree's leaf hashes in commit order (for proofs and for naming the
/// first divergent leaf), its compact state (so a checkpoint costs O(new rows)), and the signed
/// checkpoints. The leaf and checkpoint tables are append-only, as the audit table is.
public struct CheckpointStore {
    public static let schema = SchemaSteps(owner: "checkpoints", statements: [
        // Commit order needs the inserting transaction's id (as the bridge's durable mode does).
        "ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS governance_txid xid8 NOT NULL DEFAULT pg_current_xact_id()",
        "CREATE INDEX IF NOT EXISTS idx_audit_txid ON governance_audit_events (governance_txid, chain_seq)",
        """
        CREATE TABLE IF NOT EXISTS governance_merkle_leaves (
            leaf_index BIGINT PRIMARY KEY,
            event_id   UUID   NOT NULL,
            leaf_hash  BYTEA  NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS idx_merkle_leaves_event ON governance_merkle_leaves (event_id)",
        """
        CREATE TABLE IF NOT EXISTS governance_checkpoint_state (
            singleton        BOOLEAN     PRIMARY KEY DEFAULT true CHECK (singleton),
            tree_size        BIGINT      NOT NULL,
            cursor_txid      xid8        NOT NULL,
            cursor_chain_seq BIGINT      NOT NULL,
            frontier         BYTEA       NOT NULL,
            created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS governance_checkpoints (
            tree_size  BIGINT      PRIMARY KEY,
            origin     TEXT        NOT NULL,
            root_hash  BYTEA       NOT NULL,
            key_hash   TEXT        NOT NULL,
            note       TEXT        NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """,
        // Every key that has signed here, kept after rotation so old checkpoints still verify.
        """
        CREATE TABLE IF NOT EXISTS governance_checkpoint_keys (
            verifier_key  TEXT        PRIMARY KEY,
            first_used_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """,
        AuditSchema.appendOnlyFunction,
        "DROP TRIGGER IF EXISTS trg_merkle_leaves_append_only ON governance_merkle_leaves",
        "CREATE TRIGGER trg_merkle_leaves_append_only BEFORE UPDATE OR DELETE ON governance_merkle_leaves FOR EACH ROW EXECUTE FUNCTION governance_append_only()",
        "DROP TRIGGER IF EXISTS trg_checkpoints_append_only ON governance_checkpoints",
        "CREATE TRIGGER trg_checkpoints_append_only BEFORE UPDATE OR DELETE ON governance_checkpoints FOR EACH ROW EXECUTE FUNCTION governance_append_only()",
    ])

    /// A fixed session advisory lock: the one signer per database holds it.
    static let signerLockKey: Int64 = 0x6763_6b70 // "gckp"

    public struct State: Sendable {
        public var tree = CompactMerkleTree()
        public var cursor = AuditTableFollower.Cursor(txid: "0", chainSeq: 0)
        /// Seconds since the tree was started: the first checkpoint waits an interval from then.
        public var ageSeconds = 0.0
    }

    public struct StoredCheckpoint: Sendable {
        public var size: Int
        public var note: String
        public var ageSeconds: Double
    }

    public let connection: PGConnection

    public init(connection: PGConnection) {
        self.connection = connection
    }

    public func migrate() throws(PGError) {
        try AuditSchema.inMigration(connection) { () throws(PGError) in
            for statement in Self.schema.statements { try connection.exec(statement) }
        }
    }

    /// True while this connection holds the signer lock (taken here when free).
    public func holdsSignerLock() throws(PGError) -> Bool {
        try connection.holdsSessionLock(Self.signerLockKey)
    }

    public func loadState() throws(PGError) -> State {
        let rows = try connection.exec("SELECT tree_size, cursor_txid::text, cursor_chain_seq, encode(frontier, 'hex'), extract(epoch FROM now() - created_at)::float8 FROM governance_checkpoint_state").rows
        guard let row = rows.first else { return State() }
        let hashes = Hex.bytes(row[3] ?? "") ?? []
        let frontier = stride(from: 0, to: hashes.count, by: 32).map { Array(hashes[$0..<min($0 + 32, hashes.count)]) }
        guard let size = row[0].flatMap({ Int($0) }), let txid = row[1], let chainSeq = row[2].flatMap({ Int64($0) }),
              let tree = CompactMerkleTree(size: size, frontier: frontier) else {
            throw PGError(message: "governance_checkpoint_state does not describe a tree (size \(row[0] ?? "?"), \(frontier.count) hashes)", sqlState: nil, connectionLost: false)
        }
        return State(tree: tree, cursor: .init(txid: txid, chainSeq: chainSeq), ageSeconds: row[4].flatMap { Double($0) } ?? 0)
    }

    public func latestCheckpoint() throws(PGError) -> StoredCheckpoint? {
        try checkpoints(where: "true ORDER BY tree_size DESC LIMIT 1").first
    }

    /// Every stored checkpoint up to `size`, oldest first.
    public func checkpoints(upTo size: Int) throws(PGError) -> [StoredCheckpoint] {
        try checkpoints(where: "tree_size <= \(size) ORDER BY tree_size")
    }

    public func checkpoint(size: Int) throws(PGError) -> StoredCheckpoint? {
        try checkpoints(where: "tree_size = \(size)").first
    }

    private func checkpoints(where condition: String) throws(PGError) -> [StoredCheckpoint] {
        try connection.exec("SELECT tree_size, note, extract(epoch FROM now() - created_at)::float8 FROM governance_checkpoints WHERE \(condition)").rows.compactMap { row in
            guard let size = row[0].flatMap({ Int($0) }), let note = row[1] else { return nil }
            return StoredCheckpoint(size: size, note: note, ageSeconds: row[2].flatMap { Double($0) } ?? 0)
        }
    }

    /// Appends `leaves` and saves the new state, with `checkpoint` (signed at the new size) if
    /// one is due, in one transaction.
    public func append(_ leaves: [(eventID: UUID?, hash: [UInt8])], state: State, checkpoint: (Checkpoint, note: String, keyHash: String)?) throws(PGError) {
        try connection.exec("BEGIN")
        do {
            if !leaves.isEmpty {
                let first = state.tree.size - leaves.count
                let indexes = "{" + (first..<state.tree.size).map(String.init).joined(separator: ",") + "}"
                let ids = "{" + leaves.map { $0.eventID?.lowercasedString ?? "00000000-0000-0000-0000-000000000000" }.joined(separator: ",") + "}"
                let hashes = "{" + leaves.map(\.hash.hexString).joined(separator: ",") + "}"
                try connection.exec("""
                    INSERT INTO governance_merkle_leaves (leaf_index, event_id, leaf_hash)
                    SELECT i, e, decode(h, 'hex') FROM unnest($1::int8[], $2::uuid[], $3::text[]) AS t(i, e, h)
                    """, [indexes, ids, hashes])
            }
            try connection.exec("""
                INSERT INTO governance_checkpoint_state (tree_size, cursor_txid, cursor_chain_seq, frontier)
                VALUES ($1, $2::xid8, $3, decode($4, 'hex'))
                ON CONFLICT (singleton) DO UPDATE SET tree_size = EXCLUDED.tree_size, cursor_txid = EXCLUDED.cursor_txid,
                    cursor_chain_seq = EXCLUDED.cursor_chain_seq, frontier = EXCLUDED.frontier, updated_at = now()
                """, [String(state.tree.size), state.cursor.txid, String(state.cursor.chainSeq), state.tree.frontier.joined().hexString])
            if let (checkpoint, note, keyHash) = checkpoint {
                try connection.exec("""
                    INSERT INTO governance_checkpoints (tree_size, origin, root_hash, key_hash, note) VALUES ($1, $2, decode($3, 'hex'), $4, $5)
                    """, [String(checkpoint.size), checkpoint.origin, checkpoint.rootHash.hexString, keyHash, note])
            }
            try connection.exec("COMMIT")
        } catch {
            _ = try? connection.exec("ROLLBACK")
            throw error
        }
    }

    public func register(_ key: NoteVerifier) throws(PGError) {
        try connection.exec("INSERT INTO governance_checkpoint_keys (verifier_key) VALUES ($1) ON CONFLICT DO NOTHING", [key.encoded])
    }

    public func listedKeys() throws(PGError) -> [String] {
        try connection.exec("SELECT verifier_key FROM governance_checkpoint_keys ORDER BY first_used_at").rows.compactMap { $0[0] }
    }

    /// The leaf hashes the signer recorded for indexes `range`, in order.
    public func leafHashes(_ range: Range<Int>) throws(PGError) -> [(eventID: String, hash: [UInt8])] {
        try connection.exec("""
            SELECT event_id::text, encode(leaf_hash, 'hex') FROM governance_merkle_leaves
            WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index
            """, [String(range.lowerBound), String(range.upperBound)]).rows.map { ($0[0] ?? "", Hex.bytes($0[1] ?? "") ?? []) }
    }

    /// The leaf index of `eventID`, if the tree has it.
    public func leafIndex(of eventID: UUID) throws(PGError) -> Int? {
        let rows = try connection.exec("SELECT leaf_index FROM governance_merkle_leaves WHERE event_id = $1::uuid ORDER BY leaf_index LIMIT 1",
                                       [eventID.lowercasedString]).rows
        return (rows.first?[0] ?? nil).flatMap { Int($0) }
    }
}
