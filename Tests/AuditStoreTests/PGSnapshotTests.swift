import AuditStore
import GovernanceTesting
import Testing

/// `PGSnapshot.sees` agrees with what PostgreSQL itself showed a reader of that snapshot: the
/// dashboard relies on it to count a row either in its figures or in its live stream, never both.
@Suite("PostgreSQL snapshots")
struct PGSnapshotTests {
    @Test("parsing: pg_current_snapshot's text, and nonsense refused")
    func parsing() {
        let snapshot = PGSnapshot("10:20:12,15")
        #expect(snapshot?.xmin == 10 && snapshot?.xmax == 20 && snapshot?.inProgress == [12, 15])
        #expect(snapshot?.text == "10:20:12,15" && PGSnapshot("7:7:")?.inProgress == [])
        for bad in ["", "1:2", "a:b:", "5:3:", "1:9:x", "1:9:2,,3"] { #expect(PGSnapshot(bad) == nil, "\(bad)") }
    }

    @Test("a row committed before the snapshot is seen; one still running at it, or begun after it, is not")
    func visibilityMatchesPostgres() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let dsn = try cluster.createDatabase()
        let setup = try PGConnection(dsn: dsn)
        try setup.exec("CREATE TABLE t (id int, txid xid8 NOT NULL DEFAULT pg_current_xact_id())")
        try setup.exec("INSERT INTO t (id) VALUES (1)")  // committed before the snapshot
        let running = try PGConnection(dsn: dsn)
        try running.exec("BEGIN")
        try running.exec("INSERT INTO t (id) VALUES (2)")  // running when the snapshot is taken

        let reader = try PGConnection(dsn: dsn)
        try reader.exec("BEGIN ISOLATION LEVEL REPEATABLE READ")
        let snapshot = try #require(try reader.exec("SELECT pg_current_snapshot()::text").rows.first?[0].flatMap(PGSnapshot.init))
        try running.exec("COMMIT")
        try setup.exec("INSERT INTO t (id) VALUES (3)")  // begun after the snapshot

        let seenByReader = Set(try reader.exec("SELECT id FROM t").rows.compactMap { $0[0] })
        try reader.exec("COMMIT")
        let all = try setup.exec("SELECT id, txid::text FROM t ORDER BY id").rows
        #expect(all.count == 3 && seenByReader == ["1"])
        for row in all {
            let txid = try #require(row[1].flatMap { UInt64($0) })
            #expect(snapshot.sees(txid) == seenByReader.contains(row[0] ?? ""), "row \(row[0] ?? "?") (txid \(txid), snapshot \(snapshot.text))")
        }
    }
}
