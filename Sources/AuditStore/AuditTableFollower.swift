import Config
public import Foundation
public import Pipeline

/// Reads `governance_audit_events` in commit order, from a cursor `(governance_txid, chain_seq)`,
/// where `governance_txid` is the inserting transaction's id. Rows are read only from
/// transactions older than every transaction still running (`pg_snapshot_xmin`), so a row that
/// commits late, with a smaller `chain_seq` than rows already read, is never skipped. Used by
/// the bridge's durable mode and by `governance-collector tail`.
public struct AuditTableFollower {
    public struct Cursor: Equatable, Sendable {
        public var txid: String
        public var chainSeq: Int64

        public init(txid: String, chainSeq: Int64) {
            self.txid = txid
            self.chainSeq = chainSeq
        }
    }

    let connection: PGConnection

    public init(connection: PGConnection) {
        self.connection = connection
    }

    /// False for a table the SDK created and no durable bridge has followed yet.
    public func hasTxidColumn() throws(PGError) -> Bool {
        try connection.exec("""
            SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('governance_audit_events') AND attname = 'governance_txid' AND NOT attisdropped
            """).rows.count == 1
    }

    /// A cursor before every row committed at or after `since` (created_at, indexed), or before
    /// rows still to commit when `since` is nil.
    public func startCursor(since: Timestamp?) throws(PGError) -> Cursor {
        var sql = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"
        var parameters: [String?] = []
        if let since {
            sql = """
                SELECT least(pg_snapshot_xmin(pg_current_snapshot()),
                             (SELECT min(governance_txid) FROM governance_audit_events WHERE created_at >= to_timestamp($1::float8)))::text
                """
            parameters = [String(Double(since.microseconds) / 1e6)]
        }
        let txid = try connection.exec(sql, parameters).rows.first?.first ?? nil
        return Cursor(txid: txid ?? "0", chainSeq: 0)
    }

    /// A committed row after the cursor, as an event (nil if the row cannot be read back) and
    /// the cursor that passes it.
    public struct Row: Sendable {
        public var event: AuditEvent?
        /// The row's `event_id`, even when the rest cannot be read back.
        public var eventID: UUID?
        public var cursor: Cursor
        public var ageSeconds: Double
    }

    /// ORDER BY names the table's column (`e.`): unqualified, it would sort by the text output column.
    public func fetch(after cursor: Cursor, limit: Int) throws(PGError) -> [Row] {
        let rows = try connection.exec("""
            SELECT governance_txid::text AS txid_text, chain_seq, \(AuditRow.selectColumns),
                   coalesce(extract(epoch FROM clock_timestamp() - received_at)::float8, 0)
            FROM governance_audit_events e
            WHERE governance_txid < pg_snapshot_xmin(pg_current_snapshot())
              AND (governance_txid, chain_seq) > ($1::xid8, $2::int8)
            ORDER BY e.governance_txid, e.chain_seq
            LIMIT \(limit)
            """, [cursor.txid, String(cursor.chainSeq)]).rows
        return rows.compactMap { row -> Row? in
            guard let txid = row[0], let chainSeq = row[1].flatMap({ Int64($0) }) else { return nil }
            let cursor = Cursor(txid: txid, chainSeq: chainSeq), age = Double(row[2 + AuditRow.selectedCount] ?? "0") ?? 0
            return Row(event: AuditRow.decode(row[2..<(2 + AuditRow.selectedCount)]), eventID: row[2].flatMap(UUID.init(text:)), cursor: cursor, ageSeconds: age)
        }
    }
}

/// Reading rows back as `AuditEvent`s: one select list and one decoder for every reader.
extension AuditRow {
    private static let selected = [
        "event_id", "session_id", "agent_id", "parent_event_id", "kind", "model", "input_hash", "output_hash", "metadata_json::text", "prev_hash",
        "hmac_value", "(extract(epoch FROM created_at) * 1000000)::int8", "encode(signature, 'hex')", "signing_key_fingerprint",
        "signature_status", "workflow", "seq", "sdk_version", "decision", "client_signature_status",
    ]
    public static let selectColumns = selected.joined(separator: ", ")
    public static let selectedCount = selected.count

    /// `selectColumns` for a table that may lack some columns (one the SDK created and no
    /// collector migrated, `AuditSchema.columns`): each missing column reads as NULL.
    public static func selectColumns(in present: Set<String>) -> String {
        selected.map { column in column.allSatisfy({ $0.isLetter || $0 == "_" }) && !present.contains(column) ? "NULL" : column }
            .joined(separator: ", ")
    }

    /// The event in the `selectedCount` columns of `selectColumns`; nil if a value cannot be read back.
    public static func decode(_ row: ArraySlice<String?>) -> AuditEvent? {
        let c = Array(row)
        guard c.count == selectedCount, let eventID = c[0].flatMap(UUID.init(text:)), let sessionID = c[1].flatMap(UUID.init(text:)),
              let metadata = c[8].flatMap({ try? JSONParser.parse($0, maxDepth: 1000) }),
              let micros = c[11].flatMap({ Int64($0) }) else { return nil }
        return AuditEvent(
            eventID: eventID, sessionID: sessionID, agentID: c[2] ?? "", kind: c[4] ?? "",
            parentEventID: c[3].flatMap(UUID.init(text:)), model: c[5], inputHash: c[6], outputHash: c[7],
            metadata: metadata, prevHash: c[9], hmac: c[10], createdAt: Timestamp(microseconds: micros),
            signature: c[12].flatMap { Hex.bytes($0) }, signingKeyFingerprint: c[13],
            signatureStatus: c[14] ?? "unsigned", clientSignatureStatus: c[19], workflow: c[15] ?? "", seq: c[16].flatMap { Int64($0) },
            sdkVersion: c[17], decision: c[18].flatMap(Decision.init(rawValue:)))
    }
}
