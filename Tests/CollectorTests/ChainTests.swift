import AuditStore
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Pipeline
import Testing

let auditSecret = "test-audit-secret-0123456789abcdef"

/// `collectorYAML` with the seq and chain processors in the pipeline.
func chainedYAML(dsn: String, port: Int = 0) -> String {
    collectorYAML(dsn: dsn)
        .replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(port)")
        .replacingOccurrences(
            of: "exporters:\n  postgres:", with: "processors:\n  seq:\n  chain:\n    secret: \"\(auditSecret)\"\nexporters:\n  postgres:"
        )
        .replacingOccurrences(of: "      receivers: [ingest_http]\n", with: "      receivers: [ingest_http]\n      processors: [seq, chain]\n")
}

/// An event without `client_hmac`: the collector chains it.
func unchainedEvent(id: UUID = UUID(), session: UUID, metadata: String = #"{"n":1}"#) -> String {
    wireEvent(id: id, session: session, metadata: metadata, clientHMAC: false)
}

/// The reference SDK installed from PyPI by scripts/test.sh (a virtualenv under .build).
func sdkPython() throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let python = root.appendingPathComponent(".build/interop-venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw LocalPostgres.Failure(description: "the reference SDK is not installed: run scripts/test.sh (it creates \(python))")
    }
    return python
}

/// Runs an interop script (Tests/interop) in the virtualenv; returns its exit status and output
/// lines. Waits on a thread of its own: a blocked cooperative thread could starve the collector
/// running in this process (2 cores, 2 cooperative threads).
/// `python`: another virtualenv's interpreter (an agent stack's).
func runSDK(
    _ arguments: [String], stdin: String? = nil, script name: String = "sdk_interop.py", python: String? = nil,
    environment: [String: String] = [:]
) async throws -> (Int32, [String]) {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result { try runSDKBlocking(arguments, stdin: stdin, script: name, python: python, environment: environment) })
        }.start()
    }
}

private func runSDKBlocking(
    _ arguments: [String], stdin: String?, script name: String, python: String?,
    environment: [String: String]
) throws -> (Int32, [String]) {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("interop/\(name)").path
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gc-sdk-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var command = [try python ?? sdkPython(), script] + arguments
    if let stdin {
        try stdin.write(toFile: directory + "/in", atomically: true, encoding: .utf8)
        command = ["sh", "-c", "exec \"$0\" \"$@\" < '\(directory)/in'"] + command
    }
    let status = try ChildProcess.spawn(command, outputPath: directory + "/out", environment: environment).wait()
    let output = (try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? ""
    return (status, output.split(separator: "\n").map(String.init))
}

/// Rows as JSON lines, the way the SDK reads them back (metadata as jsonb text).
func rowsAsJSONLines(_ dsn: String) throws -> String {
    try PGConnection(dsn: dsn).exec(
        """
        SELECT json_build_object('event_id', event_id, 'session_id', session_id, 'agent_id', agent_id,
            'parent_event_id', parent_event_id, 'kind', kind, 'model', model, 'input_hash', input_hash,
            'output_hash', output_hash, 'metadata_json', metadata_json::text, 'prev_hash', prev_hash,
            'hmac_value', hmac_value, 'created_at', created_at)::text
        FROM governance_audit_events ORDER BY chain_seq
        """
    ).rows.compactMap { $0[0] }.joined(separator: "\n")
}

/// `governance-collector verify` as a user runs it; returns its exit status.
func verifyCommand(_ dsn: String) async throws -> Int32 {
    try await ChildProcess.spawn([BinaryTests.binary, "verify", "--dsn", dsn], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret]).exitStatus()
}

func verify(_ dsn: String, _ filter: ChainVerifier.Filter = .init()) throws -> ChainVerifier.Report {
    try ChainVerifier(connection: PGConnection(dsn: dsn), secret: auditSecret).verify(filter, batchSize: 7)
}

@Suite("seq and HMAC chain, verified by the collector and by the reference SDK")
struct ChainTests {
    @Test("events without client_hmac are chained per session; the SDK's own HMAC function verifies every row")
    func collectorChainsAndSDKVerifies() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: chainedYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()

            let sessions = [UUID(), UUID()]
            let metadata = [
                #"{"z":1.50,"a":[1.0,"x"],"é":"café 😀","nested":{"b":true,"a":null}}"#, #"{"n":1e-7,"m":-0,"big":123456789012345678901234567890}"#,
            ]
            for i in 0..<10 {
                let response = try await post(collector.eventsURL, unchainedEvent(session: sessions[i % 2], metadata: metadata[i % 2]))
                #expect(response.status == 201)
            }
            // A batch mixing both sessions commits in one transaction and extends the same chains.
            let batch = (0..<6).map { unchainedEvent(session: sessions[$0 % 2]) }
            #expect(try await post(collector.batchURL, "[" + batch.joined(separator: ",") + "]").status == 200)

            let rows = try PGConnection(dsn: dsn).exec(
                "SELECT session_id, prev_hash, hmac_value, seq FROM governance_audit_events ORDER BY chain_seq"
            ).rows
            #expect(rows.count == 16)
            #expect(rows.map { $0[3] } == (1...16).map { String($0) })
            for session in sessions.map(\.lowercasedString) {
                let chain = rows.filter { $0[0] == session }
                #expect(chain.first?[1] == nil)
                for (previous, row) in zip(chain, chain.dropFirst()) { #expect(row[1] == previous[2]) }
            }
            #expect(try verify(dsn).isClean)

            let (status, output) = try await runSDK(["verify-rows", auditSecret], stdin: try rowsAsJSONLines(dsn))
            #expect(status == 0, "\(output)")
            #expect(output.last == "verified 16")
        }
    }

    @Test("events the SDK chains and sends through its own bridge are stored with their HMACs intact")
    func sdkBridgeToCollector() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: chainedYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()

            let (status, output) = try await runSDK(["bridge", auditSecret, collector.eventsURL, testToken, "20"])
            #expect(status == 0, "\(output)")
            // The SDK's own log lines (structlog) share the output; our lines are JSON objects.
            let sent = output.compactMap { line -> (String, String, String?)? in
                guard line.hasPrefix("{"), let json = try? JSONParser.parse(line) else { return nil }
                guard let id = json["event_id"]?.stringValue, let hmac = json["hmac"]?.stringValue else { return nil }
                return (id, hmac, json["prev_hash"]?.stringValue)
            }
            #expect(sent.count == 20)
            // Every event the SDK's bridge reports sent must be stored exactly as it chained it.
            let stats = output.compactMap { line in line.hasPrefix("{") ? (try? JSONParser.parse(line))?["stats"] : nil }.first
            let delivered = Int(stats?["sent"].map { $0.serialized() } ?? "") ?? -1
            let stored = try PGConnection(dsn: dsn).exec("SELECT event_id, hmac_value, prev_hash FROM governance_audit_events ORDER BY seq").rows
            // At least what the SDK counts as sent is stored. Its counters are its own: under load it
            // has counted an event as dropped from its queue that it still delivered.
            #expect(stored.count >= delivered && stored.count <= sent.count, "bridge stats: \(stats.map { $0.serialized() } ?? "none")")
            // The script closes the bridge once every event is settled, so on any machine it has
            // sent them all to a collector that answers.
            #expect(delivered == 20, "bridge stats: \(stats.map { $0.serialized() } ?? "none")")
            let byID = Dictionary(uniqueKeysWithValues: sent.map { ($0.0, $0) })
            for row in stored {
                let original = try #require(byID[row[0] ?? ""], "stored an event the SDK did not send")
                #expect(row[1] == original.1)
                #expect(row[2] == original.2)
            }
            #expect(try verify(dsn).isClean)
            let (verified, lines) = try await runSDK(["verify-rows", auditSecret], stdin: try rowsAsJSONLines(dsn))
            #expect(verified == 0 && lines.last == "verified \(stored.count)", "\(lines)")
        }
    }

    @Test("verify finds an edited metadata value, a deleted middle row and a swapped pair")
    func verifyFindsTampering() async throws {
        for tamper in ["edit", "delete", "swap"] {
            let dsn = try await newDatabase()
            let collector = try await RunningCollector.start(yaml: chainedYAML(dsn: dsn))
            try await collector.waitUntilReady()
            let session = UUID()
            for i in 0..<6 { _ = try await post(collector.eventsURL, unchainedEvent(session: session, metadata: #"{"step":\#(i)}"#)) }
            let untouched = UUID()
            for _ in 0..<3 { _ = try await post(collector.eventsURL, unchainedEvent(session: untouched)) }
            try await collector.stop()
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "9")
            #expect(try verify(dsn).isClean)
            #expect(try await verifyCommand(dsn) == 0)

            // As a superuser, with the append-only triggers off, change history.
            let c = try PGConnection(dsn: dsn)
            try c.exec("ALTER TABLE governance_audit_events DISABLE TRIGGER USER")
            switch tamper {
            case "edit": try c.exec("UPDATE governance_audit_events SET metadata_json = '{\"step\": 99}' WHERE metadata_json->>'step' = '3'")
            case "delete": try c.exec("DELETE FROM governance_audit_events WHERE metadata_json->>'step' = '2'")
            default:
                // Exchange the positions of the rows of steps 1 and 2.
                try c.exec(
                    """
                    UPDATE governance_audit_events t SET chain_seq = o.chain_seq
                    FROM governance_audit_events o
                    WHERE t.metadata_json->>'step' IN ('1', '2') AND o.metadata_json->>'step' IN ('1', '2')
                      AND o.event_id <> t.event_id
                    """)
            }
            let report = try verify(dsn)
            #expect(report.problems.count >= 1, "\(tamper) not detected")
            #expect(report.problems.allSatisfy { !$0.scope.contains(untouched.lowercasedString) }, "\(tamper): untouched chain blamed")
            #expect(report.problems.contains { $0.scope == "session \(session.lowercasedString)" }, "\(tamper): \(report.problems)")
            if tamper == "delete" {
                #expect(report.problems.contains { $0.reason.contains("seq gap") })
            }
            // The command line says the same, with exit status 1.
            #expect(try await verifyCommand(dsn) == 1)
        }
        let dsn = try await newDatabase()
        #expect(
            try await ChildProcess.spawn([BinaryTests.binary, "verify", "--dsn", dsn, "--config", "/nonexistent"]).exitStatus() == 2,
            "without a secret (no environment, no config) verify is a usage error")
    }

    @Test("two collector processes on one database and workflow: seq gapless, chains without forks")
    func twoProcesses() async throws {
        let dsn = try await newDatabase()
        var children: [ChildProcess] = []
        var urls: [String] = []
        var files: [String] = []
        defer {
            for child in children { child.stop(SIGKILL) }
            for file in files { try? FileManager.default.removeItem(atPath: file) }
        }
        for _ in 0..<2 {
            let port = try LocalPostgres.freePort()
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("gc-two-\(UUID()).yaml").path
            try chainedYAML(dsn: dsn, port: port).write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
            children.append(try spawnCollector(config: file))
            urls.append("http://127.0.0.1:\(port)")
        }
        for url in urls { try await waitForReady(url) }
        let sessions = (0..<6).map { _ in UUID() }
        let perProcess = 1500
        let (url0, url1) = (urls[0], urls[1])
        async let first = LoadDriver.run(connections: 8, total: perProcess) { i in
            .init(
                url: url0 + "/api/v1/ingest/events", headers: ["Authorization: Bearer \(testToken)", "Content-Type: application/json"],
                body: Array(unchainedEvent(session: sessions[i % 6]).utf8))
        }
        async let second = LoadDriver.run(connections: 8, total: perProcess) { i in
            .init(
                url: url1 + "/api/v1/ingest/events", headers: ["Authorization: Bearer \(testToken)", "Content-Type: application/json"],
                body: Array(unchainedEvent(session: sessions[i % 6]).utf8))
        }
        let reports = await [first, second]
        let acknowledged = reports.flatMap(\.outcomes).filter { $0.status == 201 }.count
        #expect(acknowledged == 2 * perProcess)

        let seqs = try PGConnection(dsn: dsn).exec("SELECT seq FROM governance_audit_events WHERE workflow = 'wf-test' ORDER BY seq").rows.map {
            $0[0]
        }
        #expect(seqs == (1...(2 * perProcess)).map { String($0) })
        let report = try verify(dsn)
        #expect(report.isClean, "\(report.problems)")
        #expect(report.sessions == 6)
        let forks = try await scalar(
            dsn, "SELECT count(*) FROM (SELECT session_id, prev_hash FROM governance_audit_events GROUP BY 1, 2 HAVING count(*) > 1) f")
        #expect(forks == "0")
    }
}
