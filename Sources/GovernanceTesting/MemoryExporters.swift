package import Foundation
package import Pipeline
package import Synchronization

/// A primary kept in memory, for testing what the pipeline and the receivers do without a
/// database: it "commits" by running the commit stages on the events it has not seen, keeps
/// them, and answers as the postgres exporter would (stored as committed, or duplicate).
/// The integration tests run the same paths on PostgreSQL.
package final class MemoryPrimary: PrimaryExporter {
    /// Events already stored before the test (answered `duplicate`).
    package let duplicates: Set<UUID>
    /// Throw `PipelineUnavailable` from every commit, as a primary that lost its database.
    package let unavailable: Bool
    package let committed = Mutex<[AuditEvent]>([])
    package let stagesKeys = Mutex<[String]>([])

    package init(duplicates: Set<UUID> = [], unavailable: Bool = false) {
        self.duplicates = duplicates
        self.unavailable = unavailable
    }

    package var isReady: Bool { !unavailable }
    package func run() async throws {}

    package func commit(_ events: [AuditEvent], stages: [any CommitStage], stagesKey: String) async throws(PipelineUnavailable) -> [CommitResult] {
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
package final class MemoryTransaction: CommitTransaction {
    package var heads: [UUID: String] = [:]
    package var lastSeq: [String: Int64] = [:]
    package private(set) var reservations: [(workflow: String, count: Int)] = []

    package init() {}

    package func chainHeads(_ sessions: [UUID]) throws -> [UUID: String] { heads.filter { sessions.contains($0.key) } }

    package func reserveSeq(workflow: String, count: Int) throws -> Int64 {
        reservations.append((workflow, count))
        let first = (lastSeq[workflow] ?? 0) + 1
        lastSeq[workflow] = first + Int64(count) - 1
        return first
    }

    /// Stages that keep their own tables need PostgreSQL: refused here.
    package func addSpend(_ spend: [BudgetSpend], alertCap: String) throws -> [BudgetSpend.Total] {
        throw MemoryTransactionHasNoTables(operation: "addSpend")
    }

    package func recordAlert(_ alert: BudgetAlertRecord) throws -> Bool? {
        throw MemoryTransactionHasNoTables(operation: "recordAlert")
    }
}

package struct MemoryTransactionHasNoTables: Error {
    package var operation: String
}

/// A secondary that keeps what it is handed.
package final class MemorySecondary: SecondaryExporter {
    package let received = Mutex<[AuditEvent]>([])
    package init() {}
    package func export(_ events: [AuditEvent]) { received.withLock { $0.append(contentsOf: events) } }
    package func run() async throws {}
}

/// A store reader that counts the commits it is told of.
package final class MemoryStoreReader: StoreReadingExporter {
    package let commits = Mutex(0)
    package init() {}
    package func committed() { commits.withLock { $0 += 1 } }
    package func run() async throws {}
}
