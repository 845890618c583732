import AuditStore
import Foundation
import Pipeline

extension EventFilter {
    /// The first page of an open-ended range is the one that new events join; a metadata search
    /// is not live, since only SQL can decide it.
    var isLive: Bool { before == nil && to == nil && !searchesMetadata }

    /// Whether a live event belongs on this page (everything but the metadata filters, which turn live off).
    func matches(_ e: EventSummary) -> Bool {
        if let workflow, e.workflow != workflow { return false }
        if let agent, e.agent != agent { return false }
        if let kind, kind.hasSuffix("*") ? !e.kind.hasPrefix(kind.dropLast()) : e.kind != kind { return false }
        if let decision, decision != (e.decision ?? "none") { return false }
        if let model, e.model != model { return false }
        if let session, e.sessionID != session { return false }
        if let from, e.createdAt < from { return false }
        return true
    }
}

/// One row of the timeline.
struct EventSummary: Sendable {
    var id: UUID
    var sessionID: UUID
    var agent: String
    var kind: String
    var decision: String?
    var createdAt: Timestamp
    var workflow: String
    var seq: Int64?
    var model: String?

    init(_ e: AuditEvent) {
        id = e.eventID
        sessionID = e.sessionID
        agent = e.agentID
        kind = e.kind
        decision = e.decision?.rawValue
        createdAt = e.createdAt
        workflow = e.workflow
        seq = e.seq
        model = e.model
    }

    var cursor: String { EventFilter.Cursor(micros: createdAt.microseconds, id: id).text }
}

/// The UI's reads and the verify action, on a few connections of their own. Pages use keyset
/// pagination on `(created_at, event_id)` (the `created_at` index), never OFFSET, so page 10,000
/// costs what page 1 does; a statement timeout bounds a filter no index serves.
struct EventQueries: Sendable {
    let pool: PGWorkerPool
    let database: AuditDatabase

    init(database: AuditDatabase) {
        self.database = database
        pool = database.workerPool(applicationName: "governance-collector-ui", size: 2, setup: "SET statement_timeout = '5s'")
    }

    /// A connection for one export, closed when the export lets go of it; each page has 30 s.
    func exportWorker() -> PGWorker {
        database.worker(applicationName: "governance-collector-ui-export", setup: "SET statement_timeout = '30s'")
    }

    /// One event of a session page and its place in the chain.
    struct SessionEvent: Sendable {
        var event: AuditEvent
        var chainSeq: Int64
    }

    /// A session's first `limit` events in commit order (`chain_seq`, the order its chain links
    /// them) and how many it has.
    func session(_ id: UUID, limit: Int) async throws -> (events: [SessionEvent], total: Int) {
        try await pool.run { connection in
            let rows = try connection.exec("""
                SELECT \(AuditRow.selectColumns), chain_seq FROM governance_audit_events WHERE session_id = $1::uuid
                ORDER BY chain_seq LIMIT \(limit)
                """, [id.lowercasedString]).rows
            let events = try rows.map { row in
                SessionEvent(event: try AuditRow.decode(row[0..<AuditRow.selectedCount]), chainSeq: row[AuditRow.selectedCount].flatMap({ Int64($0) }) ?? 0)
            }
            let total = rows.count < limit ? rows.count
                : Int(try connection.exec("SELECT count(*) FROM governance_audit_events WHERE session_id = $1::uuid", [id.lowercasedString]).rows.first?[0] ?? "0") ?? 0
            return (events, total)
        }
    }

    /// A page, newest first, and whether older rows exist.
    func page(_ filter: EventFilter, size: Int) async throws -> (events: [EventSummary], more: Bool) {
        let (clause, params) = filter.sql()
        let rows = try await pool.run { connection in
            try connection.exec("""
                SELECT \(AuditRow.selectColumns) FROM governance_audit_events \(clause)
                ORDER BY created_at DESC, event_id DESC LIMIT \(size + 1)
                """, params).rows
        }
        let events = try rows.map { EventSummary(try AuditRow.decode($0[...])) }
        return (Array(events.prefix(size)), events.count > size)
    }

    struct Detail: Sendable {
        var event: AuditEvent
        var chainSeq: Int64
        var receivedAt: String?
        /// 1-based position in its session (commit order), and the session's length.
        var positionInSession: Int
        var sessionLength: Int
    }

    func detail(_ id: UUID) async throws -> Detail? {
        try await pool.run { connection in
            let rows = try connection.exec("""
                SELECT \(AuditRow.selectColumns), chain_seq, received_at::text FROM governance_audit_events WHERE event_id = $1::uuid
                """, [id.lowercasedString]).rows
            guard let row = rows.first, let chainSeq = row[AuditRow.selectedCount].flatMap({ Int64($0) }) else { return nil }
            let event = try AuditRow.decode(row[0..<AuditRow.selectedCount])
            let position = try connection.exec("""
                SELECT count(*) FILTER (WHERE chain_seq <= $2::int8), count(*) FROM governance_audit_events WHERE session_id = $1::uuid
                """, [event.sessionID.lowercasedString, String(chainSeq)]).rows.first
            return Detail(event: event, chainSeq: chainSeq, receivedAt: row[AuditRow.selectedCount + 1],
                          positionInSession: Int(position?[0] ?? "0") ?? 0, sessionLength: Int(position?[1] ?? "0") ?? 0)
        }
    }

    /// Workflow names for the filter: a loose index scan over `(workflow, chain_seq)`, so it costs
    /// one index probe per workflow however many rows there are, plus workflows created in the UI.
    func workflowNames() async throws -> [String] {
        try await pool.run { connection in
            try connection.exec("""
                WITH RECURSIVE w AS (
                    (SELECT workflow FROM governance_audit_events WHERE workflow IS NOT NULL ORDER BY workflow LIMIT 1)
                    UNION ALL
                    SELECT (SELECT e.workflow FROM governance_audit_events e WHERE e.workflow > w.workflow ORDER BY e.workflow LIMIT 1)
                    FROM w WHERE w.workflow IS NOT NULL)
                SELECT workflow FROM w WHERE workflow IS NOT NULL
                UNION SELECT name FROM governance_workflows ORDER BY 1
                """).rows.compactMap { $0[0] }
        }
    }

    struct WorkflowStats: Sendable {
        var name: String
        var events: Int64
        var lastSeen: String?
    }

    /// Every workflow with its event count and when it last received one (a full count: this
    /// page reads the whole table, the timeline never does).
    func workflowStats() async throws -> [WorkflowStats] {
        try await pool.run { connection in
            try connection.exec("""
                SELECT name, sum(n)::int8, max(last)::text FROM (
                    SELECT coalesce(workflow, '(none)') AS name, count(*) AS n, max(coalesce(received_at, created_at)) AS last
                    FROM governance_audit_events GROUP BY 1
                    UNION ALL SELECT name, 0, NULL FROM governance_workflows) x
                GROUP BY name ORDER BY name
                """).rows.map { WorkflowStats(name: $0[0] ?? "", events: Int64($0[1] ?? "0") ?? 0, lastSeen: $0[2]) }
        }
    }

    /// Re-checks one session's chain (every HMAC and link) with the audit secret.
    func verify(session: UUID, secret: String) async throws -> ChainVerifier.Report {
        try await pool.run { connection in
            try ChainVerifier(connection: connection, secret: secret).verify(.init(session: session))
        }
    }
}
