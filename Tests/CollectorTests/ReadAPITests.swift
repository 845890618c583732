import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Receivers
import Testing

/// The read API (`/api/v1`) against a running collector and its PostgreSQL: the document it
/// serves is valid OpenAPI and the server keeps to it under schemathesis (PyPI); cursors walk a
/// growing table exactly once; a key reads only its person's workflows, by every path of the document.
@Suite("read API (/api/v1)")
struct ReadAPITests {
    /// A new API key of `client`'s person.
    static func key(_ client: UIClient, scopes: String) async throws -> String {
        let made = try await client.post("/keys", [("name", "api"), ("scopes", scopes), ("days", "1")], csrfFrom: try await client.get("/keys"))
        return try #require(UIClient.first(#"<code id="new-key">(gck_[A-Za-z0-9_-]{43})</code>"#, in: made.text))
    }

    static func get(_ url: String, key: String?, accept: String = "application/json") async throws -> HTTPResult {
        try await TestHTTP.request("GET", url, headers: ["Accept: \(accept)"] + (key.map { ["Authorization: Bearer \($0)"] } ?? []))
    }

    /// One wire event created at `micros` (no client HMAC or seq, which would tie it to its text and order).
    static func event(_ id: UUID, micros: Int64, agent: String = "agent-1", session: UUID = UUID()) -> String {
        """
        {"event_id":"\(id.lowercasedString)","event_type":"tool.call","agent_id":"\(agent)",\
        "payload":{"session_id":"\(session.lowercasedString)","kind":"tool.call","created_at":"\(Timestamp(microseconds: micros).pythonISOFormat)",\
        "metadata":{"n":1},"signature_status":"unsigned"},"prev_hash":"","sdk_version":"0.7.3"}
        """
    }

    /// `count` events created `step` microseconds apart from `start`.
    static func events(_ count: Int, start: Int64, step: Int64, agent: String = "agent-1") -> [(id: UUID, line: String)] {
        (0..<count).map { i in
            let id = UUID()
            return (id, event(id, micros: start + Int64(i) * step, agent: agent))
        }
    }

    static func items(_ value: JSONValue?) -> [JSONValue] {
        guard case .array(let items) = value else { return [] }
        return items
    }

    static func ingest(_ url: String, _ events: [(id: UUID, line: String)], token: String = testToken) async throws {
        for batch in stride(from: 0, to: events.count, by: 1000) {
            let body = "[" + events[batch..<min(batch + 1000, events.count)].map(\.line).joined(separator: ",") + "]"
            let answer = try await post(url, body, token: token)
            // Every event accepted, not only the request.
            let accepted = try JSONParser.parse(answer.body)["ok"] == .bool(true)
            #expect(answer.status == 200 && accepted, "\(answer.text.prefix(300))")
        }
    }

    /// The collector binary with the UI, as a process of its own, ready (schema migrated, UI
    /// answering), with the bootstrap admin signed in: for the tests that drive many reads,
    /// whose encoding would otherwise hold this test process's threads, which the other tests'
    /// collectors share. Stopped when `body` returns.
    static func withSpawnedCollector(
        dsn: String, _ body: (_ base: String, _ batchURL: String, _ admin: UIClient) async throws -> Void
    ) async throws {
        let (ingestPort, uiPort) = (try LocalPostgres.freePort(), try LocalPostgres.freePort())
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("gc-api-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: config) }
        // These tests drive the handlers as fast as they answer: no rate holds them back.
        try timelineYAML(
            dsn: dsn, ui: "  endpoint: 127.0.0.1:\(uiPort)\n  admin_password: \"\(uiPassword)\"\n  api_rate: 100000\n  api_burst: 100000"
        )
        .replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(ingestPort)")
        .write(toFile: config, atomically: true, encoding: .utf8)
        let process = try spawnCollector(config: config)
        defer { _ = process.stop() }
        let base = "http://127.0.0.1:\(uiPort)"
        let ready = try await eventually(120) {
            guard (try? await scalar(dsn, "SELECT count(*) FROM governance_collector_schema")) == "1" else { return false }
            return (try? await TestHTTP.request("GET", base + "/login"))?.status == 200
        }
        #expect(ready)
        let admin = UIClient(base: base)
        try await admin.signIn()
        try await body(base, "http://127.0.0.1:\(ingestPort)\(IngestHTTPReceiver.batchPath)", admin)
    }

    @Test("the served OpenAPI document is valid, and under schemathesis the server answers no 5xx, no undocumented status and no body off its schema")
    func conformance() async throws {
        let dsn = try await newDatabase()
        try await Self.withSpawnedCollector(dsn: dsn) { base, batchURL, admin in
            try await Self.ingest(batchURL, Self.events(30, start: 1_790_000_000_000_000, step: 1_000_000))
            try await Self.ingest(batchURL, Self.events(5, start: 1_790_000_000_000_000, step: 0, agent: "agent-b"), token: otherToken)
            // Three denials in the last day, for the example script.
            let denied = (0..<3).map { i in
                let id = UUID()
                let line = Self.event(id, micros: Timestamp.now().microseconds - 3_600_000_000 * Int64(i + 1), agent: "agent-denied")
                return (id: id, line: line.replacingOccurrences(of: "tool.call", with: "policy.denied"))
            }
            try await Self.ingest(batchURL, denied)
            let key = try await Self.key(admin, scopes: "read")
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gc-api-\(UUID())").path
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: scratch) }

            let document = try await TestHTTP.request("GET", base + "/api/v1/openapi.yaml")
            #expect(document.status == 200 && document.headers["content-type"]?.hasPrefix("application/yaml") == true)
            try Data(document.body).write(to: URL(fileURLWithPath: scratch + "/openapi.yaml"))
            let venv = URL(fileURLWithPath: try sdkPython()).deletingLastPathComponent().path
            let valid = try await ChildProcess.spawn(
                [venv + "/openapi-spec-validator", scratch + "/openapi.yaml"], outputPath: scratch + "/validator.log"
            )
            .exitStatus()
            #expect(valid == 0, "\((try? String(contentsOfFile: scratch + "/validator.log", encoding: .utf8)) ?? "")")

            // Property-based: every operation with generated valid and invalid input. Valid input
            // may still be refused with a documented 400 (a time or cursor the schema's strings
            // allow but that means nothing), so `positive_data_acceptance` is left out.
            let log = scratch + "/schemathesis.log"
            let status = try await ChildProcess.spawn(
                [
                    // In the scratch folder, where it keeps its cache of crashes.
                    "env", "-C", scratch, venv + "/schemathesis", "run", base + "/api/v1/openapi.yaml", "--url", base + "/api/v1", "-H",
                    "Authorization: Bearer \(key)",
                    "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--seed", "20261207", "--max-examples", "40",
                    "--generation-database", "none", "--request-timeout", "60", "--no-color",
                ], outputPath: log, environment: ["SCHEMATHESIS_HOOKS": "", "NO_PROXY": "*"]
            ).exitStatus()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            Transcript.shared?.append(output)
            #expect(status == 0, "\(output.suffix(6000))")

            // The documented example pulls the week's denials into its table.
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
            let example = scratch + "/example.log"
            let ran = try await ChildProcess.spawn(
                [try sdkPython(), root + "/examples/denials_last_week.py", base], outputPath: example, environment: ["GOVERNANCE_API_KEY": key]
            ).exitStatus()
            let table = (try? String(contentsOfFile: example, encoding: .utf8)) ?? ""
            #expect(ran == 0 && table.hasPrefix("3 denials in the last 7 days\n") && table.contains(" 3  agent-denied\n"), "\(table)")
            #expect(denied.allSatisfy { table.contains($0.id.lowercasedString) })
        }
    }

    /// Events in the table when the walk begins: 20,000 in the suite, which runs beside every
    /// other test on two cores; `GOVERNANCE_PAGING_EVENTS=100000` walks the issue's 100,000.
    static let pagingEvents = ProcessInfo.processInfo.environment["GOVERNANCE_PAGING_EVENTS"].flatMap { Int($0) } ?? 20_000

    @Test("paging: walking the table with cursors while a tenth more arrive returns every event that was there exactly once, newest first")
    func paging() async throws {
        let dsn = try await newDatabase()
        try await Self.withSpawnedCollector(dsn: dsn) { base, batchURL, admin in
            // Three events share each millisecond, so the cursor's tie-break on event_id is walked too.
            let start: Int64 = 1_790_000_000_000_000
            // Written in one statement (the walk is under test, not ingest, and that many events
            // through the chain would load this machine for a minute): the rows an SDK writing
            // its own table would leave.
            let before = try PGConnection(dsn: dsn).exec(
                """
                INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, hmac_value, created_at, workflow)
                SELECT gen_random_uuid(), gen_random_uuid(), 'agent-1', 'tool.call', 'written-directly',
                       to_timestamp($1::float8) + (i / 3) * interval '1 millisecond', 'wf-test'
                FROM generate_series(1, $2::int) AS i
                RETURNING event_id::text
                """, [String(Double(start) / 1e6), String(Self.pagingEvents)]
            ).rows.compactMap { $0[0].flatMap(UUID.init(text:)) }
            #expect(before.count == Self.pagingEvents)
            let key = try await Self.key(admin, scopes: "read")
            // Arriving during the walk, spread over the whole range: in front of it and behind it.
            let during = Self.events(Self.pagingEvents / 10, start: start - 500, step: 3_333)
            let arriving = Task { try await Self.ingest(batchURL, during) }

            var seen: [UUID] = [], times: [Int64] = [], cursor: String?
            repeat {
                let url = base + "/api/v1/events?limit=1000" + (cursor.map { "&cursor=\($0)" } ?? "")
                let answer = try await Self.get(url, key: key)
                #expect(answer.status == 200, "\(answer.text.prefix(500))")
                let page = try JSONParser.parse(answer.body)
                for event in page["events"]?.arrayValue ?? [] {
                    seen.append(try #require(event["event_id"]?.stringValue.flatMap(UUID.init(text:))))
                    times.append(try #require(event["payload"]?["created_at"]?.stringValue.flatMap(Timestamp.init(iso8601:))).microseconds)
                }
                cursor = page["next_cursor"]?.stringValue
            } while cursor != nil
            try await arriving.value

            let counts = Dictionary(seen.map { ($0, 1) }, uniquingKeysWith: +)
            let missing = before.filter { counts[$0] != 1 }
            #expect(missing.count == 0, "\(missing.count) events that were there were skipped or repeated, of \(seen.count) seen")
            #expect(counts.values.allSatisfy { $0 == 1 })
            // Newest first: (created_at, event_id) falls strictly along the walk.
            let keys: [(micros: Int64, id: String)] = zip(times, seen).map { ($0, $1.lowercasedString) }
            let ordered = zip(keys, keys.dropFirst()).allSatisfy { (newer: (micros: Int64, id: String), older: (micros: Int64, id: String)) in
                newer.micros > older.micros || (newer.micros == older.micros && newer.id > older.id)
            }
            #expect(ordered)
            #expect(seen.count >= before.count && seen.count <= before.count + during.count)
        }
    }

    @Test(
        "scope: a viewer's key reads their workflow and no row of another, by every path of the document and as NDJSON; a key without the read scope, a junk key or none reads nothing"
    )
    func scope() async throws {
        let dsn = try await newDatabase()
        try await PeopleTests.withAdmin(dsn: dsn) { collector, base, admin in
            let sessionB = UUID()
            let eventsB = (0..<3).map { _ in UUID() }
            let batch = eventsB.map { wireEvent(id: $0, session: sessionB, agent: "agent-of-b", metadata: #"{"note":"secret-b"}"#) }
            #expect(try await post(collector.batchURL, "[" + batch.joined(separator: ",") + "]", token: otherToken).status == 200)
            let eventA = UUID(), sessionA = UUID(), sharedA = UUID()
            #expect(try await post(collector.eventsURL, wireEvent(id: eventA, session: sessionA, agent: "agent-of-a")).status == 201)
            // A session with an event of each workflow, written into the table as an SDK writing
            // its own table could (ingest refuses a session that spans workflows): her event's
            // place counts only the rows she may read.
            let sharedSession = UUID()
            for (id, workflow) in [(UUID(), "wf-other"), (sharedA, "wf-test")] {
                try PGConnection(dsn: dsn).exec(
                    """
                    INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, hmac_value, created_at, workflow)
                    VALUES ($1::uuid, $2::uuid, 'agent-of-a', 'tool.call', 'not-chained', now(), $3)
                    """, [id.lowercasedString, sharedSession.lowercasedString, workflow])
            }
            // Numbers JSON (and jsonb) allow that no 64-bit integer or double holds, as a row
            // written straight into the table may carry.
            let odd = UUID()
            try PGConnection(dsn: dsn).exec(
                """
                INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, hmac_value, created_at, workflow, metadata_json)
                VALUES ($1::uuid, gen_random_uuid(), 'agent-of-a', 'tool.call', 'not-chained', now(), 'wf-test',
                        '{"big": 1e400, "long": 123456789012345678901234567890}'::jsonb)
                """, [odd.lowercasedString])
            #expect(
                try await PeopleTests.save(admin, name: "alice", role: "viewer", workflows: "wf-test", password: PeopleTests.alicePassword).status
                    == 303)
            let alice = UIClient(base: base)
            try await alice.signIn(name: "alice", password: PeopleTests.alicePassword)
            let key = try await Self.key(alice, scopes: "read")

            // She reads A, so the checks below cannot pass by reading nothing.
            let api = base + "/api/v1"
            let readA = try await Self.get(api + "/events/\(eventA.lowercasedString)", key: key)
            #expect(readA.text.contains("agent-of-a"), "\(readA.status) \(readA.text)")
            #expect(try await Self.get(api + "/sessions/\(sessionA.lowercasedString)", key: key).text.contains("agent-of-a"))
            #expect(try await Self.get(api + "/events", key: key, accept: "application/x-ndjson").text.contains("agent-of-a"))

            let shared = try JSONParser.parse(try await Self.get(api + "/events/\(sharedA.lowercasedString)", key: key).body)
            #expect(shared["session_length"] == .number("1") && shared["position_in_session"] == .number("1"))
            let oddAnswer = try await Self.get(api + "/events/\(odd.lowercasedString)", key: key)
            let oddEvent = try? JSONParser.parse(oddAnswer.body)["event"]
            #expect(
                oddAnswer.status == 200 && oddEvent?["payload"]?["metadata"]?["big"]?.stringValue?.hasPrefix("1000000000") == true,
                "\(oddAnswer.text.replacingOccurrences(of: "\n", with: " ").prefix(400))")

            // Every path of the document, with B's ids, names and words.
            let document = try await TestHTTP.request("GET", api + "/openapi.yaml").text
            let paths = document.split(separator: "\n").filter { $0.hasPrefix("  /") && $0.hasSuffix(":") }.map { String($0.dropFirst(2).dropLast()) }
            #expect(
                Set(paths) == [
                    "/events", "/events/{event_id}", "/events/{event_id}/proof", "/sessions/{session_id}", "/sessions/{session_id}/verification",
                    "/checkpoints/latest", "/checkpoints/{tree_size}", "/proofs/consistency", "/workflows",
                ], "a path without a check here")
            let b = eventsB.map(\.lowercasedString)
            var urls = paths.flatMap { path -> [String] in
                switch path {
                case "/events/{event_id}": b.map { api + "/events/" + $0 }
                case "/events/{event_id}/proof": b.map { api + "/events/" + $0 + "/proof" }
                case "/sessions/{session_id}": [api + "/sessions/" + sessionB.lowercasedString]
                case "/sessions/{session_id}/verification": [api + "/sessions/" + sessionB.lowercasedString + "/verification"]
                case "/checkpoints/{tree_size}": [api + "/checkpoints/1"]
                case "/proofs/consistency": [api + "/proofs/consistency?old=1&new=1"]
                case "/events":
                    ["", "?workflow=wf-other", "?agent=agent-of-b", "?q=secret-b", "?session=\(sessionB.lowercasedString)", "?meta=note%3Dsecret-b"]
                        .map { api + "/events" + $0 }
                default: [api + path]
                }
            }
            urls.append(api + "/events?workflow=wf-other")
            let marks = ["agent-of-b", "secret-b", sessionB.lowercasedString] + b
            for url in urls {
                for accept in ["application/json", "application/x-ndjson"] {
                    let answer = try await Self.get(url, key: key, accept: accept)
                    let leaked = marks.filter { !url.contains($0) && answer.text.contains($0) }
                    #expect(answer.status < 500 && leaked.isEmpty, "\(url) (\(accept)) answered \(answer.status) showing \(leaked)")
                }
            }
            for id in b {
                let answer = try await Self.get(api + "/events/" + id, key: key)
                #expect(answer.status == 404, "\(answer.status) \(answer.text)")
            }

            // Without the read scope, with a junk key, without a key: problem details, no rows.
            let exportOnly = try await Self.key(alice, scopes: "export")
            for (presented, status) in [(exportOnly, 403), ("gck_" + String(repeating: "x", count: 43), 401), (nil, 401)] as [(String?, Int)] {
                let answer = try await Self.get(api + "/events", key: presented)
                #expect(answer.status == status && answer.headers["content-type"] == "application/problem+json", "\(answer.status) \(answer.text)")
                #expect(!answer.text.contains("agent-of-a"))
            }
            let bad = try await Self.get(api + "/events?limit=5000", key: key)
            let problem = try JSONParser.parse(bad.body)
            #expect(bad.status == 400 && problem["parameter"]?.stringValue == "limit", "\(bad.text)")
            // The router's own answers under /api/v1 are problem details too.
            let unknown = try await Self.get(api + "/nowhere", key: key)
            #expect(unknown.status == 404 && unknown.headers["content-type"] == "application/problem+json")
            let posted = try await TestHTTP.request("POST", api + "/events", headers: ["Authorization: Bearer \(key)"], body: [])
            #expect(posted.status == 405 && posted.headers["allow"] == "GET" && posted.headers["content-type"] == "application/problem+json")

            // Each read is an access event of hers, by key.
            let reads = try await scalar(
                dsn,
                "SELECT count(*) FROM governance_audit_events WHERE agent_id = 'alice' AND metadata_json->>'via' = 'api' AND metadata_json->>'method' = 'api_key'"
            )
            #expect(Int(reads ?? "0") ?? 0 >= urls.count)
            // An NDJSON read is an export, recorded when it ends, with its rows: one for each
            // stream of events asked for (an event or a session as NDJSON is refused, 406).
            let streams = urls.filter { $0.contains("/events") && !$0.contains("/events/") }.count + 1
            let exported = "SELECT count(*) FROM governance_audit_events WHERE kind = 'access.exported' AND agent_id = 'alice'"
            _ = try await eventually { try await scalar(dsn, exported) == String(streams) }
            #expect(try await scalar(dsn, exported) == String(streams))
            let streamed = try await scalar(
                dsn,
                exported + " AND metadata_json->>'format' = 'ndjson' AND metadata_json->>'completed' = 'true' AND (metadata_json->>'rows')::int >= 1")
            #expect(Int(streamed ?? "0") ?? 0 >= 1)
        }
    }

    @Test(
        "proofs: checkpoints and inclusion and consistency proofs from the API verify in an independent Python verifier over a tree with stored nodes; a session verifies event by event, naming a rewritten row and those newer than the checkpoint"
    )
    func proofs() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-api-proofs-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let signingKey = folder + "/checkpoint.key"
        let keygen = try await runCommand([BinaryTests.binary, "checkpoint", "keygen", "--name", CheckpointTests.origin, "--out", signingKey])
        #expect(keygen.status == 0, "\(keygen.output)")
        let vkey = try String(contentsOfFile: signingKey + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let dsn = try await newDatabase()
        let ui =
            "  endpoint: 127.0.0.1:0\n  admin_password: \"\(uiPassword)\"\ncheckpoints:\n  signing_key_file: \(signingKey)\n  max_events: 100\n  interval: 3600"
        try await PeopleTests.withAdmin(dsn: dsn, ui: ui) { collector, base, admin in
            let api = base + "/api/v1"
            let key = try await Self.key(admin, scopes: "read")
            let session = UUID()
            // 300 events: checkpoints at 100, 200 and 300, and a stored node of level 8 (256 leaves).
            let signed = (0..<300).map { _ in UUID() }
            try await Self.ingest(collector.batchURL, signed.map { ($0, wireEvent(id: $0, session: session)) })
            let nodes = "SELECT count(*) FROM governance_merkle_nodes WHERE level = 8"
            // (The signer creates its tables once it starts.)
            #expect(
                try await eventually {
                    let signedSize = try? await scalar(dsn, "SELECT max(tree_size) FROM governance_checkpoints")
                    let stored = try? await scalar(dsn, nodes)
                    return signedSize == "300" && stored == "1"
                })
            // Five more, which no checkpoint covers (the next is due at 400 or in an hour).
            let unsigned = (0..<5).map { _ in UUID() }
            try await Self.ingest(collector.batchURL, unsigned.map { ($0, wireEvent(id: $0, session: session)) })

            let latest = try JSONParser.parse(try await Self.get(api + "/checkpoints/latest", key: key).body)
            let stored = try await scalar(dsn, "SELECT note FROM governance_checkpoints WHERE tree_size = 300")
            #expect(
                latest["tree_size"] == .number("300") && latest["note"]?.stringValue == stored && latest["origin"] == .string(CheckpointTests.origin))
            let at200 = try JSONParser.parse(try await Self.get(api + "/checkpoints/200", key: key).body)
            #expect(at200["tree_size"] == .number("200"))
            #expect(try await Self.get(api + "/checkpoints/150", key: key).status == 404)

            // Proofs as the API gives them, checked by a verifier that shares no code with us.
            let leaf270 = try #require(try await scalar(dsn, "SELECT event_id::text FROM governance_merkle_leaves WHERE leaf_index = 270"))
            let leaf42 = try #require(try await scalar(dsn, "SELECT event_id::text FROM governance_merkle_leaves WHERE leaf_index = 42"))
            for (path, expected) in [
                ("/events/\(leaf270)/proof", "ok event \(leaf270) is leaf 270 of 300"),
                ("/events/\(leaf42)/proof?checkpoint_size=200", "ok event \(leaf42) is leaf 42 of 200"),
                ("/proofs/consistency?old=100&new=300", "ok tree 100 is a prefix of tree 300"),
            ] {
                let answer = try await Self.get(api + path, key: key)
                #expect(answer.status == 200, "\(path): \(answer.text)")
                let file = folder + "/proof.json"
                try answer.text.write(toFile: file, atomically: true, encoding: .utf8)
                let checked = try await CheckpointTests().pythonVerifier([vkey, file])
                #expect(checked.status == 0 && checked.output.contains(expected), "\(path): \(checked.output)")
            }
            let pending = try await Self.get(api + "/events/\(unsigned[0].lowercasedString)/proof", key: key)
            #expect(pending.status == 409 && pending.headers["content-type"]?.hasPrefix("application/problem+json") == true, "\(pending.text)")
            let reversed = try await Self.get(api + "/proofs/consistency?old=300&new=100", key: key)
            let reversedProblem = try JSONParser.parse(reversed.body)
            #expect(reversed.status == 400 && reversedProblem["parameter"] == .string("old"), "\(reversed.text)")

            // The session: each event the checkpoint covers proven (the tree also holds the
            // access events of the sign-in and the reads), the rest pending.
            let covered = try #require(
                Int(
                    try await scalar(
                        dsn,
                        """
                        SELECT count(*) FROM governance_merkle_leaves JOIN governance_audit_events USING (event_id)
                        WHERE session_id = '\(session.lowercasedString)' AND leaf_index < 300
                        """) ?? ""))
            #expect(covered > 256 && covered < 300)
            let verification = try JSONParser.parse(try await Self.get(api + "/sessions/\(session.lowercasedString)/verification", key: key).body)
            let statuses = Self.items(verification["events"]).compactMap { $0["status"]?.stringValue }
            #expect(
                statuses.filter { $0 == "proven" }.count == covered && statuses.filter { $0 == "pending" }.count == 305 - covered,
                "\(Dictionary(statuses.map { ($0, 1) }, uniquingKeysWith: +))")
            #expect(verification["verified"] == .bool(false) && verification["tree_size"] == .number("300"))

            // An insider rewrites one signed row (past the append-only trigger): named, by id.
            let connection = try PGConnection(dsn: dsn)
            try connection.exec("SET session_replication_role = replica")
            try connection.exec(
                "UPDATE governance_audit_events SET metadata_json = '{\"n\": 2}' WHERE event_id = $1::uuid", [signed[7].lowercasedString])
            let after = try JSONParser.parse(try await Self.get(api + "/sessions/\(session.lowercasedString)/verification", key: key).body)
            let altered = Self.items(after["events"]).filter { $0["status"] == .string("altered") }
            #expect(altered.count == 1 && altered.first?["event_id"] == .string(signed[7].lowercasedString), "\(altered)")
            #expect(altered.first?["detail"]?.stringValue?.contains("changed after it was appended") == true)
            // Its proof is refused as what it is, never handed out: the record no longer matches what was signed.
            let refused = try await Self.get(api + "/events/\(signed[7].lowercasedString)/proof", key: key)
            let problem = try JSONParser.parse(refused.body)
            #expect(
                refused.status == 500 && problem["title"] == .string("Internal Server Error")
                    && problem["detail"]?.stringValue?.contains("changed after it was appended") == true, "\(refused.text)")
        }
    }

    @Test("rate: each API key gets ui.api_burst reads at once, then 429 with Retry-After and problem details; another key reads on")
    func rateLimit() async throws {
        let dsn = try await newDatabase()
        let ui = "  endpoint: 127.0.0.1:0\n  admin_password: \"\(uiPassword)\"\n  api_rate: 0.001\n  api_burst: 3"
        try await PeopleTests.withAdmin(dsn: dsn, ui: ui) { _, base, admin in
            let (first, second) = (try await Self.key(admin, scopes: "read"), try await Self.key(admin, scopes: "read"))
            for _ in 0..<3 { #expect(try await Self.get(base + "/api/v1/workflows", key: first).status == 200) }
            let refused = try await Self.get(base + "/api/v1/workflows", key: first)
            // One read a 1,000 s: the wait is at most that (less the time the reads above took;
            // the refill itself is tested on the test clock, APIRateLimiterTests).
            let wait = Int(refused.headers["retry-after"] ?? "") ?? 0
            #expect(refused.status == 429 && (1...1000).contains(wait), "\(refused.status) \(refused.headers)")
            #expect(refused.headers["content-type"] == "application/problem+json" && refused.text.contains("ui.api_rate"), "\(refused.text)")
            #expect(try await Self.get(base + "/api/v1/workflows", key: second).status == 200)
        }
    }
}
