import AuditStore
import Foundation
import GovernanceTesting
import Pipeline
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
        AuditEvent(eventID: id, sessionID: UUID(), agentID: "agent-1", kind: "tool.call", hmac: String(repeating: "ab", count: 32),
                   createdAt: Timestamp(microseconds: 1_767_323_045_000_000), workflow: "wf")
    }

    static func seqs(_ results: [CommitResult]) -> [Int64?] {
        results.map { if case .stored(let e) = $0 { e.seq } else { nil } }
    }

    @Test("new events are stored and numbered; stored ones are duplicates; rolled-back transactions leave no seq gap")
    func gaplessAcrossRollbacks() throws {
        let cluster = try LocalPostgres(fsync: false)
        defer { cluster.destroy() }
        let connection = try PGConnection(dsn: try cluster.createDatabase())
        try AuditSchema.migrate(connection, components: [])
        try connection.prepare("gc_existing", AuditRow.existingStatement)

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

    @Test("migrating twice changes nothing the second time")
    func migrationIsIdempotent() throws {
        let cluster = try LocalPostgres(fsync: false)
        defer { cluster.destroy() }
        let connection = try PGConnection(dsn: try cluster.createDatabase())
        #expect(try AuditSchema.migrate(connection, components: []))
        #expect(try !AuditSchema.migrate(connection, components: []))
        #expect(try AuditSchema.isMigrated(connection))
    }
}
