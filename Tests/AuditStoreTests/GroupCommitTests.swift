@testable import AuditStore
import Foundation
import GovernanceTesting
import Pipeline
import Synchronization
import Testing

/// `GroupCommit` on a real database, driven directly (no collector): what it stores, what it
/// reports, and that a transaction it rolls back gives its seq numbers back.
@Suite("group commit on PostgreSQL")
struct GroupCommitTests {
    /// Numbers each workflow's events from the transaction's seq counter, as `seq` does.
    struct Numbering: CommitStage {
        var failing = false
        func apply(_ events: inout [AuditEvent], in transaction: any CommitTransaction) throws {
            guard !events.isEmpty else { return }
            let first = try transaction.reserveSeq(workflow: "wf", count: events.count)
            for index in events.indices { events[index].seq = first + Int64(index) }
            if failing { throw StageFailed() }
        }
    }

    struct StageFailed: Error {}

    static func event(_ id: UUID = UUID()) -> AuditEvent {
        AuditEvent(
            eventID: id, sessionID: UUID(), agentID: "agent-1", kind: "tool.call", hmac: String(repeating: "ab", count: 32),
            createdAt: Timestamp(microseconds: 1_767_323_045_000_000), workflow: "wf")
    }

    /// A connection to a new, migrated database of `cluster`, prepared as a writer's is.
    static func migratedConnection(_ cluster: LocalPostgres) throws -> PGConnection {
        let connection = try PGConnection(dsn: try cluster.createDatabase())
        try AuditSchema.migrate(connection)
        try connection.prepare("gc_existing", AuditRow.existingStatement)
        return connection
    }

    static func seqs(_ results: [CommitResult]) -> [Int64?] {
        results.map { if case .stored(let e) = $0 { e.seq } else { nil } }
    }

    @Test("new events are stored and numbered; stored ones are duplicates; rolled-back transactions leave no seq gap")
    func gaplessAcrossRollbacks() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let connection = try Self.migratedConnection(cluster)

        let a = Self.event(), b = Self.event(), c = Self.event()
        let first = try GroupCommit.commit([a, b], stages: [Numbering()], on: connection)
        #expect(Self.seqs(first) == [1, 2])
        // `b` is stored already: the optimistic COPY fails on its id and rolls back (with the two
        // numbers it reserved); the retry stores only `c`, numbered 3.
        let second = try GroupCommit.commit([b, c, c], stages: [Numbering()], on: connection)
        #expect(second.map(\.label) == ["duplicate", "stored", "duplicate"])
        #expect(Self.seqs(second) == [nil, 3, nil])
        // A stage that fails rolls its transaction back; the next commit continues at 4.
        #expect(throws: PGError.self) { try GroupCommit.commit([Self.event()], stages: [Numbering(failing: true)], on: connection) }
        #expect(Self.seqs(try GroupCommit.commit([Self.event()], stages: [Numbering()], on: connection)) == [4])
        let stored = try connection.exec("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM governance_audit_events")
        #expect(stored.rows.first?.first == "1,2,3,4")
    }

    @Test("a group of 20,000 sessions commits in transactions of at most 256 session locks each, numbered without a gap")
    func manySessionsAreSplit() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let connection = try Self.migratedConnection(cluster)
        let events = (0..<20_000).map { _ in Self.event() }
        let results = try GroupCommit.commit(events, stages: [Numbering()], on: connection)
        #expect(results.allSatisfy { $0.label == "stored" })
        #expect(Self.seqs(results) == (1...20_000).map { Int64($0) }, "numbered in order across the transactions, no gap")
        #expect(GroupCommit.chunks(events, sessionsAtMost: 256).map(\.count) == Array(repeating: 256, count: 78) + [32])
    }

    @Test("within one group, an event id first stored by one workflow is refused for another, and a session belongs to its first workflow")
    func tenancyWithinAGroup() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let connection = try Self.migratedConnection(cluster)
        let session = UUID()
        var a = Self.event(), b = Self.event(), c = Self.event()
        a.sessionID = session
        b.sessionID = session
        b.workflow = "other"
        c.workflow = "other"
        var stolen = a
        stolen.workflow = "other"
        stolen.sessionID = UUID()
        let results = try GroupCommit.commit([a, b, c, stolen, a], stages: [], on: connection)
        #expect(results.map(\.label) == ["stored", "rejected", "stored", "rejected", "duplicate"])
        #expect(
            results[1]
                == .rejected(EventRejection(field: "payload.session_id", message: "belongs to another workflow; start a new session", status: 409)))
        #expect(
            results[3]
                == .rejected(EventRejection(field: "event_id", message: "is already stored by another workflow; choose a new event_id", status: 409)))
        // The same, against what is stored: a's id and session are wf's.
        let later = try GroupCommit.commit([stolen, b, a], stages: [], on: connection)
        #expect(later.map(\.label) == ["rejected", "rejected", "duplicate"])
    }

    /// Declares a seq reservation of `declared` events and the heads of `declaredSessions`, then
    /// reserves for its events plus `added` new ones (as budget adds alerts) and asks for the
    /// heads of every session in the group.
    final class Declaring: CommitStage {
        let declared: Int
        let declaredSessions: [UUID]
        let added: [AuditEvent]
        let seen = Mutex<[UUID: String]>([:])

        init(declared: Int, declaredSessions: [UUID], added: [AuditEvent] = []) {
            self.declared = declared
            self.declaredSessions = declaredSessions
            self.added = added
        }

        func reads(for events: [AuditEvent]) -> [CommitRead] {
            [.seq(workflow: "wf", count: declared), .chainHeads(declaredSessions)]
        }

        func apply(_ events: inout [AuditEvent], in transaction: any CommitTransaction) throws {
            events += added
            let first = try transaction.reserveSeq(workflow: "wf", count: events.count)
            for index in events.indices { events[index].seq = first + Int64(index) }
            let heads = try transaction.chainHeads(Array(Set(events.map(\.sessionID))))
            seen.withLock { $0 = heads }
        }
    }

    @Test(
        "declared reads come with the locks; a stage that adds events or reserves fewer keeps seq consecutive; an undeclared session's head is read when asked"
    )
    func declaredReads() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let connection = try Self.migratedConnection(cluster)

        var a = Self.event(), b = Self.event()
        a.hmac = String(repeating: "a1", count: 32)
        b.hmac = String(repeating: "b2", count: 32)
        #expect(Self.seqs(try GroupCommit.commit([a, b], stages: [Numbering()], on: connection)) == [1, 2])

        // One event declared, one added by the stage: numbered 3 and 4. Only a's session was
        // declared; b's head is read when the stage asks for it.
        var c = Self.event(), added = Self.event()
        c.sessionID = a.sessionID
        added.sessionID = b.sessionID
        let topUp = Declaring(declared: 1, declaredSessions: [a.sessionID], added: [added])
        #expect(Self.seqs(try GroupCommit.commit([c], stages: [topUp], on: connection)) == [3])
        #expect(
            try connection.exec("SELECT seq FROM governance_audit_events WHERE event_id = $1", [added.eventID.lowercasedString]).rows.first?.first
                == "4")
        #expect(topUp.seen.withLock { $0 } == [a.sessionID: a.hmac!, b.sessionID: b.hmac!])

        // Three declared, one reserved: the two extra numbers are given back.
        let fewer = Declaring(declared: 3, declaredSessions: [])
        #expect(Self.seqs(try GroupCommit.commit([Self.event()], stages: [fewer], on: connection)) == [5])
        #expect(Self.seqs(try GroupCommit.commit([Self.event()], stages: [Numbering()], on: connection)) == [6])
        let stored = try connection.exec("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM governance_audit_events")
        #expect(stored.rows.first?.first == "1,2,3,4,5,6")
    }

    @Test("migrating twice changes nothing the second time")
    func migrationIsIdempotent() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let connection = try PGConnection(dsn: try cluster.createDatabase())
        #expect(try AuditSchema.migrate(connection))
        #expect(try !AuditSchema.migrate(connection))
        #expect(try AuditSchema.isMigrated(connection))
    }
}
