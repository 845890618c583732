import AuditStore
import Foundation
import Pipeline

/// What the timeline shows, from the query string: every filter optional, all combined with AND.
struct TimelineFilter: Sendable {
    var workflow: String?
    var agent: String?
    /// Exact, or a prefix when it ends in `*` (as `governance-collector tail --kind`).
    var kind: String?
    /// `allow`, `deny` or `none` (no decision recorded).
    var decision: String?
    var from: Timestamp?
    var to: Timestamp?
    /// The keyset cursor: the last row of the previous page (`<created_at µs>_<event_id>`).
    var before: (micros: Int64, id: UUID)?

    /// Reads the filters; a value that cannot be understood is reported, not ignored.
    static func parse(_ query: [String: String]) -> (TimelineFilter, problems: [String]) {
        var f = TimelineFilter(), problems: [String] = []
        func value(_ name: String) -> String? {
            query[name].map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        f.workflow = value("workflow")
        f.agent = value("agent")
        f.kind = value("kind")
        if let d = value("decision") {
            if ["allow", "deny", "none"].contains(d) { f.decision = d } else { problems.append("decision must be allow, deny or none") }
        }
        for name in ["from", "to"] {
            guard let text = value(name) else { continue }
            // RFC 3339, or what <input type="datetime-local"> sends (read as UTC).
            let time = Timestamp(iso8601: text) ?? Timestamp(iso8601: text + (text.count == 16 ? ":00Z" : "Z"))
            if time == nil { problems.append("\(name) is not a time like 2026-11-25T09:30 (UTC) or RFC 3339") }
            if name == "from" { f.from = time } else { f.to = time }
        }
        if let cursor = value("before") {
            let parts = cursor.split(separator: "_")
            if parts.count == 2, let micros = Int64(parts[0]), let id = UUID(text: String(parts[1])) {
                f.before = (micros, id)
            } else {
                problems.append("before is not a page cursor")
            }
        }
        return (f, problems)
    }

    /// The filters as a query string (without the page cursor), for links and the live stream.
    var queryItems: [(String, String)] {
        var items: [(String, String)] = []
        if let workflow { items.append(("workflow", workflow)) }
        if let agent { items.append(("agent", agent)) }
        if let kind { items.append(("kind", kind)) }
        if let decision { items.append(("decision", decision)) }
        if let from { items.append(("from", from.pythonISOFormat)) }
        if let to { items.append(("to", to.pythonISOFormat)) }
        return items
    }

    /// The first page of an open-ended range is the one that new events join.
    var isLive: Bool { before == nil && to == nil }

    func matches(_ e: EventSummary) -> Bool {
        if let workflow, e.workflow != workflow { return false }
        if let agent, e.agent != agent { return false }
        if let kind, kind.hasSuffix("*") ? !e.kind.hasPrefix(kind.dropLast()) : e.kind != kind { return false }
        if let decision, decision != (e.decision ?? "none") { return false }
        if let from, e.createdAt < from { return false }
        return true
    }

    /// The WHERE clause and its parameters.
    func sql() -> (clause: String, params: [String?]) {
        var conditions: [String] = [], params: [String?] = []
        func add(_ condition: (Int) -> String, _ value: String) {
            params.append(value)
            conditions.append(condition(params.count))
        }
        if let workflow { add({ "workflow = $\($0)" }, workflow) }
        if let agent { add({ "agent_id = $\($0)" }, agent) }
        if let kind {
            if kind.hasSuffix("*") {
                let prefix = kind.dropLast().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                    .replacingOccurrences(of: "_", with: "\\_")
                add({ "kind LIKE $\($0)" }, prefix + "%")
            } else {
                add({ "kind = $\($0)" }, kind)
            }
        }
        switch decision {
        case "none": conditions.append("decision IS NULL")
        case let d?: add({ "decision = $\($0)" }, d)
        case nil: break
        }
        if let from { add({ "created_at >= $\($0)::timestamptz" }, from.pythonISOFormat) }
        if let to { add({ "created_at < $\($0)::timestamptz" }, to.pythonISOFormat) }
        if let before {
            params.append(Timestamp(microseconds: before.micros).pythonISOFormat)
            params.append(before.id.lowercasedString)
            conditions.append("(created_at, event_id) < ($\(params.count - 1)::timestamptz, $\(params.count)::uuid)")
        }
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), params)
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

    init(_ e: AuditEvent) {
        id = e.eventID
        sessionID = e.sessionID
        agent = e.agentID
        kind = e.kind
        decision = e.decision?.rawValue
        createdAt = e.createdAt
        workflow = e.workflow
        seq = e.seq
    }

    var cursor: String { "\(createdAt.microseconds)_\(id.lowercasedString)" }
}

/// The UI's reads and the verify action, on a few connections of their own. Pages use keyset
/// pagination on `(created_at, event_id)` (the `created_at` index), never OFFSET, so page 10,000
/// costs what page 1 does; a statement timeout bounds a filter no index serves.
struct EventQueries: Sendable {
    let pool: PGWorkerPool

    init(database: AuditDatabase) {
        pool = database.workerPool(applicationName: "governance-collector-ui", size: 2, setup: "SET statement_timeout = '5s'")
    }

    /// A page, newest first, and whether older rows exist.
    func page(_ filter: TimelineFilter, size: Int) async throws -> (events: [EventSummary], more: Bool) {
        let (clause, params) = filter.sql()
        let rows = try await pool.run { connection in
            try connection.exec("""
                SELECT \(AuditRow.selectColumns) FROM governance_audit_events \(clause)
                ORDER BY created_at DESC, event_id DESC LIMIT \(size + 1)
                """, params).rows
        }
        let events = rows.compactMap { AuditRow.decode($0[...]) }.map(EventSummary.init)
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
            guard let row = rows.first, let event = AuditRow.decode(row[0..<AuditRow.selectedCount]),
                  let chainSeq = row[AuditRow.selectedCount].flatMap({ Int64($0) }) else { return nil }
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
