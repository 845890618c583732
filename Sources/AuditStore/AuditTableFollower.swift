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
        /// For a follower that starts at "now": the snapshot it started in, whose rows it skips
        /// (committed before it started, yet after a transaction still running then).
        public var startSnapshot: String?

        public init(txid: String, chainSeq: Int64, startSnapshot: String? = nil) {
            self.txid = txid
            self.chainSeq = chainSeq
            self.startSnapshot = startSnapshot
        }
    }

    let connection: PGConnection

    public init(connection: PGConnection) {
        self.connection = connection
    }

    /// False for a table the SDK created and no durable bridge has followed yet.
    public func hasTxidColumn() throws(PGError) -> Bool {
        try connection.exec(
            """
            SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('governance_audit_events') AND attname = 'governance_txid' AND NOT attisdropped
            """
        ).rows.count == 1
    }

    /// A cursor before every row committed at or after `since` (created_at, indexed), or before
    /// rows still to commit when `since` is nil. Rows are read only below the oldest running
    /// transaction, which may be older than rows already committed (on any database of the
    /// cluster): those are skipped by the start snapshot, so "new" means committed after the start.
    public func startCursor(since: Timestamp?) throws(PGError) -> Cursor {
        guard let since else {
            let row = try connection.exec("SELECT pg_snapshot_xmin(pg_current_snapshot())::text, pg_current_snapshot()::text").rows.first
            return Cursor(txid: (row?[0] ?? nil) ?? "0", chainSeq: 0, startSnapshot: row?[1] ?? nil)
        }
        let txid =
            try connection.exec(
                """
                SELECT least(pg_snapshot_xmin(pg_current_snapshot()),
                             (SELECT min(governance_txid) FROM governance_audit_events WHERE created_at >= to_timestamp($1::float8)))::text
                """, [String(Double(since.microseconds) / 1e6)]
            ).rows.first?.first ?? nil
        return Cursor(txid: txid ?? "0", chainSeq: 0)
    }

    /// A committed row after the cursor, as an event (or why it cannot be read back) and the
    /// cursor that passes it.
    public struct Row: Sendable {
        public var decoded: Result<AuditEvent, UndecodableRow>
        /// The `AuditRow.selectColumns` texts as stored, for what must cover a row whatever it holds.
        public var columns: [String?]
        public var cursor: Cursor
        public var ageSeconds: Double
        public var event: AuditEvent? { try? decoded.get() }
        /// The row's `event_id`, even when the rest cannot be read back.
        public var eventID: UUID? { columns[0].flatMap(UUID.init(text:)) }
    }

    /// ORDER BY names the table's column (`e.`): unqualified, it would sort by the text output column.
    public func fetch(after cursor: Cursor, limit: Int) throws(PGError) -> [Row] {
        let rows = try connection.exec(
            """
            SELECT governance_txid::text AS txid_text, chain_seq, \(AuditRow.selectColumns),
                   coalesce(extract(epoch FROM clock_timestamp() - received_at)::float8, 0)
            FROM governance_audit_events e
            WHERE governance_txid < pg_snapshot_xmin(pg_current_snapshot())
              AND (governance_txid, chain_seq) > ($1::xid8, $2::int8)
              AND ($3::pg_snapshot IS NULL OR NOT pg_visible_in_snapshot(governance_txid, $3::pg_snapshot))
            ORDER BY e.governance_txid, e.chain_seq
            LIMIT \(limit)
            """, [cursor.txid, String(cursor.chainSeq), cursor.startSnapshot]
        ).rows
        return rows.compactMap { row -> Row? in
            guard let txid = row[0], let chainSeq = row[1].flatMap({ Int64($0) }) else { return nil }
            let cursor = Cursor(txid: txid, chainSeq: chainSeq, startSnapshot: cursor.startSnapshot),
                age = Double(row[2 + AuditRow.selectedCount] ?? "0") ?? 0
            let columns = Array(row[2..<(2 + AuditRow.selectedCount)])
            return Row(
                decoded: Result { () throws(UndecodableRow) in try AuditRow.decode(columns[...]) }, columns: columns, cursor: cursor, ageSeconds: age)
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

    /// The event in the `selectedCount` columns of `selectColumns`. A row that cannot be read
    /// back is an error naming the row and column, for the reader to report: never skipped.
    public static func decode(_ row: ArraySlice<String?>) throws(UndecodableRow) -> AuditEvent {
        let c = Array(row)
        let eventText = c.first.flatMap { $0 } ?? "?"
        func fail(_ column: String, _ reason: String) -> UndecodableRow { UndecodableRow(eventID: eventText, column: column, reason: reason) }
        guard c.count == selectedCount else { throw fail("*", "\(c.count) columns, expected \(selectedCount)") }
        guard let eventID = c[0].flatMap(UUID.init(text:)) else { throw fail("event_id", "not a UUID") }
        guard let sessionID = c[1].flatMap(UUID.init(text:)) else { throw fail("session_id", "not a UUID") }
        let metadata: JSONValue
        do {
            metadata = try JSONParser.parseStored(c[8] ?? "")
        } catch {
            throw fail("metadata_json", error.description)
        }
        guard let micros = c[11].flatMap({ Int64($0) }) else { throw fail("created_at", "not a time in microseconds") }
        let signature = c[12].map { Hex.bytes($0) }
        if let signature, signature == nil { throw fail("signature", "not hex") }
        return AuditEvent(
            eventID: eventID, sessionID: sessionID, agentID: c[2] ?? "", kind: c[4] ?? "",
            parentEventID: c[3].flatMap(UUID.init(text:)), model: c[5], inputHash: c[6], outputHash: c[7],
            metadata: metadata, prevHash: c[9], hmac: c[10], createdAt: Timestamp(microseconds: micros),
            signature: signature ?? nil, signingKeyFingerprint: c[13],
            signatureStatus: c[14] ?? "unsigned", clientSignatureStatus: c[19], workflow: c[15] ?? "", seq: c[16].flatMap { Int64($0) },
            sdkVersion: c[17], decision: c[18].flatMap(Decision.init(rawValue:)))
    }
}

/// A stored row that a reader could not turn back into an event: a verification failure, an
/// export error, a row shown as undecodable, never a row silently left out.
public struct UndecodableRow: Error, Sendable, CustomStringConvertible {
    public var eventID: String
    public var column: String
    public var reason: String
    public var description: String { "event \(eventID) cannot be read back: \(column): \(reason)" }
}
