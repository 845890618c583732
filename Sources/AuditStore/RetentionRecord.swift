import Config
public import Foundation
public import Pipeline

/// What retention removed, as the seals record it (the `retention:` section, module Retention,
/// writes them): each seal is one transaction that removed a prefix of the audit table in commit
/// order, `(governance_txid, chain_seq)` up to its cut, and recorded, before the rows went, the
/// last removed row of each session (so a session's first remaining row still links), the seq
/// range removed from each workflow (so seq still runs gapless from there), and the Merkle tree's
/// compact state at the cut (so `checkpoint verify` continues the tree from it). `verify` and
/// `checkpoint verify` read them to report "removed by retention" instead of "tampered".
///
/// The tables are append-only, and the audit table's DELETE trigger lets a row go only in the
/// transaction that recorded a seal covering it: everything else stays append-only.
public struct RetentionRecord {
    public static let schema = SchemaSteps(
        owner: "retention",
        statements: [
            """
            CREATE TABLE IF NOT EXISTS governance_retention_seals (
                seal_id           UUID        PRIMARY KEY,
                sealed_txid       xid8        NOT NULL DEFAULT pg_current_xact_id(),
                sealed_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
                keep              TEXT        NOT NULL,
                cutoff            TIMESTAMPTZ NOT NULL,
                cut_txid          xid8        NOT NULL,
                cut_chain_seq     BIGINT      NOT NULL,
                removed_rows      BIGINT      NOT NULL,
                max_chain_seq     BIGINT      NOT NULL,
                first_received_at TIMESTAMPTZ NULL,
                last_received_at  TIMESTAMPTZ NULL,
                first_created_at  TIMESTAMPTZ NULL,
                last_created_at   TIMESTAMPTZ NULL,
                tree_size         BIGINT      NULL,
                frontier          BYTEA       NULL,
                heads_sha256      TEXT        NOT NULL,
                seq_sha256        TEXT        NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS idx_retention_seals_txid ON governance_retention_seals (sealed_txid)",
            """
            CREATE TABLE IF NOT EXISTS governance_retention_heads (
                seal_id        UUID         NOT NULL,
                session_id     UUID         NOT NULL,
                last_chain_seq BIGINT       NOT NULL,
                last_hmac      VARCHAR(128) NOT NULL,
                PRIMARY KEY (seal_id, session_id)
            )
            """,
            "CREATE INDEX IF NOT EXISTS idx_retention_heads_session ON governance_retention_heads (session_id, last_chain_seq DESC)",
            "CREATE INDEX IF NOT EXISTS idx_retention_heads_hmac ON governance_retention_heads (last_hmac)",
            """
            CREATE TABLE IF NOT EXISTS governance_retention_seq (
                seal_id   UUID   NOT NULL,
                workflow  TEXT   NOT NULL,
                first_seq BIGINT NOT NULL,
                last_seq  BIGINT NOT NULL,
                rows      BIGINT NOT NULL,
                PRIMARY KEY (seal_id, workflow)
            )
            """,
            "DROP TRIGGER IF EXISTS trg_retention_seals_append_only ON governance_retention_seals",
            "CREATE TRIGGER trg_retention_seals_append_only BEFORE UPDATE OR DELETE ON governance_retention_seals FOR EACH ROW EXECUTE FUNCTION governance_append_only()",
            "DROP TRIGGER IF EXISTS trg_retention_heads_append_only ON governance_retention_heads",
            "CREATE TRIGGER trg_retention_heads_append_only BEFORE UPDATE OR DELETE ON governance_retention_heads FOR EACH ROW EXECUTE FUNCTION governance_append_only()",
            "DROP TRIGGER IF EXISTS trg_retention_seq_append_only ON governance_retention_seq",
            "CREATE TRIGGER trg_retention_seq_append_only BEFORE UPDATE OR DELETE ON governance_retention_seq FOR EACH ROW EXECUTE FUNCTION governance_append_only()",
        ])

    /// The seal event's kind, and the session its seals chain in.
    public static let sealKind = "audit.retention_seal"
    public static let sealSession = UUID(uuidString: "2e7e2710-5ea1-4000-8000-000000000000")!

    /// The newest seal's summary, with everything removed so far.
    public struct Summary: Sendable {
        public var seals: Int
        public var removedRows: Int64
        /// The newest seal's cutoff: rows received before it may have been removed.
        public var cutoff: String
        public var sealID: String
    }

    /// The tree at the newest seal that recorded one: its size, compact state and cut.
    public struct TreeCut: Sendable {
        public var sealID: String
        public var cutoff: String
        public var size: Int
        public var frontier: [[UInt8]]
        public var cursor: AuditTableFollower.Cursor
        /// The tree root the seal's event states (hex), while the event is still in the table.
        public var eventRoot: String?
    }

    let connection: PGConnection

    public init(connection: PGConnection) {
        self.connection = connection
    }

    /// False on a table no retention ever ran on (e.g. one the SDK created): nothing to report.
    public func exists() throws(PGError) -> Bool {
        try connection.exec("SELECT to_regclass('governance_retention_seals') IS NOT NULL").rows.first?.first == "t"
    }

    /// The seals (a JSON array, as stored) whose removed rows reach to `micros` or later: the
    /// removals that touched a range starting there (for an evidence bundle).
    public func sealsJSON(reachingInto micros: Int64) throws(PGError) -> String {
        guard try exists() else { return "[]" }
        return try connection.exec(
            """
            SELECT coalesce(json_agg(s ORDER BY s.sealed_at), '[]') FROM governance_retention_seals s
            WHERE greatest(s.last_created_at, s.cutoff) >= timestamptz 'epoch' + $1::int8 * interval '1 microsecond'
            """, [String(micros)]
        ).rows.first?[0] ?? "[]"
    }

    public func summary() throws(PGError) -> Summary? {
        guard try exists() else { return nil }
        let totals = try connection.exec("SELECT count(*), coalesce(sum(removed_rows), 0) FROM governance_retention_seals").rows[0]
        guard
            let newest = try connection.exec(
                "SELECT seal_id::text, cutoff::text FROM governance_retention_seals ORDER BY sealed_at DESC, cut_txid DESC LIMIT 1"
            ).rows.first
        else {
            return nil
        }
        return Summary(
            seals: totals[0].flatMap { Int($0) } ?? 0, removedRows: totals[1].flatMap { Int64($0) } ?? 0,
            cutoff: newest[1] ?? "", sealID: newest[0] ?? "")
    }

    /// The newest seal with the Merkle tree's state, nil when no seal recorded one.
    public func treeCut() throws(PGError) -> TreeCut? {
        guard try exists() else { return nil }
        guard
            let row = try connection.exec(
                """
                SELECT s.seal_id::text, s.cutoff::text, s.tree_size, encode(s.frontier, 'hex'), s.cut_txid::text, s.cut_chain_seq, e.metadata_json->>'tree_root'
                FROM governance_retention_seals s LEFT JOIN governance_audit_events e ON e.event_id = s.seal_id AND e.kind = '\(Self.sealKind)'
                WHERE s.tree_size IS NOT NULL ORDER BY s.tree_size DESC LIMIT 1
                """
            ).rows.first, let size = row[2].flatMap({ Int($0) }), let txid = row[4], let chainSeq = row[5].flatMap({ Int64($0) })
        else { return nil }
        let hashes = Hex.bytes(row[3] ?? "") ?? []
        let frontier = stride(from: 0, to: hashes.count, by: 32).map { Array(hashes[$0..<min($0 + 32, hashes.count)]) }
        return TreeCut(
            sealID: row[0] ?? "", cutoff: row[1] ?? "", size: size, frontier: frontier, cursor: .init(txid: txid, chainSeq: chainSeq),
            eventRoot: row[6])
    }

    /// The HMAC of the last row retention removed from `session` (its newest seal's), if any.
    /// Only when `summary()` found seals.
    public func head(of session: String) throws(PGError) -> String? {
        try connection.exec(
            """
            SELECT last_hmac FROM governance_retention_heads WHERE session_id = $1::uuid ORDER BY last_chain_seq DESC LIMIT 1
            """, [session]
        ).rows.first?[0] ?? nil
    }

    /// Whether `hmac` is the last removed row of some session (a rotation marker links to the
    /// table's last row, whichever session it is in). Only when `summary()` found seals.
    public func isHead(_ hmac: String) throws(PGError) -> Bool {
        try connection.exec("SELECT 1 FROM governance_retention_heads WHERE last_hmac = $1 LIMIT 1", [hmac]).rows.count == 1
    }

    /// The digests a seal records of its heads and seq ranges (`$1`: the seal id); the seal event
    /// carries them too, so the tables cannot change unseen.
    public static let headsDigest = """
        SELECT encode(sha256(convert_to(coalesce(string_agg(session_id::text || ' ' || last_hmac, E'\\n' ORDER BY session_id), ''), 'UTF8')), 'hex')
        FROM governance_retention_heads WHERE seal_id = $1::uuid
        """
    public static let seqDigest = """
        SELECT encode(sha256(convert_to(coalesce(string_agg(workflow || ' ' || first_seq || ' ' || last_seq || ' ' || rows, E'\\n' ORDER BY workflow), ''), 'UTF8')), 'hex')
        FROM governance_retention_seq WHERE seal_id = $1::uuid
        """

    /// Each seal checked against its recorded heads and seq ranges (their digests) and against
    /// its seal event while retention has not removed that too (digests, rows, cut): what a
    /// seal row written by hand, or an edited heads table, would break. Problems as text.
    public func sealProblems() throws(PGError) -> [String] {
        let rows = try connection.exec(
            """
            SELECT s.seal_id::text, s.heads_sha256 = (\(Self.headsDigest.replacingOccurrences(of: "$1::uuid", with: "s.seal_id"))),
                   s.seq_sha256 = (\(Self.seqDigest.replacingOccurrences(of: "$1::uuid", with: "s.seal_id"))),
                   e.event_id IS NOT NULL,
                   e.metadata_json->>'heads_sha256' = s.heads_sha256 AND e.metadata_json->>'seq_sha256' = s.seq_sha256
                       AND e.metadata_json->>'removed_rows' = s.removed_rows::text AND e.metadata_json->>'cut' = s.cut_txid::text || ':' || s.cut_chain_seq,
                   EXISTS (SELECT 1 FROM governance_retention_seals later WHERE later.cut_txid >= s.sealed_txid)
            FROM governance_retention_seals s LEFT JOIN governance_audit_events e ON e.event_id = s.seal_id AND e.kind = '\(Self.sealKind)'
            ORDER BY s.sealed_at
            """
        ).rows
        var problems: [String] = []
        for row in rows {
            let seal = row[0] ?? "?"
            if row[1] != "t" || row[2] != "t" {
                problems.append("retention seal \(seal): its recorded heads or seq ranges do not match its digests (they were changed)")
            }
            if row[3] == "t", row[4] != "t" { problems.append("retention seal \(seal) does not match its seal event (digests, rows or cut differ)") }
            if row[3] != "t", row[5] != "t" {
                problems.append("retention seal \(seal) has no seal event in the table, and no later seal removed one")
            }
        }
        return problems
    }

    /// A `FROM` item with each workflow's last seq removed by retention (`workflow`, `last_seq`);
    /// empty when no retention ever ran.
    public func removedSeq() throws(PGError) -> String {
        try exists()
            ? "(SELECT workflow, max(last_seq) AS last_seq FROM governance_retention_seq GROUP BY workflow)"
            : "(SELECT NULL::text AS workflow, NULL::int8 AS last_seq WHERE false)"
    }
}
