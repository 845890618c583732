import AuditStore
import Foundation
import Logging
import Pipeline
import ServiceLifecycle

/// The dashboard's window: how far back it looks and the rollup width its chart uses.
enum DashboardWindow: String, CaseIterable, Sendable {
    case hour, day, week

    var seconds: Int64 { self == .hour ? 3600 : self == .day ? 86_400 : 7 * 86_400 }
    /// Per-minute bars for the last hour, per-hour bars for a day, per-day bars for a week.
    var width: (seconds: Int, unit: String) { EventRollup.widths[self == .hour ? 0 : self == .day ? 1 : 2] }
    var label: String { self == .hour ? "last hour" : self == .day ? "last day" : "last 7 days" }
}

/// What the dashboard shows, read in one snapshot.
struct DashboardData: Sendable {
    struct Count: Sendable {
        var name: String
        var events: Int64
        var denied: Int64
    }

    var window: DashboardWindow
    /// The first bucket shown (µs since the epoch).
    var from: Int64
    /// Events per bucket and decision: bucket µs → decision → count.
    var series: [Int64: [String: Int64]] = [:]
    var byDecision: [String: Int64] = [:]
    var agents: [Count] = []
    var kinds: [Count] = []
    var tools: [Count] = []
    /// Rows not folded into the rollup yet, counted from the table itself.
    var unfolded: Int64 = 0
    var spend: [(agent: String, day: String, usd: String)] = []
    /// What the agent stacks' GenAI metrics measured, per service and model.
    var modelUsage: [GenAIUsage.ModelUsage] = []
    var alerts: [(agent: String, cap: String, day: String, delivered: Bool)] = []
    var bridges: [(target: String, lastSeq: String, ageSeconds: Double)] = []
    var witnesses: [(witness: String, deliveredSize: String, attempts: String, error: String?)] = []
    var checkpoint: (size: String, ageSeconds: Double)?
    /// The snapshot every figure was read in: the live stream skips rows it already counted.
    var snapshot: PGSnapshot?

    var total: Int64 { byDecision.values.reduce(0, +) }
}

/// The dashboard's reads: every figure from the rollup plus the rows committed since its last
/// step (so the numbers are exact, not a second behind), all in one REPEATABLE READ snapshot.
struct DashboardQueries: Sendable {
    let pool: PGWorkerPool

    static let topLimit = 10

    /// Nil when the table has no `governance_txid` (one the SDK created): it cannot be followed.
    func load(_ window: DashboardWindow, workflow: String?) async throws -> DashboardData? {
        try await pool.run { connection in
            guard try AuditSchema.columns(connection).contains("governance_txid") else { return nil }
            try connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { _ = try? connection.exec("COMMIT") }
            return try Self.read(connection, window, workflow: workflow)
        }
    }

    static func read(_ connection: PGConnection, _ window: DashboardWindow, workflow: String?) throws -> DashboardData {
        // The transaction's first statement takes its snapshot (REPEATABLE READ keeps it).
        let snapshot = try connection.exec("SELECT pg_current_snapshot()::text").rows.first?[0].flatMap(PGSnapshot.init)
        let unit = window.width.unit
        let from = try connection.exec("SELECT (extract(epoch FROM date_trunc('\(unit)', now() - interval '\(window.seconds) seconds', 'UTC')) * 1000000)::int8")
            .rows.first?[0].flatMap { Int64($0) } ?? 0
        var data = DashboardData(window: window, from: from)
        data.snapshot = snapshot
        // The rollup's cursor as values, not a join: knowing it is near the table's end, the
        // planner reads the unfolded tail through the commit-order index; through a join it
        // scanned every row of the window by created_at (0.7 s for the last 7 days of 10M rows).
        let cursor = try connection.exec("SELECT cursor_txid::text, cursor_chain_seq FROM governance_rollup_state WHERE id = 1").rows.first ?? ["0", "0"]
        var params: [String?] = [String(window.width.seconds), Timestamp(microseconds: from).pythonISOFormat, cursor[0], cursor[1]]
        var workflowCondition = ""
        if let workflow {
            params.append(workflow)
            workflowCondition = " AND workflow = $5"
        }
        let rows = try connection.exec("""
            WITH counts AS (
                SELECT bucket, workflow, agent_id, kind, decision, tool, events, false AS unfolded FROM governance_event_rollup
                WHERE width = $1::int4 AND bucket >= $2::timestamptz\(workflowCondition)
                UNION ALL
                SELECT *, 1::int8, true FROM (
                    SELECT \(EventRollup.dimensions(unit: unit)) FROM governance_audit_events
                    WHERE (governance_txid, chain_seq) > ($3::xid8, $4::int8) AND created_at >= $2::timestamptz
                ) tail WHERE true\(workflowCondition)
            )
            SELECT grouping(bucket, agent_id, kind, tool, unfolded), (extract(epoch FROM bucket) * 1000000)::int8, agent_id, kind, tool, decision, unfolded, sum(events)::int8
            FROM counts GROUP BY GROUPING SETS ((bucket, decision), (agent_id, decision), (kind, decision), (tool, decision), (unfolded))
            """, params).rows
        var agents: [String: DashboardData.Count] = [:], kinds = agents, tools = agents
        func add(_ table: inout [String: DashboardData.Count], _ name: String, _ decision: String, _ n: Int64) {
            table[name, default: .init(name: name, events: 0, denied: 0)].events += n
            if decision == "deny" { table[name]!.denied += n }
        }
        for row in rows {
            guard let grouping = row[0].flatMap({ Int($0) }), let n = row[7].flatMap({ Int64($0) }) else { continue }
            let decision = row[5] ?? "none"
            // grouping() sets a bit for each argument not in the row's set: bucket 16, agent 8, kind 4, tool 2, unfolded 1.
            switch grouping {
            case 0b01111: data.series[row[1].flatMap { Int64($0) } ?? 0, default: [:]][decision, default: 0] += n
                data.byDecision[decision, default: 0] += n
            case 0b10111: add(&agents, row[2] ?? "", decision, n)
            case 0b11011: add(&kinds, row[3] ?? "", decision, n)
            case 0b11101: if let tool = row[4], !tool.isEmpty { add(&tools, tool, decision, n) }
            case 0b11110: if row[6] == "t" { data.unfolded = n }
            default: break
            }
        }
        func top(_ table: [String: DashboardData.Count]) -> [DashboardData.Count] {
            Array(table.values.sorted { ($0.events, $1.name) > ($1.events, $0.name) }.prefix(topLimit))
        }
        (data.agents, data.kinds, data.tools) = (top(agents), top(kinds), top(tools))
        try readOperations(connection, window, workflow: workflow, into: &data)
        return data
    }

    /// GenAI metrics (the collector's own schema), then spend, budget alerts and the delivery
    /// state of the bridge and witnesses: tables that exist only when those components have run,
    /// so each is read only if it is there.
    static func readOperations(_ connection: PGConnection, _ window: DashboardWindow, workflow: String?, into data: inout DashboardData) throws {
        let present = Set(try connection.exec("""
            SELECT relname FROM pg_class WHERE relname IN ('governance_budget_spend', 'governance_budget_alerts', 'governance_bridge_state',
                'governance_witness_deliveries', 'governance_checkpoints') AND relkind = 'r' AND pg_table_is_visible(oid)
            """).rows.compactMap { $0[0] })
        data.modelUsage = try GenAIUsage.usage(since: Timestamp(microseconds: data.from), workflow: workflow, limit: 20, on: connection)
        let days = max(1, window.seconds / 86_400)
        if present.contains("governance_budget_spend") {
            data.spend = try connection.exec("""
                SELECT agent_id, period_bucket::text, round(used_usd, 4)::text FROM governance_budget_spend
                WHERE period_bucket > (now() AT TIME ZONE 'UTC')::date - \(days) ORDER BY period_bucket DESC, used_usd DESC LIMIT 50
                """).rows.map { ($0[0] ?? "", $0[1] ?? "", $0[2] ?? "") }
        }
        if present.contains("governance_budget_alerts") {
            data.alerts = try connection.exec("""
                SELECT agent_id, cap_id, period_bucket::text, delivered_at IS NOT NULL FROM governance_budget_alerts
                WHERE period_bucket > (now() AT TIME ZONE 'UTC')::date - \(days) ORDER BY created_at DESC LIMIT 20
                """).rows.map { ($0[0] ?? "", $0[1] ?? "", $0[2] ?? "", $0[3] == "t") }
        }
        if present.contains("governance_bridge_state") {
            data.bridges = try connection.exec("SELECT target, last_seq::text, extract(epoch FROM now() - updated_at)::float8 FROM governance_bridge_state ORDER BY target")
                .rows.map { ($0[0] ?? "", $0[1] ?? "0", Double($0[2] ?? "0") ?? 0) }
        }
        if present.contains("governance_witness_deliveries") {
            data.witnesses = try connection.exec("SELECT witness, delivered_size::text, attempts::text, last_error FROM governance_witness_deliveries ORDER BY witness")
                .rows.map { ($0[0] ?? "", $0[1] ?? "0", $0[2] ?? "0", $0[3]) }
        }
        if present.contains("governance_checkpoints") {
            data.checkpoint = try connection.exec("SELECT tree_size::text, extract(epoch FROM now() - created_at)::float8 FROM governance_checkpoints ORDER BY tree_size DESC LIMIT 1")
                .rows.first.map { ($0[0] ?? "0", Double($0[1] ?? "0") ?? 0) }
        }
    }
}

/// Keeps the rollup current while the UI runs: a step every second, at once again while there
/// is a backlog (a first start over a large table folds it 20,000 rows a step).
struct RollupWorker: Sendable {
    let worker: PGWorker
    let logger: Logger

    func run() async {
        await RepeatingStep.run(logger: logger, failure: "ui.rollup_retrying", maxBackoff: 30) {
            let folded = try await worker.run { try EventRollup.step($0) }
            return (folded ?? 0) > 0 ? 0.0 : 1.0
        }
    }
}
