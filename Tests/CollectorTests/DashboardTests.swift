import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing

/// Runs blocking libpq work on a thread of its own, so two folders can race for real.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// `count` events for the dashboard: agents a0–a3, every fifth a denial, every third an allow,
/// tools in metadata, `secondsAgo(i)` before now.
func dashboardLoad(_ count: Int, workflowOffset: Int = 0, secondsAgo: (Int) -> Int) -> String {
    let now = Timestamp.now().microseconds
    return "["
        + (0..<count).map { i in
            let kind = i % 5 == 0 ? "policy.denied" : i % 3 == 0 ? "access.granted" : "tool.call"
            let time = Timestamp(microseconds: now - Int64(secondsAgo(i)) * 1_000_000).pythonISOFormat
            let tool = ["sql", "http", "search"][i % 3]
            return """
                {"event_id":"\(UUID().lowercasedString)","event_type":"\(kind)","agent_id":"a\(i % 4)",\
                "payload":{"session_id":"\(UUID().lowercasedString)","kind":"\(kind)","created_at":"\(time)",\
                "metadata":{"tool":"\(tool)","i":\(i)},"signature_status":"unsigned"},"prev_hash":""}
                """
        }.joined(separator: ",") + "]"
}

@Suite("dashboard: figures from the rollup equal SQL over the table")
struct DashboardTests {
    /// The figures a dashboard page shows, read from its HTML.
    struct Figures: Equatable {
        var total, allow, deny, none: Int
        var agents: [String: [Int]]
        var chartTotal: Int
        var unfolded: Int

        init(_ html: String) {
            func tile(_ id: String) -> Int { Int(UIClient.first(#"<span id="tile-\#(id)" class="value[^"]*">(\d+)</span>"#, in: html) ?? "-1") ?? -1 }
            (total, allow, deny, none) = (tile("total"), tile("allow"), tile("deny"), tile("none"))
            agents = [:]
            for row in UIClient.all(#"(<tr data-agent="[^"]+">.*?</tr>)"#, in: html) {
                let name = UIClient.first(#"data-agent="([^"]+)""#, in: row) ?? ""
                agents[name] = [
                    UIClient.first(#"<td class="events">(\d+)</td>"#, in: row), UIClient.first(#"<td class="denied">(\d+)</td>"#, in: row),
                ]
                .map { Int($0 ?? "-1") ?? -1 }
            }
            chartTotal = UIClient.all(#"data-count="(\d+)""#, in: html).compactMap { Int($0) }.reduce(0, +)
            unfolded = Int(UIClient.first(#"<tr data-check="rollup">.*?<td class="state">(\d+)</td>"#, in: html) ?? "-1") ?? -1
        }

        /// The same figures computed from the audit table by SQL (`since`: the window's first bucket).
        init(sql dsn: String, since: String, workflow: String? = nil) throws {
            let connection = try PGConnection(dsn: dsn)
            let filter = "created_at >= \(since)" + (workflow.map { " AND workflow = '\($0)'" } ?? "")
            let totals = try connection.exec(
                """
                SELECT count(*), count(*) FILTER (WHERE decision = 'allow'), count(*) FILTER (WHERE decision = 'deny'), count(*) FILTER (WHERE decision IS NULL)
                FROM governance_audit_events WHERE \(filter)
                """
            ).rows[0].map { Int($0 ?? "0")! }
            (total, allow, deny, none) = (totals[0], totals[1], totals[2], totals[3])
            chartTotal = total
            agents = [:]
            for row in try connection.exec(
                "SELECT agent_id, count(*), count(*) FILTER (WHERE decision = 'deny') FROM governance_audit_events WHERE \(filter) GROUP BY 1"
            ).rows {
                agents[row[0]!] = [Int(row[1]!)!, Int(row[2]!)!]
            }
            unfolded = 0
        }

        /// Equal in everything but how many rows the rollup had still to fold.
        func sameCounts(as other: Figures) -> Bool {
            var a = self, b = other
            (a.unfolded, b.unfolded) = (0, 0)
            return a == b
        }
    }

    static func caughtUp(_ dsn: String) async throws -> Bool {
        try await scalar(
            dsn,
            """
            SELECT count(*) FROM governance_audit_events, governance_rollup_state s
            WHERE (governance_txid, chain_seq) > (s.cursor_txid, s.cursor_chain_seq)
            """) == "0"
    }

    @Test(
        "tiles, chart and top agents equal SQL counts whether or not the rollup has folded the rows yet; hour, day and week windows; a workflow filter"
    )
    func figuresMatchSQL() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            // 120 events in the last 50 minutes, 40 from 5 to 20 hours ago, 30 from 2 to 5 days ago.
            #expect(try await post(collector.batchURL, dashboardLoad(120) { $0 * 25 }).status == 200)
            #expect(try await post(collector.batchURL, dashboardLoad(40) { 5 * 3600 + $0 * 1350 }).status == 200)
            #expect(try await post(collector.batchURL, dashboardLoad(30) { 2 * 86_400 + $0 * 8640 }, token: otherToken).status == 200)
            let ui = UIClient(base: try await collector.timelineURL())
            try await ui.signIn()
            let windows = [
                ("hour", "date_trunc('minute', now() - interval '1 hour', 'UTC')"),
                ("day", "date_trunc('hour', now() - interval '1 day', 'UTC')"),
                ("week", "date_trunc('day', now() - interval '7 days', 'UTC')"),
            ]
            // Right away (the rollup may not have folded them: its tail is counted from the table)…
            let earlyPage = try await ui.get("/?window=hour")
            #expect(earlyPage.status == 200, "\(earlyPage.text.suffix(800))")
            let early = Figures(earlyPage.text)
            let expectedHour = try Figures(sql: dsn, since: windows[0].1)
            #expect(early.sameCounts(as: expectedHour), "\(early) vs \(expectedHour)")
            // The 120 and this test's own sign-in (an access.signin event by `admin`).
            #expect(expectedHour.total == 121 && expectedHour.agents.count == 5)
            // …and once it has.
            #expect(try await eventually { try await Self.caughtUp(dsn) })
            for (window, since) in windows {
                let page = try await ui.get("/?window=\(window)")
                #expect(page.status == 200)
                let shown = Figures(page.text), expected = try Figures(sql: dsn, since: since)
                #expect(shown.sameCounts(as: expected) && shown.unfolded == 0, "\(window): \(shown) vs \(expected)")
            }
            #expect(try Figures(sql: dsn, since: windows[1].1).total == 161 && (try Figures(sql: dsn, since: windows[2].1)).total == 191)
            let other = Figures(try await ui.get("/?window=week&workflow=wf-other").text)
            #expect(other.sameCounts(as: try Figures(sql: dsn, since: windows[2].1, workflow: "wf-other")) && other.total == 30)
            let tools = try await ui.get("/?window=week")
            #expect(tools.text.contains(#"<tr data-tool="sql">"#) && tools.text.contains(#"href="/timeline?meta=tool%3Dsql""#))
            #expect(try await ui.get("/?window=year").status == 400)
        }
    }

    @Test("the rollup counts every row exactly once: two folders racing while a collector writes and rows arrive straight from an SDK-style INSERT")
    func rollupExactlyOnce() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: chainedYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let folding = SharedFlag(true)
            let folders = (0..<2).map { _ in
                Task {
                    try await onThread {
                        let connection = try PGConnection(dsn: dsn)
                        var folded = 0
                        while folding.value { folded += try EventRollup.step(connection, limit: 37) ?? 0 }
                        return folded
                    }
                }
            }
            // A transaction open in another database of the cluster holds back the horizon the
            // rollup folds to (pg_snapshot_xmin is the cluster's): rows after it wait for it.
            let elsewhere = try PGConnection(dsn: try await newDatabase())
            for round in 0..<10 {
                if round == 5 { try elsewhere.exec("BEGIN"); try elsewhere.exec("SELECT pg_current_xact_id()") }
                let answer = try await post(collector.batchURL, dashboardLoad(50) { $0 * 200 + round })
                #expect(answer.status == 200 && answer.text.contains(#""stored":50"#), "\(answer.text.prefix(300))")
                try PGConnection(dsn: dsn).exec(
                    """
                    INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, metadata_json, hmac_value, created_at)
                    SELECT gen_random_uuid(), gen_random_uuid(), 'sdk-agent', 'tool.call', '{"tool":"sdk"}', 'ab', now() - g * interval '1 minute'
                    FROM generate_series(1, 20) g
                    """)
            }
            folding.value = false
            let folded = try await folders[0].value + folders[1].value
            let connection = try PGConnection(dsn: dsn)
            while try EventRollup.step(connection) ?? 1 > 0 {}
            #expect(try await !Self.caughtUp(dsn), "rows after the open transaction wait for it")
            try elsewhere.exec("COMMIT")
            #expect(
                try await eventually {
                    _ = try EventRollup.step(connection)
                    return try await Self.caughtUp(dsn)
                })
            let stored = try await scalar(dsn, "SELECT count(*) FROM governance_audit_events")
            #expect(stored == "700", "\(stored ?? "none") rows")
            #expect(folded > 0, "the racing folders folded rows while they were written")
            for width in EventRollup.widths {
                let rollup =
                    "SELECT bucket, workflow, agent_id, kind, decision, tool, events FROM governance_event_rollup WHERE width = \(width.seconds)"
                let direct =
                    "SELECT \(EventRollup.dimensions(unit: width.unit)), count(*)::int8 FROM governance_audit_events GROUP BY 1, 2, 3, 4, 5, 6"
                #expect(
                    try await scalar(dsn, "SELECT count(*) FROM ((\(rollup)) EXCEPT ALL (\(direct))) x") == "0",
                    "\(width.unit): rollup rows the table does not have")
                #expect(
                    try await scalar(dsn, "SELECT count(*) FROM ((\(direct)) EXCEPT ALL (\(rollup))) x") == "0",
                    "\(width.unit): table counts missing from the rollup")
            }
            #expect(try await scalar(dsn, "SELECT sum(events) FROM governance_event_rollup WHERE width = 60 AND tool = 'sdk'") == "200")
        }
    }

    /// Inserts one SDK-style row on `connection` (in whatever transaction it has open); returns its event id.
    static func insertRow(_ connection: PGConnection, agent: String) throws -> String {
        let id = UUID().lowercasedString
        try connection.exec(
            """
            INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, metadata_json, hmac_value, created_at)
            VALUES ($1::uuid, gen_random_uuid(), $2, 'tool.call', '{}', 'ab', now())
            """, [id, agent])
        return id
    }

    @Test(
        "the live stream skips what the page's figures already counted: a row committed just before the page is counted once, a row still running at it arrives by the stream"
    )
    func liveStreamCountsEachRowOnce() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: timelineYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let base = try await collector.timelineURL()
            let ui = UIClient(base: base)
            try await ui.signIn()
            // The feed follows the table once a row it published moves the page's stream position
            // (a row committed before the feed's first read is in the pages, never in the stream).
            #expect(
                try await eventually {
                    _ = try Self.insertRow(try PGConnection(dsn: dsn), agent: "warm-up")
                    return !(try await ui.get("/").text.contains(#"data-stream="/stream?after=0&"#))
                })
            // A transaction left open holds the live feed back (it reads only below every running
            // transaction), so the row committed after it is in the page's figures but not yet
            // published by the feed: the feed publishes it after the page's position.
            let running = try PGConnection(dsn: dsn)
            try running.exec("BEGIN")
            let late = try Self.insertRow(running, agent: "late")
            let early = try Self.insertRow(try PGConnection(dsn: dsn), agent: "early")
            let page = try await ui.get("/")
            #expect(Figures(page.text).agents["early"]?.first == 1 && Figures(page.text).agents["late"] == nil)
            let stream = try #require(UIClient.first(#"data-stream="([^"]+)""#, in: page.text)?.replacingOccurrences(of: "&amp;", with: "&"))
            #expect(stream.contains("seen="))
            try running.exec("COMMIT")
            let after = try Self.insertRow(try PGConnection(dsn: dsn), agent: "after")

            // The stream, read until the row committed after everything else arrives.
            let connection = try RawConnection(port: try #require(base.split(separator: ":").last.flatMap { Int($0) }))
            connection.send("GET \(stream) HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: gc_session=\(ui.cookie ?? "")\r\n\r\n")
            let received = await connection.readUntil(after)
            let ids = UIClient.all(#""id":"([0-9a-f-]{36})""#, in: received)
            #expect(ids == [late, after], "early=\(early) must not be streamed again: \(received.suffix(1200))")
        }
    }
}

/// A flag two threads share.
final class SharedFlag<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
