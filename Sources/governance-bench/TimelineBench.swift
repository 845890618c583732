import AuditStore
import Collector
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Pipeline
import Receivers

/// The UI over a large table: `events` generated events (5 workflows, 50 agents, 200,000
/// sessions, 5 tools, 10,000 tickets, the 30 days up to now) loaded by binary COPY, then page
/// loads through the real collector's UI (timeline, metadata search, session page, dashboard),
/// each repeated and reported as p50/p95, beside the same queries run directly; and an export.
struct TimelineBench {
    let binary: String
    let events: Int
    let loads = 40

    static let adminToken = "bench-ui-admin-token-0123456789abcdef"
    static let kinds: [(String, Decision?)] = [
        ("tool.call", nil), ("tool.result", nil), ("llm.call", nil), ("policy.denied", .deny), ("access.granted", .allow),
    ]
    /// Midnight UTC 30 days ago, so the table's last day is today's and the dashboard's windows hold rows.
    static let start: Int64 = (Timestamp.now().microseconds / 86_400_000_000 - 30) * 86_400_000_000
    static let tools = ["search", "sql", "http", "browser", "code"]

    /// Event `i` of a table of `count` (which spreads the 30 days over the rows).
    static func event(_ i: Int, of count: Int = 1_000_000) -> AuditEvent {
        let (kind, decision) = kinds[i % kinds.count]
        let id = String(format: "%08x-0000-4000-8000-%012x", 0x7171, i)
        let session = String(format: "%08x-0000-4000-8000-%012x", 0x5e55, i % 200_000)
        // Spread over 30 days, in time order.
        return AuditEvent(
            eventID: UUID(uuidString: id)!, sessionID: UUID(uuidString: session)!, agentID: "agent-\(i % 2000 % 50)", kind: kind,
            metadata: .object([
                .init("tool", .string(tools[i % 7 % 5])), .init("ticket", .string("ticket\(i % 10_000)")),
                .init("n", .number(String(i))),
            ]), hmac: "abcdef0123456789",
            createdAt: Timestamp(microseconds: start + Int64(i) * (2_592_000_000_000 / Int64(max(count, 1)))),
            workflow: "wf-\(i % 2000 % 5)", sdkVersion: "0.7.3", decision: decision)
    }

    /// A migrated database `name` holding `count` generated events, loaded by binary COPY.
    /// The metadata search index is dropped for the load and built after it, as an operator
    /// adding it to a large table would (`indexSeconds`).
    static func loadDatabase(_ name: String, events count: Int, cluster: LocalPostgres) throws -> (
        dsn: String, connection: PGConnection, indexSeconds: Double
    ) {
        let dsn = try cluster.createDatabase(name)
        let connection = try PGConnection(dsn: dsn)
        try AuditSchema.migrate(connection)
        try connection.exec("DROP INDEX idx_audit_metadata_words")
        for chunk in stride(from: 0, to: count, by: 50_000) {
            try connection.copyIn(
                AuditRow.copyStatement, data: AuditRow.encode((chunk..<min(chunk + 50_000, count)).map { Self.event($0, of: count) }))
        }
        let t = Date()
        try AuditSchema.migrate(connection)
        return (dsn, connection, Date().timeIntervalSince(t))
    }

    /// COPY of `count` rows into an empty table with and without the metadata search index: what the index costs each write.
    static func indexWriteCost(cluster: LocalPostgres, count: Int = 200_000) throws -> [(String, String, String)] {
        var rows: [(String, String, String)] = []
        for withIndex in [false, true] {
            let connection = try PGConnection(dsn: try cluster.createDatabase("bench_gin_\(withIndex ? "on" : "off")"))
            try AuditSchema.migrate(connection)
            if !withIndex { try connection.exec("DROP INDEX idx_audit_metadata_words") }
            let data = (0..<count).map { Self.event($0, of: count) }
            let t = Date()
            for chunk in stride(from: 0, to: count, by: 10_000) {
                try connection.copyIn(AuditRow.copyStatement, data: AuditRow.encode(Array(data[chunk..<min(chunk + 10_000, count)])))
            }
            let seconds = Date().timeIntervalSince(t)
            rows.append(
                (
                    "binary COPY, \(withIndex ? "with" : "without") the metadata search index", "\(count) rows",
                    String(format: "%.0f rows/s = %.1f µs/row", Double(count) / seconds, seconds / Double(count) * 1e6)
                ))
        }
        return rows
    }

    func run(cluster: LocalPostgres) async throws -> [(String, String, String)] {
        var rows = try Self.indexWriteCost(cluster: cluster)
        let t0 = Date()
        let (dsn, connection, indexSeconds) = try Self.loadDatabase("bench_timeline", events: events, cluster: cluster)
        try connection.exec("ANALYZE governance_audit_events")
        let loadSeconds = Date().timeIntervalSince(t0)
        let size = events >= 1_000_000 ? "\(events / 1_000_000)M" : "\(events / 1000)k"

        let port = try LocalPostgres.freePort(), uiPort = try LocalPostgres.freePort()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("gc-bench-ui-\(port).yaml").path
        try """
        receivers:
          ingest_http:
            endpoint: 127.0.0.1:\(port)
            tokens: [{ workflow: bench, token_sha256: \(WorkflowTokens.sha256Hex(Bench.token)) }]
        exporters:
          postgres: { dsn: "\(dsn)" }
        ui: { endpoint: "127.0.0.1:\(uiPort)", admin_token: "\(Self.adminToken)", api_rate: 100000, api_burst: 100000 }
        service:
          telemetry: { logs: { level: error }, metrics: { endpoint: "127.0.0.1:0" } }
          pipelines:
            audit: { receivers: [ingest_http], exporters: [postgres] }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let child = try ChildProcess.spawn([binary, "run", "--config", config])
        defer {
            child.stop(SIGTERM)
            try? FileManager.default.removeItem(atPath: config)
        }
        try Bench.waitUntilReady("http://127.0.0.1:\(port)")
        let ui = "http://127.0.0.1:\(uiPort)"
        // The UI's rollup folds the whole table once, from empty, before the dashboard rows.
        let t1 = Date()
        while try connection.exec(
            """
            SELECT NOT EXISTS (SELECT 1 FROM governance_audit_events, governance_rollup_state s WHERE (governance_txid, chain_seq) > (s.cursor_txid, s.cursor_chain_seq))
            """
        ).rows.first?[0] != "t" {
            try await Task.sleep(for: .seconds(1))
        }
        let foldSeconds = Date().timeIntervalSince(t1)
        try connection.exec("ANALYZE governance_event_rollup")

        // A cursor 90% of the way back: keyset pagination makes it cost what the first page does.
        let deep = Self.event(events / 10, of: events)
        let deepCursor = "\(deep.createdAt.microseconds)_\(deep.eventID.lowercasedString)"
        let day = { (n: Int64) in Timestamp(microseconds: Self.start + n * 86_400_000_000).pythonISOFormat.prefix(10) + "T00:00Z" }
        let scenarios: [(String, String)] = [
            ("first page, no filter", "/timeline"),
            ("one workflow (of 5)", "/timeline?workflow=wf-2"),
            ("one agent (of 50)", "/timeline?agent=agent-17"),
            ("decision=deny", "/timeline?decision=deny"),
            ("kind prefix llm.*", "/timeline?kind=llm.%2A"),
            ("one agent, one day", "/timeline?agent=agent-17&from=\(day(4))&to=\(day(5))"),
            ("a page 90% of the rows back (keyset cursor)", "/timeline?before=\(deepCursor)"),
            ("event detail", "/events/\(deep.eventID.lowercasedString)"),
            ("metadata search tool=sql (1 in 5 rows)", "/timeline?meta=tool%3Dsql"),
            ("metadata search ticket=ticket4242 (1 in 10,000)", "/timeline?meta=ticket%3Dticket4242"),
            ("metadata words ticket4242", "/timeline?q=ticket4242"),
            ("metadata key exists (every row)", "/timeline?meta=ticket"),
            ("session page (\(max(1, events / 200_000)) events)", "/sessions/\(deep.sessionID.lowercasedString)"),
            ("dashboard, last hour", "/?window=hour"),
            ("dashboard, last day", "/?window=day"),
            ("dashboard, last 7 days", "/?window=week"),
            ("workflows page (counts every row)", "/workflows"),
            ("read API: first page (100 events, JSON)", "/api/v1/events"),
            ("read API: one agent's page", "/api/v1/events?agent=agent-17"),
            ("read API: a page 90% of the rows back (keyset cursor)", "/api/v1/events?cursor=\(deepCursor)"),
        ]
        rows += [
            (
                "timeline table", "\(events) events by COPY + ANALYZE",
                String(format: "%.1f s, of which building the metadata search index %.1f s", loadSeconds, indexSeconds)
            ),
            (
                "dashboard rollup: fold the whole table from empty", "\(events) events",
                String(format: "%.1f s = %.0f rows/s", foldSeconds, Double(events) / foldSeconds)
            ),
        ]
        // The first page's query alone, straight to PostgreSQL: what rendering and HTTP add to it.
        let sql = "SELECT \(AuditRow.selectColumns) FROM governance_audit_events ORDER BY created_at DESC, event_id DESC LIMIT 101"
        let direct = try (0..<loads).map { _ in
            let t = Date()
            _ = try connection.exec(sql)
            return Date().timeIntervalSince(t)
        }
        rows.append(("timeline, \(size) events: first page's SQL alone (baseline)", "\(loads) queries", Self.percentiles(direct)))
        // The dashboard's figures counted straight from the table, without the rollup.
        for (window, interval) in [("last hour", "1 hour"), ("last 7 days", "7 days")] {
            let baseline = try (0..<3).map { _ in
                let t = Date()
                _ = try connection.exec(
                    "SELECT decision, agent_id, count(*) FROM governance_audit_events WHERE created_at >= now() - interval '\(interval)' GROUP BY GROUPING SETS ((decision), (agent_id))"
                )
                return Date().timeIntervalSince(t)
            }
            rows.append(("dashboard figures by SQL over the table, \(window) (baseline)", "3 queries", Self.percentiles(baseline)))
        }
        for (name, path) in scenarios {
            var times: [Double] = []
            var status = 0
            for _ in 0..<loads {
                let t = Date()
                let answer = try await TestHTTP.request("GET", ui + path, headers: ["Authorization: Bearer \(Self.adminToken)"])
                times.append(Date().timeIntervalSince(t))
                status = answer.status
            }
            rows.append(("UI, \(size) events: \(name)", "\(loads) loads\(status == 200 ? "" : " (HTTP \(status)!)")", Self.percentiles(times)))
        }
        rows.append(try export(dsn: dsn, connection: connection, events: events))
        rows.append(try apiStream(ui: ui, collector: child.pid, connection: connection, events: events))
        return rows
    }

    /// The read API's NDJSON stream of about 1,000,000 rows (as `export` above), read by curl to
    /// /dev/null: rows a second, and the collector's peak RSS before and after (flat: the stream
    /// is read a page at a time as the client takes it).
    func apiStream(ui: String, collector: pid_t, connection: PGConnection, events: Int) throws -> (String, String, String) {
        let days = max(1, Int64(30_000_000 / max(events, 1)))
        let to = Timestamp(microseconds: Self.start + days * 86_400_000_000).pythonISOFormat
        let expected =
            Int(try connection.exec("SELECT count(*) FROM governance_audit_events WHERE created_at < $1::timestamptz", [to]).rows.first?[0] ?? "")
            ?? 0
        let before = Self.peakRSSKiB(collector)
        let t = Date()
        let query = "to=" + (to.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? to)
        let status = try ChildProcess.spawn(
            [
                "curl", "-sS", "-f", "-o", "/dev/null", "-H", "Authorization: Bearer \(Self.adminToken)", "-H", "Accept: application/x-ndjson",
                ui + "/api/v1/events?" + query,
            ], outputPath: "/dev/null"
        ).wait()
        let seconds = Date().timeIntervalSince(t)
        return (
            "read API: NDJSON stream (curl to /dev/null)", "\(expected) events\(status == 0 ? "" : " (curl exit \(status)!)")",
            String(
                format: "%.1f s = %.0f rows/s; collector peak RSS %d MiB before, %d MiB after", seconds, Double(expected) / seconds, before / 1024,
                Self.peakRSSKiB(collector) / 1024)
        )
    }

    /// A process's peak resident set (VmHWM), KiB.
    static func peakRSSKiB(_ pid: pid_t) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// `governance-collector export` of about 1,000,000 rows (the first 30th of the days for each
    /// 1M rows in the table), to /dev/null, timed, with its peak RSS from /usr/bin/time.
    func export(dsn: String, connection: PGConnection, events: Int) throws -> (String, String, String) {
        let days = max(1, Int64(30_000_000 / max(events, 1)))
        let to = Timestamp(microseconds: Self.start + days * 86_400_000_000).pythonISOFormat
        let expected =
            try connection.exec("SELECT count(*) FROM governance_audit_events WHERE created_at < $1::timestamptz", [to]).rows.first?[0] ?? "?"
        let rss = FileManager.default.temporaryDirectory.appendingPathComponent("gc-bench-export-rss").path
        let t = Date()
        let status = try ChildProcess.spawn(
            ["/usr/bin/time", "-f", "%M", "-o", rss, binary, "export", "--dsn", dsn, "--to", to, "--format", "ndjson"],
            outputPath: "/dev/null"
        ).wait()
        let seconds = Date().timeIntervalSince(t)
        let kib = (try? String(contentsOfFile: rss, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        return (
            "export NDJSON (governance-collector export, one snapshot)", "\(expected) events\(status == 0 ? "" : " (exit \(status)!)")",
            String(
                format: "%.1f s = %.0f rows/s; peak RSS %@ MiB", seconds, (Double(expected) ?? 0) / seconds,
                (Int(kib).map { String($0 / 1024) } ?? kib) as NSString)
        )
    }

    static func percentiles(_ seconds: [Double]) -> String {
        let sorted = seconds.sorted()
        func at(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)] }
        return String(format: "p50 %.1f ms, p95 %.1f ms", at(0.5) * 1000, at(0.95) * 1000)
    }
}
