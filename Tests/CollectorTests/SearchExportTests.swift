import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing

/// A mixed load for searching: 4 sessions, 3 agents, two models, metadata shaped four ways
/// (nested keys, numbers, booleans, words, a key with a quote in it), one second apart.
func searchLoad(sessions: [UUID]) -> [String] {
    (0..<160).map { i in
        let metadata: String
        switch i % 4 {
        case 0: metadata = #"{"tool":"sql","rows":\#(i % 5),"note":"\#(i % 8 == 0 ? "zebra" : "horse") crossing \#(i)"}"#
        case 1: metadata = #"{"tool":"http","request":{"model":"gpt-4o","tokens":\#(i)}}"#
        case 2: metadata = #"{"tool":"sqlite","flag":true}"#
        default: metadata = i == 3 ? #"{"a\"b":1,"other":"sql"}"# : #"{"other":"sql"}"#
        }
        let kind = i % 5 == 0 ? "policy.denied" : "tool.call"
        let time = Timestamp(microseconds: 1_795_000_000_000_000 + Int64(i) * 1_000_000).pythonISOFormat
        let agent = i == 7 ? "=HYPERLINK(\\\"x\\\")" : "agent-\(i % 3)"
        return """
            {"event_id":"\(UUID().lowercasedString)","event_type":"\(kind)","agent_id":"\(agent)",\
            "payload":{"session_id":"\(sessions[i % 4].lowercasedString)","kind":"\(kind)","created_at":"\(time)","model":"m-\(i % 2)",\
            "metadata":\(metadata),"signature_status":"unsigned"},"prev_hash":"","sdk_version":"0.7.3"}
            """
    }
}

func ids(_ dsn: String, where condition: String) throws -> Set<String> {
    Set(try PGConnection(dsn: dsn).exec("SELECT event_id::text FROM governance_audit_events WHERE \(condition)").rows.compactMap { $0[0] })
}

@Suite("metadata search, model and session filters, export")
struct SearchExportTests {
    /// Every page of the timeline for `query`, following the older-events links.
    static func walk(_ ui: UIClient, _ query: String) async throws -> [String] {
        var found: [String] = [], path: String? = "/timeline?" + query, pages = 0
        while let next = path, pages < 50 {
            let page = try await ui.get(next.replacingOccurrences(of: "&amp;", with: "&"))
            #expect(page.status == 200, "\(query): \(page.status)")
            #expect(!page.text.contains(#"class="problem""#), "\(query): \(page.text)")
            found += UIClient.all(#"<tr class="event-row" data-event-id="([0-9a-f-]+)""#, in: page.text)
            path = UIClient.first(#"<a id="older" href="([^"]+)""#, in: page.text)
            pages += 1
        }
        return found
    }

    static func encode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed)!
    }

    @Test(
        "each metadata filter (key=value at a nested path, a number, a boolean, key exists, words, a phrase, exclusion), model and session returns exactly the database's answer"
    )
    func filtersMatchSQL() async throws {
        let dsn = try await newDatabase()
        let sessions = (0..<4).map { _ in UUID() }
        try await RunningCollector.with(
            yaml: timelineYAML(dsn: dsn, ui: "  endpoint: 127.0.0.1:0\n  admin_password: \"\(uiPassword)\"\n  page_size: 25")
        ) { collector in
            try await collector.waitUntilReady()
            #expect(try await post(collector.batchURL, "[" + searchLoad(sessions: sessions).joined(separator: ",") + "]").status == 200)
            let ui = UIClient(base: try await collector.timelineURL())
            try await ui.signIn()
            let cases: [(query: String, sql: String)] = [
                ("meta=" + Self.encode("tool=sql"), "metadata_json->>'tool' = 'sql'"),
                ("meta=" + Self.encode("request.model=gpt-4o"), "metadata_json #>> '{request,model}' = 'gpt-4o'"),
                ("meta=" + Self.encode("rows=3"), "metadata_json->'rows' = '3'::jsonb"),
                ("meta=" + Self.encode("flag=true"), "metadata_json->'flag' = 'true'::jsonb"),
                ("meta=flag", "metadata_json ? 'flag'"),
                ("meta=" + Self.encode("a\"b"), "metadata_json ? 'a\"b'"),
                ("meta=nothing", "false"),
                ("q=zebra", "metadata_json->>'note' LIKE 'zebra %'"),
                ("q=" + Self.encode("\"horse crossing\""), "metadata_json->>'note' LIKE 'horse crossing %'"),
                ("q=" + Self.encode("crossing -zebra"), "metadata_json->>'note' LIKE 'horse %'"),
                ("model=m-1", "model = 'm-1'"),
                (
                    "session=\(sessions[2].lowercasedString)&meta=" + Self.encode("tool=sqlite"),
                    "session_id = '\(sessions[2].lowercasedString)' AND metadata_json->>'tool' = 'sqlite'"
                ),
                ("decision=deny&q=crossing", "decision = 'deny' AND metadata_json ? 'note'"),
            ]
            for (query, sql) in cases {
                let expected = try ids(dsn, where: sql)
                let shown = try await Self.walk(ui, query)
                #expect(Set(shown) == expected && shown.count == expected.count, "\(query): \(shown.count) shown, \(expected.count) in SQL")
            }
            #expect(try ids(dsn, where: "metadata_json->>'tool' = 'sql'").count == 40, "the load is as designed")
            let page = try await ui.get("/timeline?meta=" + Self.encode("tool=sql"))
            #expect(page.text.contains("not live (a metadata search)"))
            #expect(page.text.contains(#"href="/export?format=csv&amp;meta=tool%3Dsql""#), "the export links carry the filter")
            let bad = try await ui.get("/timeline?meta=.x&session=nope")
            #expect(bad.text.contains("meta must be key=value or key") && bad.text.contains("session is not a UUID"))
        }
    }

    @Test(
        "export: the CLI and the UI write the same NDJSON, which another collector's batch endpoint takes unchanged; CSV opens as the same rows, formulas kept as text"
    )
    func exportRoundTrip() async throws {
        let source = try await newDatabase(), target = try await newDatabase()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gc-export-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await RunningCollector.with(yaml: timelineYAML(dsn: source)) { collector in
            try await collector.waitUntilReady()
            #expect(
                try await post(collector.batchURL, "[" + searchLoad(sessions: (0..<4).map { _ in UUID() }).joined(separator: ",") + "]").status == 200
            )
            let ndjson = directory.appendingPathComponent("deny.ndjson").path
            let cli = try await runCommand([
                BinaryTests.binary, "export", "--dsn", source, "--format", "ndjson", "--decision", "deny",
                "--meta", "tool=sql", "--output", ndjson,
            ])
            #expect(cli.status == 0, "\(cli.output)")
            let exported = try String(contentsOfFile: ndjson, encoding: .utf8)
            let expected = try ids(source, where: "decision = 'deny' AND metadata_json->>'tool' = 'sql'")
            #expect(expected.count == 8 && cli.output.contains("export: 8 events"), "\(cli.output)")
            #expect(exported.split(separator: "\n").count == 8)

            let ui = UIClient(base: try await collector.timelineURL())
            try await ui.signIn()
            let download = try await ui.get("/export?format=ndjson&decision=deny&meta=" + Self.encode("tool=sql"))
            #expect(download.status == 200 && download.headers["content-type"] == "application/x-ndjson")
            #expect(download.headers["content-disposition"]?.hasPrefix("attachment; filename=\"governance-events-") == true)
            #expect(download.text == exported, "the UI's download is the CLI's export")
            #expect(try await ui.get("/export?format=xml").status == 400)
            #expect(try await ui.get("/export?decision=maybe").status == 400)

            // Re-ingested unchanged into another collector: the rows are the same rows.
            try await RunningCollector.with(yaml: collectorYAML(dsn: target)) { other in
                try await other.waitUntilReady()
                let answer = try await post(other.batchURL, exported, contentType: "application/x-ndjson")
                #expect(answer.status == 200 && answer.text.contains(#""stored":8"#), "\(answer.text)")
            }
            let columns =
                "event_id, session_id, agent_id, parent_event_id, kind, model, input_hash, output_hash, metadata_json::text, prev_hash, hmac_value, created_at, decision, signature_status, sdk_version"
            let rows = { (dsn: String, filter: String) in
                try PGConnection(dsn: dsn).exec("SELECT \(columns) FROM governance_audit_events \(filter) ORDER BY event_id").rows
            }
            let originals = try rows(source, "WHERE decision = 'deny' AND metadata_json->>'tool' = 'sql'")
            let copies = try rows(target, "")
            #expect(originals.count == 8 && copies == originals)

            // CSV, read back by Python's csv module: every row, metadata intact, a formula-looking agent id kept as text.
            let csv = directory.appendingPathComponent("all.csv").path
            // The posted rows' workflow: the table also holds this test's access events (its sign-in, its export).
            #expect(
                try await runCommand([BinaryTests.binary, "export", "--dsn", source, "--workflow", "wf-test", "--format", "csv", "--output", csv])
                    .status
                    == 0)
            let check = try await runCommand([
                "python3",
                URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
                    "interop/export_csv_summary.py"
                ).path, csv,
            ])
            #expect(check.output.trimmingCharacters(in: .whitespacesAndNewlines) == "160 1 gpt-4o True 160", "\(check.output)")
            let trail = try PGConnection(dsn: source).exec(
                "SELECT kind, agent_id, metadata_json->>'filter', metadata_json->>'rows' FROM governance_audit_events WHERE kind = 'access.exported'")
            #expect(trail.rows == [["access.exported", "admin", "decision=deny&meta=tool%3Dsql", "8"]], "the UI's export is on the record")
            let again = try await runCommand([BinaryTests.binary, "export", "--dsn", source, "--output", csv])
            #expect(again.status == 2 && again.output.contains("cannot create"), "an existing file is never overwritten")
        }
    }
}
