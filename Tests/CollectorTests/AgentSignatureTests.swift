import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing

/// An agent key made by the SDK's tooling: its private key file (for the SDK's file keystore),
/// its public key file, its SDK fingerprint and PEM.
private struct SDKAgentKey {
    var directory: String
    var fingerprint: String
    var pem: String
    var keyFile: String { directory + "/agent.key" }
    var pubFile: String { directory + "/agent.pub" }

    static func make() async throws -> SDKAgentKey {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gc-agent-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let json = try await signatureScript(["keygen", directory]).last!
        return SDKAgentKey(
            directory: directory, fingerprint: try #require(json["fingerprint"]?.stringValue),
            pem: try #require(json["public_key_pem"]?.stringValue))
    }
}

/// Runs Tests/interop/sdk_signatures.py; returns its JSON output lines (the SDK's own log lines are skipped).
private func signatureScript(_ arguments: [String]) async throws -> [JSONValue] {
    let (status, lines) = try await runSDK(arguments, script: "sdk_signatures.py")
    #expect(status == 0, "\(lines)")
    return lines.compactMap { $0.hasPrefix("{") ? try? JSONParser.parse($0) : nil }
}

/// A database the SDK writes its own rows to, migrated by the collector (the SDK's columns),
/// with `ddl` run after (the SDK's gates table, say). `overSocket`: for an SDK in a network
/// namespace of its own.
func sdkDatabaseURL(ddl: String? = nil, overSocket: Bool = false) async throws -> String {
    let name = "sdk_" + UUID().uuidString.prefix(8).lowercased()
    return try await offPool {
        let dsn = try sharedCluster.createDatabase(name)
        let connection = try PGConnection(dsn: dsn)
        try AuditSchema.migrate(connection)
        if let ddl { _ = try connection.execEach(ddl) }
        return overSocket ? sharedCluster.socketURL(database: name) : sharedCluster.url(database: name)
    }
}

/// The SDK signs `count` events with `key` and sends them over its bridge; with `url` "capture"
/// it sends them to a local server and the bodies come back (to be re-posted, maybe changed).
private func sdkSend(_ key: SDKAgentKey, url: String, count: Int) async throws -> [String] {
    try await signatureScript(["send", try await sdkDatabaseURL(), key.keyFile, url, testToken, String(count), auditSecret])
        .compactMap { $0["body"]?.stringValue }
}

/// `body` with one hex digit of its `payload.signature_hex` changed.
private func flippedSignature(_ body: String) throws -> String {
    let hex = try #require(try JSONParser.parse(body)["payload"]?["signature_hex"]?.stringValue)
    let first = hex.first == "0" ? "1" : "0"
    return body.replacingOccurrences(of: hex, with: first + hex.dropFirst())
}

private func signaturesYAML(dsn: String, settings: String = "keys_refresh_interval: 0.1") -> String {
    collectorYAML(dsn: dsn)
        .replacingOccurrences(of: "exporters:\n  postgres:", with: "processors:\n  agent_signatures:\n    \(settings)\nexporters:\n  postgres:")
        .replacingOccurrences(of: "      receivers: [ingest_http]\n", with: "      receivers: [ingest_http]\n      processors: [agent_signatures]\n")
}

private func databaseName(_ dsn: String) -> String { String(dsn.split(separator: "dbname=").last!) }

/// Waits until the collector's keyring has `keys` usable and `revoked` revoked keys.
private func keysLoaded(_ collector: RunningCollector, keys: Double, revoked: Double) async throws -> Bool {
    let url = try await collector.telemetryURL()
    return try await eventually {
        let samples = try await scrape(url).samples
        return samples.value("governance_agent_signature_keys") == keys && samples.value("governance_agent_signature_revoked_keys") == revoked
    }
}

/// `signature_status/client_signature_status` of the stored event (`-` for NULL).
private func stored(_ dsn: String, _ body: String) throws -> String {
    let id = try #require(try JSONParser.parse(body)["event_id"]?.stringValue)
    let row = try PGConnection(dsn: dsn).exec(
        "SELECT signature_status, client_signature_status FROM governance_audit_events WHERE event_id = $1::uuid", [id]
    ).rows.first
    return "\((row?[0] ?? nil) ?? "-")/\((row?[1] ?? nil) ?? "-")"
}

@Suite("agent signatures made by the reference SDK, verified at ingest")
struct AgentSignatureTests {
    @Test("the SDK's signed events over its own bridge are stored signed; verify re-checks them and finds a changed signature")
    func sdkBridgeSignedEvents() async throws {
        let dsn = try await newDatabase()
        let key = try await SDKAgentKey.make()
        try await RunningCollector.with(yaml: signaturesYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            // Registered by the SDK itself, into the table the collector's migration created.
            _ = try await signatureScript(["register", sharedCluster.url(database: databaseName(dsn)), key.pubFile, "governance.default"])
            #expect(try await keysLoaded(collector, keys: 1, revoked: 0))
            _ = try await sdkSend(key, url: collector.eventsURL, count: 3)
        }
        let rows = try PGConnection(dsn: dsn).exec(
            "SELECT signature_status, signing_key_fingerprint, client_signature_status FROM governance_audit_events"
        ).rows
        // The SDK's bridge drops what it has not sent when its close deadline passes; what arrived must be signed.
        #expect(rows.count >= 1)
        for row in rows {
            #expect(row[0] == "signed")
            #expect(row[1] == key.fingerprint)
            #expect(row[2] == nil)
        }
        func verify() async throws -> (Int32, String) { try await verifyCommand(dsn: dsn) }
        let (clean, report) = try await verify()
        #expect(clean == 0, "\(report)")
        #expect(report.contains("signatures: signed=\(rows.count); re-verified \(rows.count) signed rows: all verify"), "\(report)")

        let c = try PGConnection(dsn: dsn)
        try c.exec("ALTER TABLE governance_audit_events DISABLE TRIGGER USER")
        try c.exec(
            "UPDATE governance_audit_events SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1) WHERE chain_seq = (SELECT min(chain_seq) FROM governance_audit_events)"
        )
        let (tampered, after) = try await verify()
        #expect(tampered == 1, "\(after)")
        #expect(after.contains("all chains intact"), "the HMAC chain does not cover the signature: \(after)")
        #expect(after.contains("stored as signed, but does not verify with agent key \(key.fingerprint)"), "\(after)")
    }

    @Test("a flipped signature byte is invalid_signature, an unregistered key unknown_key, a key the SDK revoked revoked_key")
    func verdicts() async throws {
        let dsn = try await newDatabase()
        let (registered, stranger) = (try await SDKAgentKey.make(), try await SDKAgentKey.make())
        let bodies = try await sdkSend(registered, url: "capture", count: 3)
        let strangers = try await sdkSend(stranger, url: "capture", count: 1)
        #expect(bodies.count == 3 && strangers.count == 1)
        try await RunningCollector.with(yaml: signaturesYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let add = try await ChildProcess.spawn([
                BinaryTests.binary, "agent-key", "add", "--dsn", dsn, "--agent", "governance.default", "--pem", registered.pubFile,
            ]).exitStatus()
            #expect(add == 0)
            #expect(try await keysLoaded(collector, keys: 1, revoked: 0))

            #expect(try await post(collector.eventsURL, bodies[0]).status == 201)
            #expect(try stored(dsn, bodies[0]) == "signed/-")
            #expect(try await post(collector.eventsURL, try flippedSignature(bodies[1])).status == 201)
            #expect(try stored(dsn, bodies[1]) == "invalid_signature/signed")
            #expect(try await post(collector.eventsURL, strangers[0]).status == 201)
            #expect(try stored(dsn, strangers[0]) == "unknown_key/signed")

            _ = try await signatureScript(["revoke", sharedCluster.url(database: databaseName(dsn)), registered.fingerprint])
            #expect(try await keysLoaded(collector, keys: 0, revoked: 1))
            #expect(try await post(collector.eventsURL, bodies[2]).status == 201)
            #expect(try stored(dsn, bodies[2]) == "revoked_key/signed")
        }
    }

    @Test(
        "keys registered and revoked on the UI's workflows page take effect: the SDK's signed events are stored signed, then revoked_key; a bad PEM is refused naming the field"
    )
    func keysManagedInTheUI() async throws {
        let dsn = try await newDatabase()
        let key = try await SDKAgentKey.make()
        let bodies = try await sdkSend(key, url: "capture", count: 2)
        let yaml = signaturesYAML(dsn: dsn) + "\nui:\n  endpoint: 127.0.0.1:0\n  admin_password: \"\(uiPassword)\"\n"
        try await RunningCollector.with(yaml: yaml) { collector in
            try await collector.waitUntilReady()
            let ui = UIClient(base: try await collector.timelineURL())
            try await ui.signIn()
            var page = try await ui.get("/workflows")
            let bad = try await ui.post("/agent-keys", [("agent", "governance.default"), ("pem", "not a key")], csrfFrom: page)
            #expect(bad.status == 400 && bad.text.contains("pem: is not a PEM public key"), "\(bad.status) \(bad.text.suffix(400))")
            let forged = try await ui.post("/agent-keys", [("agent", "governance.default"), ("pem", key.pem)], csrfFrom: nil)
            #expect(forged.status == 403, "no CSRF token, no key")
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_agent_keys") == "0")

            #expect(try await ui.post("/agent-keys", [("agent", "governance.default"), ("pem", key.pem)], csrfFrom: page).status == 303)
            page = try await ui.get("/workflows")
            let row = #"<tr class="agent-key" data-fingerprint="\#(key.fingerprint)">.*?<td class="status">([^<]+)</td>"#
            #expect(UIClient.first(row, in: page.text) == "active", "\(page.text.suffix(1500))")
            #expect(try await keysLoaded(collector, keys: 1, revoked: 0))
            #expect(try await post(collector.eventsURL, bodies[0]).status == 201)
            #expect(try stored(dsn, bodies[0]) == "signed/-")

            #expect(try await ui.post("/agent-keys/\(key.fingerprint)/revoke", [("reason", "laptop lost")], csrfFrom: page).status == 303)
            #expect(try await keysLoaded(collector, keys: 0, revoked: 1))
            #expect(try await post(collector.eventsURL, bodies[1]).status == 201)
            #expect(try stored(dsn, bodies[1]) == "revoked_key/signed")
            #expect(
                try PGConnection(dsn: dsn).exec("SELECT key_fingerprint, reason, operator_id FROM governance_agent_key_revocations").rows
                    == [[key.fingerprint, "laptop lost", "ui"]])
            #expect(UIClient.first(row, in: try await ui.get("/workflows").text) == "revoked (laptop lost)")
        }
    }

    @Test("require_signature refuses unsigned and badly signed events with 422 naming the field; a configured key needs no database row")
    func requireSignature() async throws {
        let dsn = try await newDatabase()
        let key = try await SDKAgentKey.make()
        let bodies = try await sdkSend(key, url: "capture", count: 2)
        #expect(bodies.count == 2)
        let settings = "require_signature: true\n    keys:\n      - public_key_pem: \(JSONValue.string(key.pem).serialized())"
        try await RunningCollector.with(yaml: signaturesYAML(dsn: dsn, settings: settings)) { collector in
            try await collector.waitUntilReady()
            for body in [wireEvent(), try flippedSignature(bodies[0])] {
                let answer = try await post(collector.eventsURL, body)
                #expect(answer.status == 422, "\(answer.text)")
                #expect(try parseJSON(answer)["field"]?.stringValue == "payload.signature_hex", "\(answer.text)")
            }
            #expect(try await post(collector.eventsURL, bodies[1]).status == 201)
        }
        #expect(try await scalar(dsn, "SELECT string_agg(signature_status, ',') FROM governance_audit_events") == "signed")
    }
}

/// `governance-collector verify` over `dsn` with the suite's audit secret: its exit status and report.
func verifyCommand(dsn: String) async throws -> (Int32, String) {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("gc-verify-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: output) }
    let status = try await ChildProcess.spawn(
        [BinaryTests.binary, "verify", "--dsn", dsn, "--config", "/nonexistent.yaml"], outputPath: output,
        environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret]
    ).exitStatus()
    return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
}
