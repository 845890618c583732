import AuditStore
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Pipeline
import Testing

@Suite("ingest_http against a real PostgreSQL")
struct IngestHTTPTests {
    @Test("a 2xx means the row is committed and readable by another connection")
    func commitBeforeAck() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()

            let id = UUID(), session = UUID()
            let body = wireEvent(
                id: id, session: session, kind: "tool.call.denied", metadata: #"{"cost_usd":0.25,"big":12345678901234567890,"z":1,"a":[1.0,"x"]}"#)
            let response = try await post(collector.eventsURL, body)
            #expect(response.status == 201)
            #expect(try parseJSON(response)["status"] == .string("stored"))

            // A separate connection sees the row as soon as the 2xx arrived.
            let row = try PGConnection(dsn: dsn).exec(
                """
                SELECT session_id, agent_id, kind, workflow, client_seq, decision, hmac_value, prev_hash,
                       created_at = '2026-11-24T12:00:00.000120+00:00'::timestamptz, metadata_json->>'cost_usd', sdk_version
                FROM governance_audit_events WHERE event_id = $1
                """, [id.lowercasedString]
            ).rows
            #expect(row.count == 1)
            #expect(
                row.first == [
                    session.lowercasedString, "agent-1", "tool.call.denied", "wf-test", "1", "deny",
                    sdkHMAC(body), nil, "t", "0.25", "0.7.3",
                ])
        }
    }

    @Test("a repeated event_id answers 2xx and stores no second row")
    func duplicates() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()

            let body = wireEvent()
            let first = try await post(collector.eventsURL, body)
            let second = try await post(collector.eventsURL, body)
            #expect(first.status == 201)
            #expect(second.status == 200)
            #expect(try parseJSON(second)["status"] == .string("duplicate"))
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "1")
        }
    }

    @Test("each kind of bad request gets its precise 4xx and a JSON error body")
    func refusals() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let url = collector.eventsURL

            let missingToken = try await post(url, wireEvent(), token: nil)
            #expect(missingToken.status == 401)
            #expect(missingToken.headers["www-authenticate"] == "Bearer")
            #expect(try parseJSON(missingToken)["error"] == .string("unauthorized"))

            let unknownToken = try await post(url, wireEvent(), token: "wf_not_a_configured_token_at_all")
            #expect(unknownToken.status == 401)

            let wrongType = try await post(url, wireEvent(), contentType: "text/plain")
            #expect(wrongType.status == 415)
            #expect(try parseJSON(wrongType)["error"] == .string("unsupported_media_type"))

            let huge = wireEvent(metadata: #"{"blob":""# + String(repeating: "x", count: 70_000) + #""}"#)
            let tooLarge = try await post(url, huge)
            #expect(tooLarge.status == 413)
            #expect(try parseJSON(tooLarge)["error"] == .string("body_too_large"))

            let malformed = try await post(url, #"{"event_id": "#)
            #expect(malformed.status == 400)
            #expect(try parseJSON(malformed)["error"] == .string("invalid_json"))

            let badField = try await post(url, wireEvent().replacingOccurrences(of: #""seq":1"#, with: #""seq":"one""#))
            #expect(badField.status == 400)
            #expect(try parseJSON(badField)["field"] == .string("seq"))

            let longAgent = try await post(url, wireEvent(agent: String(repeating: "a", count: 257)))
            #expect(longAgent.status == 413)
            #expect(try parseJSON(longAgent)["field"] == .string("agent_id"))

            let noHMAC = try await post(
                url, wireEvent(clientHMAC: false).replacingOccurrences(of: #""prev_hash":"""#, with: #""prev_hash":"","client_hmac":null"#))
            #expect(noHMAC.status == 400)
            #expect(try parseJSON(noHMAC)["field"] == .string("client_hmac"))

            let notFound = try await post(collector.baseURL + "/api/v1/nothing", wireEvent())
            #expect(notFound.status == 404)
            #expect(try parseJSON(notFound)["ok"] == .bool(false))

            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "0")
        }
    }

    @Test("the token decides the workflow stored with the event")
    func workflowFromToken() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let id = UUID()
            #expect(try await post(collector.eventsURL, wireEvent(id: id), token: otherToken).status == 201)
            #expect(try await scalar(dsn, "SELECT workflow FROM governance_audit_events WHERE event_id = '\(id.lowercasedString)'") == "wf-other")
        }
    }

    @Test("the batch endpoint takes a JSON array or NDJSON and answers per event")
    func batch() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()

            let repeated = UUID()
            let items = [wireEvent(), wireEvent(id: repeated), #"{"event_id":"not-a-uuid"}"#, wireEvent(id: repeated), wireEvent()]
            let response = try await post(collector.batchURL, "[" + items.joined(separator: ",") + "]")
            #expect(response.status == 200)
            let json = try parseJSON(response)
            #expect(json["stored"] == .number("3"))
            #expect(json["duplicates"] == .number("1"))
            #expect(json["rejected"] == .number("1"))
            guard case .array(let results)? = json["results"] else { Issue.record("no results"); return }
            #expect(results.map { $0["status"]?.stringValue } == ["stored", "stored", "rejected", "duplicate", "stored"])
            #expect(results[2]["field"] == .string("payload"))

            let lines = [wireEvent(), "", wireEvent()].joined(separator: "\n")
            let ndjson = try await post(collector.batchURL, lines, contentType: "application/x-ndjson")
            #expect(try parseJSON(ndjson)["stored"] == .number("2"))
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "5")

            let tooMany = try await post(collector.batchURL, "[" + Array(repeating: "{}", count: 1001).joined(separator: ",") + "]")
            #expect(tooMany.status == 413)
            let notArray = try await post(collector.batchURL, wireEvent())
            #expect(notArray.status == 400)
        }
    }

    @Test("a row the database refuses is isolated; the rest of its group commits")
    func refusedRowIsIsolated() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            try PGConnection(dsn: dsn).exec("ALTER TABLE governance_audit_events ADD CONSTRAINT no_evil CHECK (agent_id <> 'evil')")

            let items = (0..<7).map { wireEvent(agent: $0 == 4 ? "evil" : "good") }
            let response = try await post(collector.batchURL, "[" + items.joined(separator: ",") + "]")
            let json = try parseJSON(response)
            #expect(json["stored"] == .number("6"))
            guard case .array(let results)? = json["results"] else { Issue.record("no results"); return }
            #expect(results[4]["status"] == .string("rejected"))
            #expect(results[4]["message"]?.stringValue?.contains("no_evil") == true)
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "6")
        }
    }

    @Test("5,000 events over 32 connections: exactly the acknowledged events are stored")
    func concurrentLoad() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()

            let ids = (0..<5000).map { _ in UUID() }
            let sessions = (0..<32).map { _ in UUID() }
            let url = collector.eventsURL
            let report = await LoadDriver.run(connections: 32, total: ids.count) { i in
                LoadDriver.Request(
                    url: url, headers: ["Authorization: Bearer \(testToken)", "Content-Type: application/json"],
                    body: Array(wireEvent(id: ids[i], session: sessions[i % 32], seq: i + 1).utf8))
            }
            let acknowledged = Set(report.outcomes.filter { (200..<300).contains($0.status) }.map { ids[$0.index] })
            #expect(acknowledged.count == 5000)
            #expect(try await storedIDs(dsn) == acknowledged)
        }
    }

    @Test("the table is append-only: UPDATE, DELETE and TRUNCATE are refused")
    func appendOnly() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            #expect(try await post(collector.eventsURL, wireEvent()).status == 201)

            let connection = try PGConnection(dsn: dsn)
            for statement in [
                "UPDATE governance_audit_events SET agent_id = 'x'", "DELETE FROM governance_audit_events",
                "TRUNCATE governance_audit_events",
            ] {
                #expect(throws: PGError.self) { try connection.exec(statement) }
            }
            #expect(try await scalar(dsn, "SELECT agent_id FROM governance_audit_events") == "agent-1")
        }
    }
}
