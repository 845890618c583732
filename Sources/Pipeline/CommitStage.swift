public import Config
public import Foundation

/// A component kind of its own: work that must happen inside the primary's transaction, because
/// its state lives in the database (the gapless per-workflow seq, the per-session HMAC chain,
/// budget spend). The primary calls each stage after it has locked the group's sessions and
/// removed events already stored, and before it inserts, so a rolled-back transaction leaves no
/// gap and no fork. Configured under `processors:` and listed in a pipeline's `processors`, as
/// the SDK's users know them; where a stage may run is declared by its factory
/// (`CommitStagePlacement`) and checked when the configuration loads.
public protocol CommitStage: Sendable {
    /// What this stage shares with the rest of the collector, by type: a stage that computes
    /// `hmac` for events that arrive without one shares its `ChainSecret` (what `verify`, the
    /// UI and the rows the collector writes itself are keyed with).
    var resources: SharedResources { get }
    /// Runs on the request's task after the ingest processors, before the event is queued for
    /// commit (e.g. normalizing what the stage will hash). Must be fast and must not block.
    func prepare(_ event: AuditEvent) throws(EventRejection) -> AuditEvent
    /// Runs inside the transaction, on the group's new events in commit order; may add events.
    func apply(_ events: inout [AuditEvent], in transaction: any CommitTransaction) throws
    /// What `apply` will ask of the transaction for `events`, so the primary can fetch it with the
    /// locks, in the transaction's first round trip. A read not declared is made when asked.
    func reads(for events: [AuditEvent]) -> [CommitRead]
}

extension CommitStage {
    public var resources: SharedResources { SharedResources() }
    public func prepare(_ event: AuditEvent) throws(EventRejection) -> AuditEvent { event }
    public func reads(for events: [AuditEvent]) -> [CommitRead] { [] }
}

/// The secret a commit stage chains events with (`CommitStage.resources`).
public struct ChainSecret: Sendable, Equatable {
    public let value: String

    public init(_ value: String) { self.value = value }
}

/// A read of the open transaction that a commit stage declares ahead (`CommitStage.reads`).
public enum CommitRead: Sendable, Equatable {
    /// `reserveSeq(workflow:count:)`.
    case seq(workflow: String, count: Int)
    /// `chainHeads(_:)` of these sessions.
    case chainHeads([UUID])
}

/// Where a commit stage must run among the other stages of its pipeline, declared by its factory
/// so the plan can check any pipeline without knowing the stage.
public struct CommitStagePlacement: Sendable {
    /// Stage types that must come after this one when a pipeline lists them.
    public var before: [String]
    /// Stage types a pipeline using this one must also list.
    public var requires: [String]
    /// Why, for the configuration error (e.g. "the alert event budget adds must be numbered and chained").
    public var reason: String

    public init(before: [String] = [], requires: [String] = [], reason: String = "") {
        self.before = before
        self.requires = requires
        self.reason = reason
    }

    /// Anywhere among the stages.
    public static let anywhere = CommitStagePlacement()
}

/// A commit stage type: its factory and its declared placement.
public struct CommitStageFactory: Sendable {
    public let component: ComponentFactory<any CommitStage, BuildContext>
    public let placement: CommitStagePlacement
    public var type: String { component.type }

    public init(
        type: String, placement: CommitStagePlacement = .anywhere,
        configure: @escaping @Sendable (ConfigSection) throws(ConfigError) -> ComponentFactory<any CommitStage, BuildContext>.Builder
    ) {
        component = ComponentFactory(type: type, configure: configure)
        self.placement = placement
    }

    /// The first broken rule of `pipeline`'s stage types (in configured order), as a problem and
    /// a fix; nil when every stage's placement holds.
    public static func placementProblem(_ types: [String], factories: [String: CommitStageFactory]) -> (problem: String, fix: String)? {
        for (position, type) in types.enumerated() {
            guard let placement = factories[type]?.placement else { continue }
            let missing = placement.requires.filter { !types.contains($0) }
            let early = placement.before.filter { types.prefix(position).contains($0) }
            guard !missing.isEmpty || !early.isEmpty else { continue }
            let problem =
                missing.isEmpty
                ? "lists \(type) after \(placement.before.joined(separator: " or "))"
                : "lists \(type) without \(missing.joined(separator: " and "))"
            return (
                problem, "order them e.g. [\(suggestedOrder(types + missing, factories: factories).joined(separator: ", "))]: \(placement.reason)"
            )
        }
        return nil
    }

    /// `types` reordered so each stage precedes what its placement says it must (stable otherwise).
    static func suggestedOrder(_ types: [String], factories: [String: CommitStageFactory]) -> [String] {
        var order: [String] = []
        for type in types {
            let before = factories[type]?.placement.before ?? []
            let index = order.firstIndex { before.contains($0) } ?? order.endIndex
            order.insert(type, at: index)
        }
        return order
    }
}

/// What a commit stage may ask of the primary's open transaction.
public protocol CommitTransaction {
    /// The newest stored `hmac_value` per session (its chain head), for sessions that have one.
    func chainHeads(_ sessions: [UUID]) throws -> [UUID: String]
    /// Reserves `count` consecutive sequence numbers of `workflow` until commit; returns the first.
    /// Callers reserving for several workflows do so in sorted order (no lock-order deadlocks).
    func reserveSeq(workflow: String, count: Int) throws -> Int64
    /// Adds each agent's spend to its UTC day's total (callers pass them sorted by agent and day,
    /// the order rows are locked in); returns the totals after, with whether an alert under
    /// `alertCap` is already recorded for that agent and day.
    func addSpend(_ spend: [BudgetSpend], alertCap: String) throws -> [BudgetSpend.Total]
    /// Records `alert` in the outbox the budget webhook delivers from, unless its agent, cap and
    /// day has one: nil then; else whether its audit event is not stored yet.
    func recordAlert(_ alert: BudgetAlertRecord) throws -> Bool?
}

/// Spend of one agent on one UTC day (`YYYY-MM-DD`), in USD.
public struct BudgetSpend: Sendable, Equatable {
    public var agentID: String
    public var day: String
    public var usd: Decimal

    public init(agentID: String, day: String, usd: Decimal) {
        (self.agentID, self.day, self.usd) = (agentID, day, usd)
    }

    /// An agent's spend for the day after an addition.
    public struct Total: Sendable, Equatable {
        public var spend: BudgetSpend
        public var alerted: Bool

        public init(spend: BudgetSpend, alerted: Bool) {
            (self.spend, self.alerted) = (spend, alerted)
        }
    }
}

/// A budget alert to deliver: one per agent, cap and day, with its signed payload and the audit
/// event that records it.
public struct BudgetAlertRecord: Sendable, Equatable {
    public var agentID: String
    public var capID: String
    public var day: String
    public var payload: String
    public var eventID: UUID

    public init(agentID: String, capID: String, day: String, payload: String, eventID: UUID) {
        (self.agentID, self.capID, self.day, self.payload, self.eventID) = (agentID, capID, day, payload, eventID)
    }
}

extension UUID {
    /// The SDK's advisory-lock key for a session: its first 8 bytes as a signed big-endian Int64.
    public var advisoryLockKey: Int64 {
        withUnsafeBytes(of: uuid) { raw in
            Int64(bigEndian: raw.loadUnaligned(as: Int64.self))
        }
    }
}
