public import Foundation
public import Pipeline
public import Synchronization

/// A primary kept in memory, for testing what the pipeline and the receivers do without a
/// database: it "commits" by running the commit stages on the events it has not seen, keeps
/// them, and answers as the postgres exporter would (stored as committed, or duplicate).
/// The integration tests run the same paths on PostgreSQL.
public final class MemoryPrimary: PrimaryExporter {
    /// Events already stored before the test (answered `duplicate`).
    public let duplicates: Set<UUID>
    /// Throw `PipelineUnavailable` from every commit, as a primary that lost its database.
    public let unavailable: Bool
    public let committed = Mutex<[AuditEvent]>([])
    public let stagesKeys = Mutex<[String]>([])

    public init(duplicates: Set<UUID> = [], unavailable: Bool = false) {
        self.duplicates = duplicates
        self.unavailable = unavailable
    }

    public var isReady: Bool { !unavailable }
    public func run() async throws {}

    public func commit(_ events: [AuditEvent], stages: [any CommitStage], stagesKey: String) async throws(PipelineUnavailable) -> [CommitResult] {
        if unavailable { throw PipelineUnavailable(reason: "the test's primary is down", retryAfterSeconds: 2) }
        stagesKeys.withLock { $0.append(stagesKey) }
        let seen = committed.withLock { Set($0.map(\.eventID)) }
        var fresh = events.filter { !duplicates.contains($0.eventID) && !seen.contains($0.eventID) }
        do {
            for stage in stages { try stage.apply(&fresh, in: MemoryTransaction()) }
        } catch {
            throw PipelineUnavailable(reason: "\(error)")
        }
        committed.withLock { $0.append(contentsOf: fresh) }
        let stored = Dictionary(fresh.map { ($0.eventID, $0) }, uniquingKeysWith: { a, _ in a })
        return events.map { stored[$0.eventID].map(CommitResult.stored) ?? .duplicate }
    }
}

/// The open transaction of `MemoryPrimary`: no chain heads, seq counters per workflow.
public final class MemoryTransaction: CommitTransaction {
    public var heads: [UUID: String] = [:]
    public var lastSeq: [String: Int64] = [:]
    public private(set) var reservations: [(workflow: String, count: Int)] = []

    public init() {}

    public func chainHeads(_ sessions: [UUID]) throws -> [UUID: String] { heads.filter { sessions.contains($0.key) } }

    public func reserveSeq(workflow: String, count: Int) throws -> Int64 {
        reservations.append((workflow, count))
        let first = (lastSeq[workflow] ?? 0) + 1
        lastSeq[workflow] = first + Int64(count) - 1
        return first
    }

    /// Stages that keep their own tables need PostgreSQL: refused here.
    public func addSpend(_ spend: [BudgetSpend], alertCap: String) throws -> [BudgetSpend.Total] {
        throw MemoryTransactionHasNoTables(operation: "addSpend")
    }

    public func recordAlert(_ alert: BudgetAlertRecord) throws -> Bool? {
        throw MemoryTransactionHasNoTables(operation: "recordAlert")
    }
}

public struct MemoryTransactionHasNoTables: Error {
    public var operation: String
}

/// A secondary that keeps what it is handed.
public final class MemorySecondary: SecondaryExporter {
    public let received = Mutex<[AuditEvent]>([])
    public init() {}
    public func export(_ events: [AuditEvent]) { received.withLock { $0.append(contentsOf: events) } }
    public func run() async throws {}
}

/// A store reader that counts the commits it is told of.
public final class MemoryStoreReader: StoreReadingExporter {
    public let commits = Mutex(0)
    public init() {}
    public func committed() { commits.withLock { $0 += 1 } }
    public func run() async throws {}
}
