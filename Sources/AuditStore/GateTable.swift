public import Foundation
public import Pipeline

/// The approval gates the SDK's gate bridge forwards (`governance_gates`), one row per workflow
/// and request id, and their verdicts. A verdict is set once, by one `UPDATE … WHERE status =
/// 'pending'`, so however many collectors share the database the first decision wins and every
/// later one changes nothing. Expiry is the database's clock against `expires_at`: one clock
/// for every collector on it.
public enum GateTable {
    public static let schema = SchemaSteps(
        owner: "approval_gates",
        statements: [
            // The reason a person gives stays here: the SDK's poll never returns it (it must not
            // reach the agent's LLM context).
            """
            CREATE TABLE IF NOT EXISTS governance_gates (
                workflow     TEXT        NOT NULL,
                request_id   UUID        NOT NULL,
                agent_id     TEXT        NOT NULL,
                kind         TEXT        NOT NULL,
                action_hash  TEXT        NOT NULL,
                expires_at   TIMESTAMPTZ NOT NULL,
                sdk_version  TEXT        NOT NULL,
                requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                status       TEXT        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'granted', 'denied')),
                decided_at   TIMESTAMPTZ NULL,
                decided_by   TEXT        NULL,
                reason       TEXT        NULL,
                PRIMARY KEY (workflow, request_id)
            )
            """,
            "CREATE INDEX IF NOT EXISTS idx_gates_pending ON governance_gates (workflow, requested_at DESC) WHERE status = 'pending'",
        ])

    /// Records a gate; false when the workflow already has one with this id.
    static func open(_ gate: GateRequest, workflow: String, on connection: PGConnection) throws(PGError) -> Bool {
        try !connection.exec(
            """
            INSERT INTO governance_gates (workflow, request_id, agent_id, kind, action_hash, expires_at, sdk_version)
            VALUES ($1, $2::uuid, $3, $4, $5, $6::timestamptz, $7)
            ON CONFLICT (workflow, request_id) DO NOTHING RETURNING 1
            """,
            [
                workflow, gate.requestID.uuidString, gate.agentID, gate.kind, gate.actionHash, gate.expiresAt.pythonISOFormat,
                gate.sdkVersion,
            ]
        ).rows.isEmpty
    }

    static func resolution(of requestID: UUID, workflow: String, on connection: PGConnection) throws(PGError) -> GateResolution? {
        guard
            let row = try connection.exec(
                "SELECT status, (extract(epoch FROM decided_at) * 1000000)::int8 FROM governance_gates WHERE workflow = $1 AND request_id = $2::uuid",
                [workflow, requestID.uuidString]
            ).rows.first
        else { return nil }
        return GateResolution(
            decision: row[0].flatMap(GateDecision.init(rawValue:)), decidedAt: row[1].flatMap { Int64($0) }.map(Timestamp.init(microseconds:)))
    }

    /// Sets the verdict if the gate is still pending (and, unless `evenIfExpired`, not expired).
    /// `decidedAt` nil means the database's now.
    static func decide(
        _ requestID: UUID, workflow: String, decision: GateDecision, decidedAt: Timestamp?, by: String, reason: String?,
        evenIfExpired: Bool, on connection: PGConnection
    ) throws(PGError) -> GateDecisionOutcome {
        let updated = try connection.exec(
            """
            UPDATE governance_gates SET status = $3, decided_at = coalesce($4::timestamptz, now()), decided_by = $5, reason = $6
            WHERE workflow = $1 AND request_id = $2::uuid AND status = 'pending' AND ($7::boolean OR expires_at > now())
            RETURNING 1
            """,
            [
                workflow, requestID.uuidString, decision.rawValue, decidedAt?.pythonISOFormat, by, reason,
                evenIfExpired ? "true" : "false",
            ])
        if !updated.rows.isEmpty { return .decided }
        // A new statement sees what a concurrent decision committed.
        guard
            let row = try connection.exec(
                "SELECT status, expires_at <= now() FROM governance_gates WHERE workflow = $1 AND request_id = $2::uuid",
                [workflow, requestID.uuidString]
            ).rows.first
        else { return .unknown }
        if let verdict = row[0].flatMap(GateDecision.init(rawValue:)) { return .alreadyDecided(verdict) }
        return .expired
    }
}

extension GateTable {
    /// One gate as the inbox shows it.
    public struct Row: Sendable {
        public var workflow: String
        public var requestID: UUID
        public var agentID: String
        public var kind: String
        public var actionHash: String
        /// `pending`, `expired` (pending past `expires_at`), `granted` or `denied`.
        public var state: String
        public var ageSeconds: Int64
        /// Negative once expired.
        public var expiresInSeconds: Int64
        public var decidedAt: String?
        public var decidedBy: String?
        public var reason: String?
    }

    /// What waits for a person: pending gates not yet expired.
    public struct Waiting: Sendable {
        public var count: Int64
        /// How long the oldest has waited.
        public var oldestSeconds: Int64
        /// Those with under five minutes left.
        public var expiringSoon: Int64
    }

    /// The gates waiting for a decision (of `workflow`, or of every workflow).
    public static func waiting(workflow: String?, on connection: PGConnection) throws(PGError) -> Waiting {
        let row = try connection.exec(
            """
            SELECT count(*), coalesce(max(extract(epoch FROM now() - requested_at))::int8, 0),
                   count(*) FILTER (WHERE expires_at < now() + interval '5 minutes')
            FROM governance_gates WHERE status = 'pending' AND expires_at > now() AND ($1::text IS NULL OR workflow = $1)
            """, [workflow]
        ).rows.first
        func number(_ i: Int) -> Int64 { row?[i].flatMap { Int64($0) } ?? 0 }
        return Waiting(count: number(0), oldestSeconds: number(1), expiringSoon: number(2))
    }

    /// The newest gates first (of `workflow`, or of every workflow), at most `limit`.
    static func rows(workflow: String?, requestID: UUID? = nil, limit: Int, on connection: PGConnection) throws(PGError) -> [Row] {
        try connection.exec(
            """
            SELECT workflow, request_id::text, agent_id, kind, action_hash,
                   CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' ELSE status END,
                   extract(epoch FROM now() - requested_at)::int8, extract(epoch FROM expires_at - now())::int8,
                   to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS"Z"'), decided_by, reason
            FROM governance_gates
            WHERE ($1::text IS NULL OR workflow = $1) AND ($2::uuid IS NULL OR request_id = $2::uuid)
            ORDER BY requested_at DESC, request_id LIMIT $3::int
            """, [workflow, requestID?.uuidString, String(limit)]
        ).rows.compactMap { row in
            guard let workflow = row[0], let id = row[1].flatMap(UUID.init(uuidString:)) else { return nil }
            return Row(
                workflow: workflow, requestID: id, agentID: row[2] ?? "", kind: row[3] ?? "", actionHash: row[4] ?? "", state: row[5] ?? "",
                ageSeconds: row[6].flatMap { Int64($0) } ?? 0, expiresInSeconds: row[7].flatMap { Int64($0) } ?? 0, decidedAt: row[8],
                decidedBy: row[9], reason: row[10])
        }
    }
}

/// A pipeline database's gates, for the ingest receiver (`ApprovalGates`) and the people who
/// decide them. Calls wait on a connection of their own, off the cooperative pool.
public final class PostgresGates: ApprovalGates, Sendable {
    private let worker: PGWorker

    public init(database: AuditDatabase) {
        worker = database.worker(applicationName: "governance-collector gates")
    }

    public func open(_ gate: GateRequest, workflow: String) async throws(PipelineUnavailable) -> Bool {
        try await unavailable("recorded") { connection throws(PGError) in try GateTable.open(gate, workflow: workflow, on: connection) }
    }

    public func resolution(of requestID: UUID, workflow: String) async throws(PipelineUnavailable) -> GateResolution? {
        try await unavailable("read") { connection throws(PGError) in try GateTable.resolution(of: requestID, workflow: workflow, on: connection) }
    }

    public func resolvedBySDK(_ requestID: UUID, workflow: String, decision: GateDecision, decidedAt: Timestamp) async throws(PipelineUnavailable)
        -> GateDecisionOutcome
    {
        // The SDK's own store is authoritative for what it decided, expired or not.
        try await unavailable("decided") { connection throws(PGError) in
            try GateTable.decide(
                requestID, workflow: workflow, decision: decision, decidedAt: decidedAt, by: "sdk_local", reason: nil, evenIfExpired: true,
                on: connection)
        }
    }

    /// A person's verdict, at the database's now; refused once the gate has expired. `reason`
    /// is kept here and never sent to the SDK.
    public func decide(_ requestID: UUID, workflow: String, decision: GateDecision, by person: String, reason: String?)
        async throws(PipelineUnavailable) -> GateDecisionOutcome
    {
        try await unavailable("decided") { connection throws(PGError) in
            try GateTable.decide(
                requestID, workflow: workflow, decision: decision, decidedAt: nil, by: person, reason: reason, evenIfExpired: false,
                on: connection)
        }
    }

    /// The newest gates first, of `workflow` or of all, for the inbox.
    public func list(workflow: String?, limit: Int = 500) async throws(PipelineUnavailable) -> [GateTable.Row] {
        try await unavailable("read") { connection throws(PGError) in try GateTable.rows(workflow: workflow, limit: limit, on: connection) }
    }

    /// One gate, for the audit event of its decision.
    public func gate(_ requestID: UUID, workflow: String) async throws(PipelineUnavailable) -> GateTable.Row? {
        try await unavailable("read") { connection throws(PGError) in
            try GateTable.rows(workflow: workflow, requestID: requestID, limit: 1, on: connection).first
        }
    }

    private func unavailable<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PGConnection) throws(PGError) -> T)
        async throws(PipelineUnavailable)
        -> T
    {
        do {
            return try await worker.run { connection in try body(connection) }
        } catch {
            throw PipelineUnavailable(reason: "the gate could not be \(what) in PostgreSQL: \(error)")
        }
    }
}
