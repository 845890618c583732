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
        if let workflows, !workflows.contains(e.workflow) { return false }
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

/// The UI's reads (`EventReads`) and the verify action, on a few connections of their own; a
/// statement timeout bounds a filter no index serves.
struct EventQueries: Sendable {
    /// The primary's: people, sessions, keys and whatever writes.
    let pool: PGWorkerPool
    /// The events' reads: on the standby of `ui.read_dsn` while it answers, else the primary.
    let reads: StandbyReads
    let database: AuditDatabase

    init(database: AuditDatabase, readDSN: String?) {
        self.database = database
        let setup = "SET statement_timeout = '5s'"
        pool = database.workerPool(applicationName: "governance-collector-ui", size: 2, setup: setup)
        reads = StandbyReads(primary: pool, standbyDSN: readDSN, applicationName: "governance-collector-ui", size: 2, setup: setup)
    }

    /// A connection for one export (on the standby while it answers), closed when the export
    /// lets go of it; each page has 30 s.
    func exportWorker() -> PGWorker {
        // A client that stops reading leaves the snapshot open; PostgreSQL ends it after a minute
        // rather than hold back vacuum for the whole cluster.
        let (name, setup) = ("governance-collector-ui-export", "SET statement_timeout = '30s'; SET idle_in_transaction_session_timeout = '60s'")
        return reads.streamDSN.map { PGWorker(dsn: $0, applicationName: name, setup: setup) }
            ?? database.worker(applicationName: name, setup: setup)
    }

    typealias SessionEvent = EventReads.SessionEvent
    typealias Detail = EventReads.Detail
    typealias WorkflowStats = EventReads.WorkflowStats

    func session(_ id: UUID, limit: Int, workflows: [String]?) async throws -> (events: [SessionEvent], total: Int) {
        try await reads.run { try EventReads.session(id, limit: limit, workflows: workflows, on: $0) }
    }

    /// A page, newest first, and whether older rows exist.
    func page(_ filter: EventFilter, size: Int) async throws -> (events: [EventSummary], more: Bool) {
        let page = try await reads.run { try EventReads.page(filter, size: size, on: $0) }
        return (page.events.map(EventSummary.init), page.more)
    }

    func detail(_ id: UUID, workflows: [String]?) async throws -> Detail? {
        try await reads.run { try EventReads.detail(id, workflows: workflows, on: $0) }
    }

    func workflowNames() async throws -> [String] {
        try await reads.run { try EventReads.workflowNames(on: $0) }
    }

    func workflowStats() async throws -> [WorkflowStats] {
        try await reads.run { try EventReads.workflowStats(on: $0) }
    }

    /// Re-checks one session's chain (every HMAC and link) with the audit secret.
    func verify(session: UUID, secret: String) async throws -> ChainVerifier.Report {
        try await pool.run { connection in
            try ChainVerifier(connection: connection, secret: secret).verify(.init(session: session))
        }
    }
}
