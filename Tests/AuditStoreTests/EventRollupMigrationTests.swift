import AuditStore
import GovernanceTesting
import Testing

/// The rollup's day width on a database whose hours were folded before it existed.
@Suite("event rollup migration")
struct EventRollupMigrationTests {
    @Test("upgrading adds the day width, summed from the hours already folded, once")
    func dayWidthFromHours() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let connection = try PGConnection(dsn: try cluster.createDatabase())
        try AuditSchema.migrate(connection)
        try connection.exec(
            """
            INSERT INTO governance_event_rollup (width, bucket, workflow, agent_id, kind, decision, tool, events) VALUES
            (3600, '2026-11-30 22:00+00', 'wf', 'a', 'k', 'none', '', 2), (3600, '2026-11-30 23:00+00', 'wf', 'a', 'k', 'none', '', 3),
            (3600, '2026-12-01 00:00+00', 'wf', 'a', 'k', 'none', '', 4), (60, '2026-12-01 00:01+00', 'wf', 'a', 'k', 'none', '', 4)
            """)
        try AuditSchema.migrate(connection)
        try AuditSchema.migrate(connection)
        let days = try connection.exec("SELECT bucket::date::text, events FROM governance_event_rollup WHERE width = 86400 ORDER BY 1").rows
        #expect(days == [["2026-11-30", "5"], ["2026-12-01", "4"]])
    }
}
