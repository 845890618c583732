import AuditStore
import Collector
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Pipeline
import Receivers

/// The timeline UI over a large table: 1,000,000 events (5 workflows, 50 agents, 2,000
/// sessions, 30 days) loaded by binary COPY, then page loads through the real collector's UI,
/// each repeated and reported as p50/p95, beside the same first-page query run directly.
struct TimelineBench {
    let binary: String
    let events: Int
    let loads = 40

    static let adminToken = "bench-ui-admin-token-0123456789abcdef"
    static let kinds: [(String, Decision?)] = [("tool.call", nil), ("tool.result", nil), ("llm.call", nil), ("policy.denied", .deny), ("access.granted", .allow)]
    static let start: Int64 = 1_790_000_000_000_000

    static func event(_ i: Int) -> AuditEvent {
        let (kind, decision) = kinds[i % kinds.count]
        let id = String(format: "%08x-0000-4000-8000-%012x", 0x7171, i)
        let session = String(format: "%08x-0000-4000-8000-%012x", 0x5e55, i % 2000)
        // Spread over 30 days, in time order.
        return AuditEvent(eventID: UUID(uuidString: id)!, sessionID: UUID(uuidString: session)!, agentID: "agent-\(i % 2000 % 50)", kind: kind,
                          metadata: .object([.init("tool", .string("search")), .init("n", .number(String(i)))]), hmac: "abcdef0123456789",
                          createdAt: Timestamp(microseconds: start + Int64(i) * 2_592_000_000_000 / 1_000_000),
                          workflow: "wf-\(i % 2000 % 5)", sdkVersion: "0.7.3", decision: decision)
    }

    /// A migrated database `name` holding `count` generated events, loaded by binary COPY.
    static func loadDatabase(_ name: String, events count: Int, cluster: LocalPostgres) throws -> (dsn: String, connection: PGConnection) {
        let dsn = try cluster.createDatabase(name)
        let connection = try PGConnection(dsn: dsn)
        try AuditSchema.migrate(connection, components: CollectorPlan.builtIns.schema)
        for chunk in stride(from: 0, to: count, by: 50_000) {
            try connection.copyIn(AuditRow.copyStatement, data: AuditRow.encode((chunk..<min(chunk + 50_000, count)).map(Self.event)))
        }
        return (dsn, connection)
    }

    func run(cluster: LocalPostgres) async throws -> [(String, String, String)] {
        let t0 = Date()
        let (dsn, connection) = try Self.loadDatabase("bench_timeline", events: events, cluster: cluster)
        try connection.exec("ANALYZE governance_audit_events")
        let loadSeconds = Date().timeIntervalSince(t0)

        let port = try LocalPostgres.freePort(), uiPort = try LocalPostgres.freePort()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("gc-bench-ui-\(port).yaml").path
        try """
            receivers:
              ingest_http:
                endpoint: 127.0.0.1:\(port)
                tokens: [{ workflow: bench, token_sha256: \(WorkflowTokens.sha256Hex(Bench.token)) }]
            exporters:
              postgres: { dsn: "\(dsn)" }
            ui: { endpoint: "127.0.0.1:\(uiPort)", admin_token: "\(Self.adminToken)" }
            service:
              telemetry: { logs: { level: error }, metrics: { endpoint: "127.0.0.1:0" } }
              pipelines:
                audit: { receivers: [ingest_http], exporters: [postgres] }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let child = try ChildProcess.spawn([binary, "run", "--config", config])
        defer {
            child.kill(SIGTERM)
            child.wait()
            try? FileManager.default.removeItem(atPath: config)
        }
        try Bench.waitUntilReady("http://127.0.0.1:\(port)")
        let ui = "http://127.0.0.1:\(uiPort)"

        // A cursor 90% of the way back: keyset pagination makes it cost what the first page does.
        let deep = Self.event(events / 10)
        let deepCursor = "\(deep.createdAt.microseconds)_\(deep.eventID.lowercasedString)"
        let scenarios: [(String, String)] = [
            ("first page, no filter", "/timeline"),
            ("one workflow (of 5)", "/timeline?workflow=wf-2"),
            ("one agent (of 50)", "/timeline?agent=agent-17"),
            ("decision=deny", "/timeline?decision=deny"),
            ("kind prefix llm.*", "/timeline?kind=llm.%2A"),
            ("one agent, one day", "/timeline?agent=agent-17&from=2026-09-25T00:00Z&to=2026-09-26T00:00Z"),
            ("a page 900,000 rows back (keyset cursor)", "/timeline?before=\(deepCursor)"),
            ("event detail", "/events/\(deep.eventID.lowercasedString)"),
            ("workflows page (counts every row)", "/workflows"),
        ]
        var rows: [(String, String, String)] = [("timeline table", "\(events) events by COPY + ANALYZE", String(format: "%.1f s", loadSeconds))]
        // The first page's query alone, straight to PostgreSQL: what rendering and HTTP add to it.
        let sql = "SELECT \(AuditRow.selectColumns) FROM governance_audit_events ORDER BY created_at DESC, event_id DESC LIMIT 101"
        let direct = try (0..<loads).map { _ in
            let t = Date()
            _ = try connection.exec(sql)
            return Date().timeIntervalSince(t)
        }
        rows.append(("timeline, 1M events: first page's SQL alone (baseline)", "\(loads) queries", Self.percentiles(direct)))
        for (name, path) in scenarios {
            var times: [Double] = []
            var status = 0
            for _ in 0..<loads {
                let t = Date()
                let answer = try await TestHTTP.request("GET", ui + path, headers: ["Authorization: Bearer \(Self.adminToken)"])
                times.append(Date().timeIntervalSince(t))
                status = answer.status
            }
            rows.append(("timeline, 1M events: \(name)", "\(loads) loads\(status == 200 ? "" : " (HTTP \(status)!)")", Self.percentiles(times)))
        }
        return rows
    }

    static func percentiles(_ seconds: [Double]) -> String {
        let sorted = seconds.sorted()
        func at(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)] }
        return String(format: "p50 %.1f ms, p95 %.1f ms", at(0.5) * 1000, at(0.95) * 1000)
    }
}
