import Config
public import Foundation
public import Pipeline

/// What the bridge keeps in PostgreSQL per delivery target (URL + token fingerprint): the last
/// seq the platform accepted, so a restart needs no 409 round trip, and, in durable mode, the
/// cursor into the audit table up to which every event was delivered.
///
/// The cursor is `(governance_txid, chain_seq)`, where `governance_txid` is the inserting
/// transaction's id (a column durable mode adds). Rows are read only from transactions older
/// than every transaction still running (`pg_snapshot_xmin`), so a row that commits late, with
/// a smaller `chain_seq` than rows already read, can never be skipped.
public struct BridgeStateStore {
    public typealias Cursor = AuditTableFollower.Cursor

    let connection: PGConnection
    let target: String

    public init(database: AuditDatabase, target: String) throws(PGError) {
        connection = try database.connect(applicationName: "governance-collector platform_bridge")
        self.target = target
    }

    public static let schema = SchemaSteps(
        owner: "bridge_state",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_bridge_state (
                target           TEXT        PRIMARY KEY,
                last_seq         BIGINT      NOT NULL DEFAULT 0,
                cursor_txid      xid8        NULL,
                cursor_chain_seq BIGINT      NULL,
                updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """
        ])

    /// The state table (the primary's migration makes it too), and with `durable` the audit
    /// table's transaction-id column and index. The audit table itself is the postgres
    /// exporter's to create: until it exists this fails and the bridge retries. Memory mode
    /// never locks the audit table here, so starting a bridge never stalls ingest.
    public func migrate(durable: Bool) throws(PGError) {
        try AuditSchema.inMigration(connection) { () throws(PGError) in
            for statement in Self.schema.statements + (durable ? AuditSchema.commitOrderColumn : []) { try connection.exec(statement) }
        }
    }

    /// One target's delivery state, for the dashboard.
    public struct Target: Sendable {
        public var target: String
        public var lastSeq: String
        public var ageSeconds: Double
    }

    /// Every target's delivery state.
    public static func targets(on connection: PGConnection) throws(PGError) -> [Target] {
        try connection.exec(
            "SELECT target, last_seq::text, extract(epoch FROM now() - updated_at)::float8 FROM governance_bridge_state ORDER BY target"
        )
        .rows.map { Target(target: $0[0] ?? "", lastSeq: $0[1] ?? "0", ageSeconds: Double($0[2] ?? "0") ?? 0) }
    }

    /// The stored last seq and cursor (zero and nil for a new target).
    public func load() throws(PGError) -> (lastSeq: Int64, cursor: Cursor?) {
        let rows = try connection.exec(
            "SELECT last_seq, cursor_txid::text, cursor_chain_seq FROM governance_bridge_state WHERE target = $1", [target]
        ).rows
        guard let row = rows.first else { return (0, nil) }
        var cursor: Cursor?
        if let txid = row[1], let chainSeq = row[2].flatMap({ Int64($0) }) { cursor = Cursor(txid: txid, chainSeq: chainSeq) }
        return (Int64(row[0] ?? "0") ?? 0, cursor)
    }

    public func save(lastSeq: Int64, cursor: Cursor?) throws(PGError) {
        try connection.exec(
            """
            INSERT INTO governance_bridge_state (target, last_seq, cursor_txid, cursor_chain_seq, updated_at)
            VALUES ($1, $2, $3::xid8, $4, now())
            ON CONFLICT (target) DO UPDATE SET last_seq = EXCLUDED.last_seq,
                cursor_txid = coalesce(EXCLUDED.cursor_txid, governance_bridge_state.cursor_txid),
                cursor_chain_seq = coalesce(EXCLUDED.cursor_chain_seq, governance_bridge_state.cursor_chain_seq),
                updated_at = now()
            """, [target, String(lastSeq), cursor?.txid, cursor.map { String($0.chainSeq) }])
    }

    /// Where a new durable target starts: at events received since `since` (the exporter's
    /// construction, less a minute for clock skew between this host and the server), so events
    /// accepted while the bridge was still connecting are not skipped; older history is not
    /// replayed.
    public func initialCursor(since: Date) throws(PGError) -> Cursor {
        let seconds = String(since.timeIntervalSince1970 - 60)
        let txid =
            try connection.exec(
                """
                SELECT least(pg_snapshot_xmin(pg_current_snapshot()),
                             (SELECT min(governance_txid) FROM governance_audit_events WHERE received_at >= to_timestamp($1::float8)))::text
                """, [seconds]
            ).rows.first?.first ?? nil
        return Cursor(txid: txid ?? "0", chainSeq: 0)
    }

    /// Only one collector follows a target at a time; the others stand by (session lock).
    public func tryLead() throws(PGError) -> Bool {
        let key = Int64(
            bitPattern: UInt64(truncatingIfNeeded: target.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }))
        return try connection.exec("SELECT pg_try_advisory_lock(\(key))").rows.first?.first == "t"
    }

    public func fetch(after cursor: Cursor, limit: Int) throws(PGError) -> [AuditTableFollower.Row] {
        try AuditTableFollower(connection: connection).fetch(after: cursor, limit: limit)
    }
}
