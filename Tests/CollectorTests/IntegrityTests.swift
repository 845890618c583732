import AuditStore
import Collector
import Crypto
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing

/// Issue 29's findings 1, 2, 3 and 6: nothing accepted is unverifiable, nothing stored escapes
/// verification, and no workflow reaches into another's rows or claims the collector's identity.
@Suite("integrity and isolation: every row verifies or fails by name, one workflow never reaches another")
struct IntegrityTests {
    static func sdkEvent(id: UUID = UUID(), session: UUID, metadata: String) -> String {
        wireEvent(id: id, session: session, metadata: metadata)
    }

    /// The event with a `client_hmac` one byte longer than the SDK's: not its HMAC.
    static func forgedHMAC(_ event: String) -> String {
        event.replacingOccurrences(of: #""client_hmac":""#, with: #""client_hmac":"00"#)
    }

    func field(_ result: HTTPResult) -> String? { (try? parseJSON(result))?["field"]?.stringValue }

    @Test("numbers whose stored text would read back as another value are refused naming the field; the rest verify and export")
    func numbersRoundTripOrAreRefused() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: chainedYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let session = UUID()
            for (metadata, path) in [
                (#"{"n":1e1000}"#, "payload.metadata.n"), (#"{"n":1e+16}"#, "payload.metadata.n"),
                (#"{"a":{"b":[1,1.5e300]}}"#, "payload.metadata.a.b[1]"), (#"{"a":1,"a":2}"#, "payload.metadata.a"),
                (#"{"z":-0.0}"#, "payload.metadata.z"),
            ] {
                let chained = try await post(collector.eventsURL, unchainedEvent(session: session, metadata: metadata))
                #expect(chained.status == 400 && (field(chained)) == path, "\(metadata): \(chained.text)")
                let clientMACed = try await post(collector.eventsURL, Self.sdkEvent(session: UUID(), metadata: metadata))
                #expect(clientMACed.status == 400 && (field(clientMACed)) == path, "\(metadata): \(clientMACed.text)")
            }
            let kept = #"{"w":1.50,"x":2e-07,"y":1e-400,"k":12345678901234567890,"q":-0,"e":1E2,"s":"\u00e9\ud83d\ude00"}"#
            #expect(try await post(collector.eventsURL, unchainedEvent(session: session, metadata: kept)).status == 201)
            #expect(
                try await post(collector.eventsURL, Self.sdkEvent(session: UUID(), metadata: #"{"x":2e-07,"k":12345678901234567890,"f":1.0}"#)).status
                    == 201)
        }
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "2")
        let verified = try await runCommand([BinaryTests.binary, "verify", "--dsn", dsn], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(verified.status == 0 && verified.output.contains("checked 2 rows in 2 sessions: all chains intact"), "\(verified.output)")
        let exported = try await runCommand([BinaryTests.binary, "export", "--dsn", dsn, "--format", "ndjson"])
        #expect(exported.status == 0 && exported.output.contains("export: 2 events"), "\(exported.output)")
    }

    @Test("a client_hmac the chain processor can check is checked: a forged one is refused, the SDK's accepted")
    func clientHMACChecked() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: chainedYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let forged = try await post(collector.eventsURL, Self.forgedHMAC(wireEvent(session: UUID())))
            #expect(forged.status == 400 && (field(forged)) == "client_hmac", "\(forged.text)")
            #expect(try await post(collector.eventsURL, Self.sdkEvent(session: UUID(), metadata: #"{"n":1}"#)).status == 201)
        }
        let unchecked = chainedYAML(dsn: dsn).replacingOccurrences(of: "  chain:\n", with: "  chain:\n    check_client_hmac: false\n")
        try await RunningCollector.with(yaml: unchecked) { collector in
            try await collector.waitUntilReady()
            #expect(try await post(collector.eventsURL, Self.forgedHMAC(wireEvent(session: UUID()))).status == 201)
        }
    }

    // MARK: the insider: a database superuser without the HMAC secret

    /// `verify` (with the secret) and `checkpoint verify` (with the public key) of a tampered copy
    /// both exit 1; `verify` names `event` and says `why`, `checkpoint verify` names the leaf.
    func expectBothVerifiersFail(
        _ s: CheckpointTests.Signed, event: UUID, why: String, divergentLeaf: Int,
        _ tamper: (PGConnection) throws -> Void
    ) async throws {
        let dsn = try await CheckpointTests.copy(of: s.dsn)
        let connection = try PGConnection(dsn: dsn)
        try connection.exec("SET session_replication_role = replica")
        try tamper(connection)
        let verified = try await runCommand([BinaryTests.binary, "verify", "--dsn", dsn], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(verified.status == 1, "\(verified.output)")
        #expect(verified.output.contains("event_id=\(event.lowercasedString): \(why)"), "\(verified.output)")
        let checked = try await runCommand([BinaryTests.binary, "checkpoint", "verify", "--dsn", dsn, "--public-key", s.publicKey])
        #expect(checked.status == 1 && checked.output.contains("first divergent leaf \(divergentLeaf):"), "\(checked.output)")
    }

    @Test(
        "a denied transfer rewritten to granted, with and without a 1e1000 pad, and forged padded rows: verify and checkpoint verify both fail, naming the row"
    )
    func insiderRewritesAreCaught() async throws {
        let s = try await CheckpointTests.signed()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let a = s.sessions[0]
        let leaf = try await CheckpointTests.leafIndex(s.dsn, a[3])
        for metadata in [#"{"approved_by":"cfo","pad":1e1000}"#, #"{"approved_by":"cfo"}"#] {
            try await expectBothVerifiersFail(s, event: a[3], why: "hmac mismatch", divergentLeaf: leaf) { c in
                try c.exec(
                    "UPDATE governance_audit_events SET metadata_json = $1::jsonb, kind = 'wire.transfer.granted' WHERE event_id = $2::uuid",
                    [metadata, a[3].lowercasedString])
            }
        }
        // Forged rows with the pad: one spliced into a chain with the next row relinked to it, one with hmac 'ffff'.
        let last = try #require(try CheckpointTests.sessionRows(PGConnection(dsn: s.dsn), a[0]).last)
        let forged = UUID()
        try await expectBothVerifiersFail(s, event: forged, why: "hmac mismatch", divergentLeaf: try await CheckpointTests.leafIndex(s.dsn, a[9]) + 1)
        {
            c in
            try c.exec(
                """
                INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, metadata_json, prev_hash, hmac_value, created_at, workflow, governance_txid)
                SELECT $1::uuid, session_id, agent_id, kind, '{"approved_by":"cfo","pad":1e1000}', hmac_value, 'ffff', created_at + interval '1 second', workflow, governance_txid
                FROM governance_audit_events WHERE event_id = $2::uuid
                """, [forged.lowercasedString, last.eventID.lowercasedString])
        }
    }

    @Test("a row no reader can decode is a failure naming it: verify, checkpoint verify and export all say so")
    func undecodableRowIsReported() async throws {
        let s = try await CheckpointTests.signed()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let target = s.sessions[1][2]
        // Nesting past what any reader parses (PostgreSQL stores it).
        let deep = String(repeating: "[", count: JSONParser.storedMaxDepth + 5) + String(repeating: "]", count: JSONParser.storedMaxDepth + 5)
        let leaf = try await CheckpointTests.leafIndex(s.dsn, target)
        var tampered = ""
        try await expectBothVerifiersFail(s, event: target, why: "metadata_json cannot be read back", divergentLeaf: leaf) { c in
            tampered = try #require(try c.exec("SELECT current_database()").rows.first?[0] ?? nil)
            try c.exec(
                "UPDATE governance_audit_events SET metadata_json = jsonb_build_object('x', $1::jsonb) WHERE event_id = $2::uuid",
                [deep, target.lowercasedString])
        }
        let exported = try await runCommand([BinaryTests.binary, "export", "--dsn", sharedCluster.dsn(database: tampered), "--format", "ndjson"])
        #expect(
            exported.status != 0 && exported.output.contains("event \(target.lowercasedString) cannot be read back: metadata_json"),
            "\(exported.output)")
    }

    // MARK: tenancy

    @Test("an event id or a session another workflow stored is refused with 409 naming the field, never called a duplicate")
    func workflowsCannotReachEachOther() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: chainedYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let (id, session) = (UUID(), UUID())
            #expect(try await post(collector.eventsURL, unchainedEvent(id: id, session: session)).status == 201)
            // The same id from another workflow, in another session.
            let stolenID = try await post(collector.eventsURL, unchainedEvent(id: id, session: UUID()), token: otherToken)
            #expect(stolenID.status == 409 && (field(stolenID)) == "event_id", "\(stolenID.text)")
            #expect((try? parseJSON(stolenID))?["error"]?.stringValue == "conflict")
            let again = try await post(collector.eventsURL, unchainedEvent(id: id, session: session))
            #expect(again.status == 200 && again.text.contains("duplicate"), "the owner's retry is still a duplicate")
            // Another workflow's event in this session, alone and in a batch beside one of its own.
            let intruder = try await post(collector.eventsURL, unchainedEvent(session: session), token: otherToken)
            #expect(intruder.status == 409 && (field(intruder)) == "payload.session_id", "\(intruder.text)")
            let batch = try await post(
                collector.batchURL, "[\(unchainedEvent(session: session)),\(unchainedEvent(session: UUID()))]", token: otherToken)
            let results = try #require(try parseJSON(batch)["results"])
            guard case .array(let items) = results else { Issue.record("no results"); return }
            #expect(items.map { $0["status"]?.stringValue } == ["rejected", "stored"], "\(batch.text)")
            #expect(items.first?["http_status"] == .number("409"))
            // One group: two workflows' first events in one new session, in one request each at once.
            let shared = UUID()
            async let first = post(collector.eventsURL, unchainedEvent(session: shared))
            async let second = post(collector.eventsURL, unchainedEvent(session: shared), token: otherToken)
            let statuses = [try await first.status, try await second.status].sorted()
            #expect(statuses == [201, 409], "exactly one workflow owns a new session: \(statuses)")
        }
        #expect(
            try await scalar(dsn, "SELECT count(DISTINCT workflow) FROM governance_audit_events GROUP BY session_id ORDER BY 1 DESC LIMIT 1") == "1")
        for workflow in ["wf-test", "wf-other"] {
            let verified = try await runCommand(
                [BinaryTests.binary, "verify", "--dsn", dsn, "--workflow", workflow], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
            #expect(verified.status == 0 && verified.output.contains("all chains intact"), "\(workflow): \(verified.output)")
        }
    }

    @Test("the collector's own agent and audit.* kinds are refused from clients; a claimed signature status is never stored as ours")
    func systemIdentityAndClaimsRefused() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let agent = try await post(collector.eventsURL, wireEvent(session: UUID(), agent: "governance.system"))
            #expect(agent.status == 403 && (field(agent)) == "agent_id", "\(agent.text)")
            for kind in ["audit.retention_seal", "audit.checkpoint", "audit.chain_key_rotation"] {
                let claimed = try await post(collector.eventsURL, wireEvent(session: UUID(), kind: kind))
                #expect(claimed.status == 403 && (field(claimed)) == "payload.kind", "\(kind): \(claimed.text)")
            }
            let id = UUID()
            let signedClaim = wireEvent(id: id, session: UUID()).replacingOccurrences(
                of: #""signature_status":"unsigned""#, with: #""signature_status":"signed""#)
            #expect(try await post(collector.eventsURL, signedClaim).status == 201)
            let row = try PGConnection(dsn: dsn).exec(
                "SELECT signature_status, client_signature_status FROM governance_audit_events WHERE event_id = $1::uuid",
                [id.lowercasedString]
            ).rows.first
            #expect(row == ["unsigned", "signed"])
        }
        #expect(throws: (any Error).self) {
            try CollectorPlan.parse(
                yaml: collectorYAML(dsn: dsn).replacingOccurrences(of: "workflow: wf-other", with: "workflow: governance.system"),
                file: "test.yaml", environment: [:])
        }
    }

    // MARK: findings 5 and 7

    @Test("stored text never drives the terminal: verify, tail and tail --json escape controls, bidi and newlines")
    func terminalSafeOutput() async throws {
        let dsn = try await newDatabase()
        let session = UUID()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let hostile = wireEvent(session: session, agent: #"evil\u202eagent\u001b[31m"#, metadata: #"{"x":"a\u0085b\u009b2Jc\u2066"}"#)
            #expect(try await post(collector.eventsURL, hostile).status == 201)
        }
        // An insider's prev_hash that would clear the screen and print a fake all-clear line.
        let c = try PGConnection(dsn: dsn)
        try c.exec("SET session_replication_role = replica")
        try c.exec("UPDATE governance_audit_events SET prev_hash = $1", ["\u{1B}[2J\nchecked 9 rows in 9 sessions: all chains intact"])
        let verified = try await runCommand([BinaryTests.binary, "verify", "--dsn", dsn], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(verified.status == 1)
        #expect(!verified.output.contains("\u{1B}") && !verified.output.contains("\nchecked 9 rows"), "\(verified.output)")
        #expect(verified.output.contains(#"\u{1b}[2J\u{a}che"#), "\(verified.output)")
        for json in [false, true] {
            let tail = try await runCommand(
                [BinaryTests.binary, "tail", "--dsn", dsn, "--since", "2000-01-01T00:00:00Z", "--limit", "1"] + (json ? ["--json"] : []))
            #expect(tail.status == 0, "\(tail.output)")
            let unsafe = tail.output.unicodeScalars.filter { [0x1B, 0x85, 0x9B, 0x202E, 0x2066].contains($0.value) }
            #expect(unsafe.isEmpty, "\(json ? "tail --json" : "tail") printed \(unsafe.map { String($0.value, radix: 16) }): \(tail.output)")
            if json {
                let line = try #require(tail.output.split(separator: "\n").first { $0.hasPrefix("{") })
                let parsed = try JSONParser.parse(String(line))
                #expect(parsed["agent_id"]?.stringValue == "evil\u{202E}agent\u{1B}[31m", "the JSON still carries the exact value")
            }
        }
    }

    @Test("verify --session checks its chain without false seq gaps from the workflow's other sessions")
    func verifyOneSession() async throws {
        let dsn = try await newDatabase()
        let (a, b) = (UUID(), UUID())
        try await RunningCollector.with(yaml: chainedYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            for session in [a, b, a, b, a] {
                #expect(try await post(collector.eventsURL, unchainedEvent(session: session)).status == 201)
            }
        }
        let verified = try await runCommand(
            [BinaryTests.binary, "verify", "--dsn", dsn, "--session", a.lowercasedString],
            environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(verified.status == 0 && verified.output.contains("checked 3 rows in 1 sessions: all chains intact"), "\(verified.output)")
    }
}
