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
    var spend: [BudgetLedger.DaySpend] = []
    /// What the agent stacks' GenAI metrics measured, per service and model.
    var modelUsage: [GenAIUsage.ModelUsage] = []
    var alerts: [BudgetLedger.AlertState] = []
    /// Alert rules' state per subject and the newest notifications (`alerts:`).
    var ruleStates: [AlertTables.Listed] = []
    var notifications: [AlertTables.Logged] = []
    var bridges: [BridgeStateStore.Target] = []
    var witnesses: [WitnessDeliveries.State] = []
    var checkpoint: CheckpointTables.Stored?
    /// The continuous verifier's progress, nil when none runs on this database.
    var verification: VerificationProgress?
    /// The approval gates waiting for a person.
    var waitingGates: GateTable.Waiting?
    /// The snapshot every figure was read in: the live stream skips rows it already counted.
    var snapshot: PGSnapshot?

    var total: Int64 { byDecision.values.reduce(0, +) }
}

/// The dashboard's reads: every figure from the rollup plus the rows committed since its last
/// step (so the numbers are exact, not a second behind), all in one REPEATABLE READ snapshot.
struct DashboardQueries: Sendable {
    /// The standby's while it answers (the rollup it reads is replicated with the rest).
    let pool: StandbyReads

    static let topLimit = 10

    /// Nil when the table has no `governance_txid` (one the SDK created): it cannot be followed.
    func load(_ window: DashboardWindow, workflow: String?) async throws -> DashboardData? {
        try await pool.run { connection in
            guard try AuditSchema.columns(connection).contains("governance_txid") else { return nil }
            return try connection.transaction(readOnlySnapshot: true) { () throws(PGError) in try Self.read(connection, window, workflow: workflow) }
        }
    }

    static func read(_ connection: PGConnection, _ window: DashboardWindow, workflow: String?) throws(PGError) -> DashboardData {
        let counted = try EventRollup.window(width: window.width, seconds: window.seconds, workflow: workflow, on: connection)
        var data = DashboardData(window: window, from: counted.from)
        data.snapshot = counted.snapshot
        var agents: [String: DashboardData.Count] = [:], kinds = agents, tools = agents
        func add(_ table: inout [String: DashboardData.Count], _ name: String, _ decision: String, _ n: Int64) {
            table[name, default: .init(name: name, events: 0, denied: 0)].events += n
            if decision == "deny" { table[name]!.denied += n }
        }
        for count in counted.counts {
            let (name, decision, n) = (count.dimension ?? "", count.decision, count.events)
            switch count.grouping {
            case .bucket:
                data.series[Int64(name) ?? 0, default: [:]][decision, default: 0] += n
                data.byDecision[decision, default: 0] += n
            case .agent: add(&agents, name, decision, n)
            case .kind: add(&kinds, name, decision, n)
            case .tool: if !name.isEmpty { add(&tools, name, decision, n) }
            case .unfolded: data.unfolded = n
            }
        }
        func top(_ table: [String: DashboardData.Count]) -> [DashboardData.Count] {
            Array(table.values.sorted { ($0.events, $1.name) > ($1.events, $0.name) }.prefix(topLimit))
        }
        (data.agents, data.kinds, data.tools) = (top(agents), top(kinds), top(tools))
        try readOperations(connection, window, workflow: workflow, into: &data)
        return data
    }

    /// GenAI metrics, spend, budget alerts, the delivery state of the bridge and witnesses, the
    /// newest checkpoint and the continuous verifier's state, each from the store that owns it. Before the schema is migrated
    /// (the primary does it on its first connection) only the checkpoints can be there.
    static func readOperations(_ connection: PGConnection, _ window: DashboardWindow, workflow: String?, into data: inout DashboardData)
        throws(PGError)
    {
        data.checkpoint = try CheckpointTables.exist(on: connection) ? CheckpointTables.latest(on: connection) : nil
        data.verification = try VerificationProgress.load(connection)
        guard try AuditSchema.isMigrated(connection) else { return }
        data.modelUsage = try GenAIUsage.usage(since: Timestamp(microseconds: data.from), workflow: workflow, limit: 20, on: connection)
        let days = max(1, window.seconds / 86_400)
        data.spend = try BudgetLedger.spend(days: days, on: connection)
        data.alerts = try BudgetLedger.alerts(days: days, on: connection)
        data.ruleStates = try AlertTables.list(on: connection)
        data.notifications = try AlertTables.deliveryLog(limit: 20, on: connection)
        data.bridges = try BridgeStateStore.targets(on: connection)
        data.witnesses = try WitnessDeliveries.all(on: connection)
        data.waitingGates = try GateTable.waiting(workflow: workflow, on: connection)
    }
}

/// Keeps the rollup current while the UI runs: a step every second, at once again while there
/// is a backlog (a first start over a large table folds it 20,000 rows a step).
struct RollupWorker: Sendable {
    let worker: PGWorker
    let clock: any Clock<Duration>
    let logger: Logger

    func run() async {
        await RepeatingStep.run(on: clock, logger: logger, failure: "ui.rollup_retrying", maxBackoff: 30) {
            let folded = try await worker.run { try EventRollup.step($0) }
            return (folded ?? 0) > 0 ? 0.0 : 1.0
        }
    }
}
