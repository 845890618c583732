import AuditStore
import GovernanceTesting
import Pipeline
import Testing

/// The GenAI metrics' totals: each cumulative point adds only what is new in its series.
@Suite("GenAI usage from OTLP metrics")
struct GenAIUsageTests {
    static func point(
        _ series: String, time: UInt64, cumulative: Bool = true, count: Int64, sum: Double,
        metric: String = "gen_ai.client.operation.duration", tokenType: String = ""
    ) -> GenAIUsage.Point {
        GenAIUsage.Point(
            series: series, service: "weather-app", model: "gpt-4o", metric: metric, tokenType: tokenType,
            timeUnixNano: time, cumulative: cumulative, count: count, sum: sum)
    }

    @Test(
        "cumulative points add their increase; a retried or older point adds nothing; a restarted process (new series) and delta points add all they carry; workflows are apart"
    )
    func increments() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let connection = try PGConnection(dsn: try cluster.createDatabase())
        try AuditSchema.migrate(connection)
        func usage(_ workflow: String? = "wf") throws -> GenAIUsage.ModelUsage? {
            try GenAIUsage.usage(since: Timestamp(microseconds: 0), workflow: workflow, limit: 10, on: connection).first
        }

        try GenAIUsage.record([Self.point("a", time: 10, count: 2, sum: 0.5)], workflow: "wf", prune: false, on: connection)
        #expect(try usage()?.operations == 2 && usage()?.seconds == 0.5)
        // Later: 5 calls in all since the process started, 1.25 s.
        try GenAIUsage.record([Self.point("a", time: 20, count: 5, sum: 1.25)], workflow: "wf", prune: false, on: connection)
        #expect(try usage()?.operations == 5 && usage()?.seconds == 1.25)
        // The same export again, and an older one: nothing new.
        try GenAIUsage.record(
            [Self.point("a", time: 20, count: 5, sum: 1.25), Self.point("a", time: 15, count: 3, sum: 0.75)],
            workflow: "wf", prune: false, on: connection)
        #expect(try usage()?.operations == 5)
        // The process restarted (a new start time names a new series): its first point is all new.
        // Two points of one series in one export: the second adds its increase over the first.
        try GenAIUsage.record(
            [Self.point("b", time: 30, count: 1, sum: 0.25), Self.point("b", time: 40, count: 4, sum: 1)],
            workflow: "wf", prune: false, on: connection)
        #expect(try usage()?.operations == 9 && usage()?.seconds == 2.25)
        // Delta points carry only their interval's measurements, and repeat nothing.
        try GenAIUsage.record(
            [
                Self.point("c", time: 50, cumulative: false, count: 1, sum: 0.5),
                Self.point("c", time: 60, cumulative: false, count: 1, sum: 0.5),
            ], workflow: "wf", prune: false, on: connection)
        #expect(try usage()?.operations == 11 && usage()?.seconds == 3.25)
        // Tokens by type.
        try GenAIUsage.record(
            [
                Self.point("in", time: 10, count: 2, sum: 250, metric: "gen_ai.client.token.usage", tokenType: "input"),
                Self.point("out", time: 10, count: 2, sum: 50, metric: "gen_ai.client.token.usage", tokenType: "output"),
            ],
            workflow: "wf", prune: true, on: connection)
        #expect(try usage()?.inputTokens == 250 && usage()?.outputTokens == 50)
        // Another workflow's series of the same name is its own, and not in this workflow's figures.
        try GenAIUsage.record([Self.point("a", time: 20, count: 7, sum: 7)], workflow: "other", prune: false, on: connection)
        #expect(try usage()?.operations == 11)
        #expect(try usage("other")?.operations == 7)
        #expect(try usage(nil)?.operations == 18)
    }
}
