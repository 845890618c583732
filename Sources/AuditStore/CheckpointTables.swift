import Config
public import Foundation
public import Pipeline

/// The checkpoint signer's tables: the tree's leaf hashes in commit order (for proofs and for
/// naming the first divergent leaf), its compact state (so a checkpoint costs O(new rows)), the
/// signed checkpoints and every key that signed one. Leaves and checkpoints are append-only, as
/// the audit table is. Created when a signer first starts (`migrate`), because following the
/// table in commit order needs `governance_txid`, which on a table the SDK created means a
/// rewrite that an install without checkpoints should not pay.
public enum CheckpointTables {
    public static let schema = SchemaSteps(
        owner: "checkpoints",
        statements: AuditSchema.commitOrderColumn + [
            """
            CREATE TABLE IF NOT EXISTS governance_merkle_leaves (
                leaf_index BIGINT PRIMARY KEY,
                event_id   UUID   NOT NULL,
                leaf_hash  BYTEA  NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS idx_merkle_leaves_event ON governance_merkle_leaves (event_id)",
            // Interior nodes at every fourth level (4, 8, 12…): a proof's hashes are then read
            // from at most 8 rows each, never by rehashing the leaves. Written behind the leaves.
            """
            CREATE TABLE IF NOT EXISTS governance_merkle_nodes (
                level      SMALLINT NOT NULL,
                node_index BIGINT   NOT NULL,
                hash       BYTEA    NOT NULL,
                PRIMARY KEY (level, node_index)
            )
            """,
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
            // The continuous verifier's own tree and progress (`VerificationProgress`).
            """
            CREATE TABLE IF NOT EXISTS governance_verification_state (
                singleton        BOOLEAN     PRIMARY KEY DEFAULT true CHECK (singleton),
                tree_size        BIGINT      NOT NULL,
                cursor_txid      xid8        NOT NULL,
                cursor_chain_seq BIGINT      NOT NULL,
                frontier         BYTEA       NOT NULL,
                checked_size     BIGINT      NOT NULL,
                rows_checked     BIGINT      NOT NULL,
                change_mark      TEXT,
                failure          TEXT,
                failed_at        TIMESTAMPTZ,
                updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
            AuditSchema.appendOnlyFunction,
            "DROP TRIGGER IF EXISTS trg_merkle_leaves_append_only ON governance_merkle_leaves",
            "CREATE TRIGGER trg_merkle_leaves_append_only BEFORE UPDATE OR DELETE ON governance_merkle_leaves FOR EACH ROW EXECUTE FUNCTION governance_append_only()",
            "DROP TRIGGER IF EXISTS trg_merkle_nodes_append_only ON governance_merkle_nodes",
            "CREATE TRIGGER trg_merkle_nodes_append_only BEFORE UPDATE OR DELETE ON governance_merkle_nodes FOR EACH ROW EXECUTE FUNCTION governance_append_only()",
            "DROP TRIGGER IF EXISTS trg_checkpoints_append_only ON governance_checkpoints",
            "CREATE TRIGGER trg_checkpoints_append_only BEFORE UPDATE OR DELETE ON governance_checkpoints FOR EACH ROW EXECUTE FUNCTION governance_append_only()",
        ])

    /// A fixed session advisory lock: the one signer per database holds it.
    static let signerLockKey: Int64 = 0x6763_6b70  // "gckp"
    /// Another for the one continuous verifier per database, so it may run beside the signer.
    static let verifierLockKey: Int64 = 0x6763_7666  // "gcvf"

    public static func migrate(_ connection: PGConnection) throws(PGError) {
        try AuditSchema.inMigration(connection) { () throws(PGError) in
            for statement in schema.statements { try connection.exec(statement) }
        }
    }

    /// True when a signer has created the tables (the database keeps a tree).
    public static func exist(on connection: PGConnection) throws(PGError) -> Bool {
        try connection.exec("SELECT to_regclass('governance_checkpoint_state') IS NOT NULL").rows.first?.first == "t"
    }

    /// True while `connection` holds the signer lock (taken here when free).
    public static func holdsSignerLock(_ connection: PGConnection) throws(PGError) -> Bool {
        try connection.holdsSessionLock(signerLockKey)
    }

    /// The tree as the signer left it: its size, its frontier (the compact range's hashes,
    /// concatenated), and how far into the audit table it has read.
    public struct TreeState: Sendable {
        public var size: Int
        public var frontier: [UInt8]
        public var cursor: AuditTableFollower.Cursor
        /// Seconds since the tree was started.
        public var ageSeconds: Double

        public init(size: Int, frontier: [UInt8], cursor: AuditTableFollower.Cursor, ageSeconds: Double = 0) {
            (self.size, self.frontier, self.cursor, self.ageSeconds) = (size, frontier, cursor, ageSeconds)
        }
    }

    public static func treeState(on connection: PGConnection) throws(PGError) -> TreeState? {
        let rows = try connection.exec(
            """
            SELECT tree_size, cursor_txid::text, cursor_chain_seq, encode(frontier, 'hex'), extract(epoch FROM now() - created_at)::float8
            FROM governance_checkpoint_state
            """
        ).rows
        guard let row = rows.first else { return nil }
        guard let size = row[0].flatMap({ Int($0) }), let txid = row[1], let chainSeq = row[2].flatMap({ Int64($0) }),
            let frontier = Hex.bytes(row[3] ?? "")
        else {
            throw PGError(
                message: "governance_checkpoint_state does not describe a tree (size \(row[0] ?? "?"))", sqlState: nil, connectionLost: false)
        }
        return TreeState(
            size: size, frontier: frontier, cursor: .init(txid: txid, chainSeq: chainSeq), ageSeconds: row[4].flatMap { Double($0) } ?? 0)
    }

    public struct Stored: Sendable {
        public var size: Int
        public var note: String
        public var ageSeconds: Double
    }

    /// A signed checkpoint to store with the tree's new state.
    public struct Signed: Sendable {
        public var size: Int
        public var origin: String
        public var rootHash: [UInt8]
        public var keyHash: String
        public var note: String

        public init(size: Int, origin: String, rootHash: [UInt8], keyHash: String, note: String) {
            (self.size, self.origin, self.rootHash, self.keyHash, self.note) = (size, origin, rootHash, keyHash, note)
        }
    }

    public static func latest(on connection: PGConnection) throws(PGError) -> Stored? {
        try checkpoints(where: "true ORDER BY tree_size DESC LIMIT 1", on: connection).first
    }

    /// Every stored checkpoint up to `size`, oldest first.
    public static func checkpoints(upTo size: Int, on connection: PGConnection) throws(PGError) -> [Stored] {
        try checkpoints(where: "tree_size <= \(size) ORDER BY tree_size", on: connection)
    }

    /// The stored checkpoints larger than `lower` and up to `size`, oldest first.
    public static func checkpoints(after lower: Int, upTo size: Int, on connection: PGConnection) throws(PGError) -> [Stored] {
        try checkpoints(where: "tree_size > \(lower) AND tree_size <= \(size) ORDER BY tree_size", on: connection)
    }

    /// The smallest stored checkpoint larger than `lower` (the first that covers leaf `lower`).
    public static func firstCheckpoint(after lower: Int, on connection: PGConnection) throws(PGError) -> Stored? {
        try checkpoints(where: "tree_size > \(lower) ORDER BY tree_size LIMIT 1", on: connection).first
    }

    public static func checkpoint(size: Int, on connection: PGConnection) throws(PGError) -> Stored? {
        try checkpoints(where: "tree_size = \(size)", on: connection).first
    }

    /// The smallest checkpoint larger than `size`, and how many are, for a witness's cursor;
    /// nil when there is none (or no signer has created the tables yet).
    public static func checkpoint(after size: Int, on connection: PGConnection) throws(PGError) -> (checkpoint: Stored, remaining: Int)? {
        guard try exist(on: connection) else { return nil }
        let rows = try connection.exec(
            """
            SELECT tree_size, note, extract(epoch FROM now() - created_at)::float8, (SELECT count(*) FROM governance_checkpoints WHERE tree_size > $1::int8)
            FROM governance_checkpoints WHERE tree_size > $1::int8 ORDER BY tree_size LIMIT 1
            """, [String(size)]
        ).rows
        guard let row = rows.first, let stored = stored(row) else { return nil }
        return (stored, Int(row[3] ?? "0") ?? 0)
    }

    private static func checkpoints(where condition: String, on connection: PGConnection) throws(PGError) -> [Stored] {
        try connection.exec("SELECT tree_size, note, extract(epoch FROM now() - created_at)::float8 FROM governance_checkpoints WHERE \(condition)")
            .rows.compactMap(stored)
    }

    private static func stored(_ row: [String?]) -> Stored? {
        guard let size = row[0].flatMap({ Int($0) }), let note = row[1] else { return nil }
        return Stored(size: size, note: note, ageSeconds: row[2].flatMap { Double($0) } ?? 0)
    }

    /// Appends `leaves` (indexes from `state.size - leaves.count`) and saves `state`, with
    /// `checkpoint` if one is due, in one transaction.
    public static func append(_ leaves: [(eventID: UUID?, hash: [UInt8])], state: TreeState, checkpoint: Signed?, on connection: PGConnection)
        throws(PGError)
    {
        try connection.transaction { () throws(PGError) in
            if !leaves.isEmpty {
                let first = state.size - leaves.count
                try connection.exec(
                    """
                    INSERT INTO governance_merkle_leaves (leaf_index, event_id, leaf_hash)
                    SELECT i, e, decode(h, 'hex') FROM unnest($1::int8[], $2::uuid[], $3::text[]) AS t(i, e, h)
                    """,
                    [
                        PGArray.text((first..<state.size).map(String.init)),
                        PGArray.text(leaves.map { $0.eventID?.lowercasedString ?? "00000000-0000-0000-0000-000000000000" }),
                        PGArray.text(leaves.map(\.hash.hexString)),
                    ])
            }
            try connection.exec(
                """
                INSERT INTO governance_checkpoint_state (tree_size, cursor_txid, cursor_chain_seq, frontier)
                VALUES ($1, $2::xid8, $3, decode($4, 'hex'))
                ON CONFLICT (singleton) DO UPDATE SET tree_size = EXCLUDED.tree_size, cursor_txid = EXCLUDED.cursor_txid,
                    cursor_chain_seq = EXCLUDED.cursor_chain_seq, frontier = EXCLUDED.frontier, updated_at = now()
                """, [String(state.size), state.cursor.txid, String(state.cursor.chainSeq), state.frontier.hexString])
            if let checkpoint {
                try connection.exec(
                    """
                    INSERT INTO governance_checkpoints (tree_size, origin, root_hash, key_hash, note) VALUES ($1, $2, decode($3, 'hex'), $4, $5)
                    """, [String(checkpoint.size), checkpoint.origin, checkpoint.rootHash.hexString, checkpoint.keyHash, checkpoint.note])
            }
        }
    }

    /// Records a verifier key (its encoded form) as one that has signed here.
    public static func register(verifierKey: String, on connection: PGConnection) throws(PGError) {
        try connection.exec("INSERT INTO governance_checkpoint_keys (verifier_key) VALUES ($1) ON CONFLICT DO NOTHING", [verifierKey])
    }

    public static func verifierKeys(on connection: PGConnection) throws(PGError) -> [String] {
        try connection.exec("SELECT verifier_key FROM governance_checkpoint_keys ORDER BY first_used_at").rows.compactMap { $0[0] }
    }

    /// The leaf hashes recorded for indexes `range`, in order.
    public static func leafHashes(_ range: Range<Int>, on connection: PGConnection) throws(PGError) -> [(eventID: String, hash: [UInt8])] {
        try connection.exec(
            """
            SELECT event_id::text, encode(leaf_hash, 'hex') FROM governance_merkle_leaves
            WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index
            """, [String(range.lowerBound), String(range.upperBound)]
        ).rows.map { ($0[0] ?? "", Hex.bytes($0[1] ?? "") ?? []) }
    }

    /// The stored hashes at `level` with indexes in `range`, for each request (level 0 is the
    /// leaves), keyed by level and index; a hash not stored is absent. Each request is its own
    /// index range scan (`OFFSET 0` keeps the planner from turning them into one join over the
    /// table, which at a million leaves took 25 ms).
    public static func treeHashes(_ requests: [(level: Int, range: Range<Int>)], on connection: PGConnection) throws(PGError)
        -> [MerkleNodeID: [UInt8]]
    {
        var hashes: [MerkleNodeID: [UInt8]] = [:]
        let leaves = requests.filter { $0.level == 0 }
        let nodes = requests.filter { $0.level > 0 }
        if !leaves.isEmpty {
            let rows = try connection.exec(
                """
                SELECT 0, l.leaf_index, encode(l.leaf_hash, 'hex') FROM unnest($1::int8[], $2::int8[]) AS r(lo, hi)
                CROSS JOIN LATERAL (
                    SELECT leaf_index, leaf_hash FROM governance_merkle_leaves WHERE leaf_index >= r.lo AND leaf_index < r.hi OFFSET 0
                ) AS l
                """, [PGArray.text(leaves.map { String($0.range.lowerBound) }), PGArray.text(leaves.map { String($0.range.upperBound) })]
            ).rows
            for row in rows { add(row, to: &hashes) }
        }
        if !nodes.isEmpty {
            let rows = try connection.exec(
                """
                SELECT n.level, n.node_index, encode(n.hash, 'hex') FROM unnest($1::int2[], $2::int8[], $3::int8[]) AS r(lv, lo, hi)
                CROSS JOIN LATERAL (
                    SELECT level, node_index, hash FROM governance_merkle_nodes
                    WHERE level = r.lv AND node_index >= r.lo AND node_index < r.hi OFFSET 0
                ) AS n
                """,
                [
                    PGArray.text(nodes.map { String($0.level) }), PGArray.text(nodes.map { String($0.range.lowerBound) }),
                    PGArray.text(nodes.map { String($0.range.upperBound) }),
                ]
            ).rows
            for row in rows { add(row, to: &hashes) }
        }
        return hashes
    }

    private static func add(_ row: [String?], to hashes: inout [MerkleNodeID: [UInt8]]) {
        guard let level = row[0].flatMap({ Int($0) }), let index = row[1].flatMap({ Int($0) }), let hash = Hex.bytes(row[2] ?? "") else { return }
        hashes[MerkleNodeID(level: level, index: index)] = hash
    }

    /// How many nodes each of `levels` has stored (they are written in order from index 0).
    public static func nodeCounts(levels: [Int], on connection: PGConnection) throws(PGError) -> [Int] {
        try connection.exec(
            """
            SELECT coalesce((SELECT max(node_index) + 1 FROM governance_merkle_nodes WHERE level = l), 0)
            FROM unnest($1::int2[]) WITH ORDINALITY AS t(l, o) ORDER BY o
            """, [PGArray.text(levels.map(String.init))]
        ).rows.map { $0[0].flatMap { Int($0) } ?? 0 }
    }

    /// Stores interior nodes (ones already stored are left as they are).
    public static func addNodes(level: Int, first: Int, hashes: [[UInt8]], on connection: PGConnection) throws(PGError) {
        guard !hashes.isEmpty else { return }
        try connection.exec(
            """
            INSERT INTO governance_merkle_nodes (level, node_index, hash)
            SELECT $1::int2, $2::int8 + o - 1, decode(h, 'hex') FROM unnest($3::text[]) WITH ORDINALITY AS t(h, o)
            ON CONFLICT DO NOTHING
            """, [String(level), String(first), PGArray.text(hashes.map(\.hexString))])
    }

    /// The leaf index of `eventID`, if the tree has it.
    public static func leafIndex(of eventID: UUID, on connection: PGConnection) throws(PGError) -> Int? {
        let rows = try connection.exec(
            // OFFSET 0 keeps the event_id index: with ORDER BY ... LIMIT 1 the planner may walk
            // the leaves in order instead (half the tree per proof, 50 ms at 1M rows).
            "SELECT min(leaf_index) FROM (SELECT leaf_index FROM governance_merkle_leaves WHERE event_id = $1::uuid OFFSET 0) AS l",
            [eventID.lowercasedString]
        ).rows
        return (rows.first?[0] ?? nil).flatMap { Int($0) }
    }

    /// How many leaves the tree has up to and including the row at `cut` (nil when that row is
    /// not a leaf): what retention's seal records of the tree.
    public static func leafCount(through cut: AuditTableFollower.Cursor, on connection: PGConnection) throws(PGError) -> Int? {
        try connection.exec(
            """
            SELECT leaf_index + 1 FROM governance_merkle_leaves
            WHERE event_id = (SELECT event_id FROM governance_audit_events WHERE governance_txid = $1::xid8 AND chain_seq = $2::int8)
            """, [cut.txid, String(cut.chainSeq)]
        ).rows.first?[0].flatMap { Int($0) }
    }
}

/// A perfect subtree of the checkpoint tree: the `index`th run of 2^`level` leaves (level 0 is a leaf).
public struct MerkleNodeID: Hashable, Sendable {
    public var level: Int
    public var index: Int

    public init(level: Int, index: Int) { (self.level, self.index) = (level, index) }

    /// The leaves it covers.
    public var leaves: Range<Int> { index << level..<(index + 1) << level }
}
