public import Foundation
public import Pipeline

/// The reads of the audit table that pages and the API make: a session in chain order, a
/// filtered page (keyset on `(created_at, event_id)`, the `created_at` index, never OFFSET, so
/// page 10,000 costs what page 1 does), one event with its place in its session, and the
/// workflows.
public enum EventReads {
    /// One event of a session and its place in the chain.
    public struct SessionEvent: Sendable {
        public var event: AuditEvent
        public var chainSeq: Int64

        public init(event: AuditEvent, chainSeq: Int64) {
            (self.event, self.chainSeq) = (event, chainSeq)
        }
    }

    /// A session's first `limit` events in commit order (`chain_seq`, the order its chain links
    /// them) and how many it has; only those of `workflows` when given (a reader's scope).
    public static func session(_ id: UUID, limit: Int, workflows: [String]? = nil, on connection: PGConnection) throws -> (
        events: [SessionEvent], total: Int
    ) {
        let scope = "session_id = $1::uuid AND ($2::text[] IS NULL OR workflow = ANY($2::text[]))"
        let params = [id.lowercasedString, workflows.map(PGArray.text)]
        let rows = try connection.exec(
            "SELECT \(AuditRow.selectColumns), chain_seq FROM governance_audit_events WHERE \(scope) ORDER BY chain_seq LIMIT \(limit)", params
        ).rows
        let events = try rows.map { row in
            SessionEvent(
                event: try AuditRow.decode(row[0..<AuditRow.selectedCount]), chainSeq: row[AuditRow.selectedCount].flatMap({ Int64($0) }) ?? 0)
        }
        let total =
            rows.count < limit
            ? rows.count
            : Int(
                try connection.exec("SELECT count(*) FROM governance_audit_events WHERE \(scope)", params).rows.first?[0] ?? "0") ?? 0
        return (events, total)
    }

    /// A page, newest first, and whether older rows exist.
    public static func page(_ filter: EventFilter, size: Int, on connection: PGConnection) throws -> (events: [AuditEvent], more: Bool) {
        let (clause, params) = filter.sql()
        let rows = try connection.exec(
            """
            SELECT \(AuditRow.selectColumns) FROM governance_audit_events \(clause)
            ORDER BY created_at DESC, event_id DESC LIMIT \(size + 1)
            """, params
        ).rows
        let events = try rows.map { try AuditRow.decode($0[...]) }
        return (Array(events.prefix(size)), events.count > size)
    }

    public struct Detail: Sendable {
        public var event: AuditEvent
        public var chainSeq: Int64
        public var receivedAt: String?
        /// 1-based position in its session (commit order), and the session's length.
        public var positionInSession: Int
        public var sessionLength: Int
    }

    /// One event; its place in its session counts only the session's events of `workflows` when
    /// given (a reader's scope), so the numbers say nothing of rows the reader may not see.
    public static func detail(_ id: UUID, workflows: [String]? = nil, on connection: PGConnection) throws -> Detail? {
        let rows = try connection.exec(
            """
            SELECT \(AuditRow.selectColumns), chain_seq, received_at::text FROM governance_audit_events WHERE event_id = $1::uuid
            """, [id.lowercasedString]
        ).rows
        guard let row = rows.first, let chainSeq = row[AuditRow.selectedCount].flatMap({ Int64($0) }) else { return nil }
        let event = try AuditRow.decode(row[0..<AuditRow.selectedCount])
        let position = try connection.exec(
            """
            SELECT count(*) FILTER (WHERE chain_seq <= $2::int8), count(*) FROM governance_audit_events
            WHERE session_id = $1::uuid AND ($3::text[] IS NULL OR workflow = ANY($3::text[]))
            """, [event.sessionID.lowercasedString, String(chainSeq), workflows.map(PGArray.text)]
        ).rows.first
        return Detail(
            event: event, chainSeq: chainSeq, receivedAt: row[AuditRow.selectedCount + 1],
            positionInSession: Int(position?[0] ?? "0") ?? 0, sessionLength: Int(position?[1] ?? "0") ?? 0)
    }

    /// The stored row of `eventID` as its columns' text (`AuditRow.selectColumns`), for a leaf.
    public static func storedColumns(of eventID: UUID, on connection: PGConnection) throws(PGError) -> [String?]? {
        try connection.exec("SELECT \(AuditRow.selectColumns) FROM governance_audit_events WHERE event_id = $1::uuid", [eventID.lowercasedString])
            .rows.first
    }

    /// Every row of the table (what a verifier compares a tree's size with).
    public static func count(on connection: PGConnection) throws(PGError) -> Int {
        Int(try connection.exec("SELECT count(*) FROM governance_audit_events").rows.first?[0] ?? "0") ?? 0
    }

    /// Workflow names for the filter: a loose index scan over `(workflow, chain_seq)`, so it costs
    /// one index probe per workflow however many rows there are, plus workflows created in the UI.
    public static func workflowNames(on connection: PGConnection) throws(PGError) -> [String] {
        try connection.exec(
            """
            WITH RECURSIVE w AS (
                (SELECT workflow FROM governance_audit_events WHERE workflow IS NOT NULL ORDER BY workflow LIMIT 1)
                UNION ALL
                SELECT (SELECT e.workflow FROM governance_audit_events e WHERE e.workflow > w.workflow ORDER BY e.workflow LIMIT 1)
                FROM w WHERE w.workflow IS NOT NULL)
            SELECT workflow FROM w WHERE workflow IS NOT NULL
            UNION SELECT name FROM governance_workflows ORDER BY 1
            """
        ).rows.compactMap { $0[0] }
    }

    public struct WorkflowStats: Sendable {
        public var name: String
        public var events: Int64
        public var lastSeen: String?
    }

    /// Every workflow with its event count and when it last received one (a full count: only
    /// the workflows page reads the whole table).
    public static func workflowStats(on connection: PGConnection) throws(PGError) -> [WorkflowStats] {
        try connection.exec(
            """
            SELECT name, sum(n)::int8, max(last)::text FROM (
                SELECT coalesce(workflow, '(none)') AS name, count(*) AS n, max(coalesce(received_at, created_at)) AS last
                FROM governance_audit_events GROUP BY 1
                UNION ALL SELECT name, 0, NULL FROM governance_workflows) x
            GROUP BY name ORDER BY name
            """
        ).rows.map { WorkflowStats(name: $0[0] ?? "", events: Int64($0[1] ?? "0") ?? 0, lastSeen: $0[2]) }
    }
}
