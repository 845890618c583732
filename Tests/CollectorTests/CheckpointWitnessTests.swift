import AuditStore
import Collector
import Config
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing
import Transparency

/// Tests/interop/witness_receiver.py over TLS with a test CA: checks each checkpoint's signature
/// with the log's public key and records what it answered.
struct WitnessReceiver {
    static let token = "witness-token-5b7e0c"
    let process: ChildProcess
    let directory: String
    let port: Int

    static func start(verifierKey: String, ca: TestCA, failFirst: Int) async throws -> WitnessReceiver {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gc-witness-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "interop/witness_receiver.py"
        ).path
        let process = try ChildProcess.spawn(
            [
                try sdkPython(), script, directory + "/port", directory + "/deliveries", verifierKey,
                ca.certFile, ca.keyFile, token, String(failFirst),
            ], outputPath: directory + "/log")
        guard try await eventually(60, { FileManager.default.fileExists(atPath: directory + "/port") }),
            let port = Int(try String(contentsOfFile: directory + "/port", encoding: .utf8))
        else {
            process.kill(SIGKILL)
            throw LocalPostgres.Failure(
                description: "witness did not start: \((try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "")")
        }
        return WitnessReceiver(process: process, directory: directory, port: port)
    }

    /// Every request received so far, in order.
    func deliveries() throws -> [JSONValue] {
        guard let text = try? String(contentsOfFile: directory + "/deliveries", encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
    }

    func stop() {
        process.stop(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite("checkpoint witness: each signed checkpoint POSTed over HTTPS, in order, retried until delivered, through the egress policy")
struct CheckpointWitnessTests {
    static func text(_ value: JSONValue?) -> String {
        if case .number(let n)? = value { return n }
        return "\(String(describing: value))"
    }

    /// A chaining collector that signs a checkpoint every 5 rows and publishes it to `url`.
    func yaml(dsn: String, key: String, url: String, settings: String) -> String {
        chainedYAML(dsn: dsn)
            .replacingOccurrences(
                of: "exporters:\n  postgres:",
                with: """
                    exporters:
                      checkpoint_witness:
                        url: "\(url)"
                        bearer_token: "\(WitnessReceiver.token)"
                        max_backoff: 0.2
                        poll_interval: 0.05
                    \(settings)
                      postgres:
                    """
            )
            .replacingOccurrences(of: "exporters: [postgres]", with: "exporters: [postgres, checkpoint_witness]") + """

                checkpoints:
                  signing_key_file: \(key)
                  max_events: 5
                  interval: 3600
                """
    }

    /// A fresh checkpoint key in `folder`; returns its path and the verifier key.
    func keygen(_ folder: String) async throws -> (key: String, verifierKey: String) {
        let key = folder + "/checkpoint.key"
        let made = try await runCommand([BinaryTests.binary, "checkpoint", "keygen", "--name", "witness.test/audit", "--out", key])
        #expect(made.status == 0, "\(made.output)")
        return (key, try String(contentsOfFile: key + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func store(_ collector: RunningCollector, events count: Int) async throws {
        let session = UUID()
        for n in 0..<count {
            let r = try await post(collector.eventsURL, unchainedEvent(session: session, metadata: #"{"n":\#(n)}"#))
            #expect(r.status == 201, "\(r.text)")
        }
    }

    @Test("checkpoints 5 and 10 reach the witness signed, the first after a 503; a restarted collector sends 15 and repeats none")
    func deliveredInOrderAcrossRestart() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-witness-test-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (key, verifierKey) = try await keygen(folder)
        let ca = try TestCA()
        defer { ca.remove() }
        let witness = try await WitnessReceiver.start(verifierKey: verifierKey, ca: ca, failFirst: 1)
        defer { witness.stop() }
        let dsn = try await newDatabase()
        let config = yaml(
            dsn: dsn, key: key, url: "https://localhost:\(witness.port)/add-checkpoint",
            settings: "    ca_file: \(ca.caFile)\n    allow_loopback: true")

        func delivered() throws -> [(status: String, size: String)] {
            try witness.deliveries().map { (Self.text($0["status"]), Self.text($0["size"])) }
        }
        try await RunningCollector.with(yaml: config) { collector in
            try await collector.waitUntilReady()
            try await store(collector, events: 10)
            #expect(try await eventually(60) { try delivered().filter { $0.status == "200" }.count == 2 })
        }
        let first = try witness.deliveries()
        #expect(try delivered().map { "\($0.status):\($0.size)" } == ["503:5", "200:5", "200:10"])
        for delivery in first {
            #expect(delivery["verified"] == .bool(true) && delivery["token_ok"] == .bool(true), "\(delivery)")
            #expect(delivery["header_size"] == delivery["size"])
            #expect(delivery["content_type"] == .string("text/plain; charset=utf-8"))
        }
        #expect(
            try await scalar(dsn, "SELECT delivered_size || ' ' || attempts || ' ' || (last_error IS NULL) FROM governance_witness_deliveries")
                == "10 0 true")

        try await RunningCollector.with(yaml: config) { collector in
            try await collector.waitUntilReady()
            try await store(collector, events: 5)
            #expect(try await eventually(60) { try delivered().count == 4 })
        }
        #expect(try delivered().map { "\($0.status):\($0.size)" } == ["503:5", "200:5", "200:10", "200:15"])
        #expect(try await scalar(dsn, "SELECT delivered_size FROM governance_witness_deliveries") == "15")
    }

    @Test("a witness URL the egress policy refuses fails at start-up naming the key; a name pinned to loopback is refused when connecting")
    func egressPolicy() async throws {
        for url in ["https://10.0.0.7/add", "https://169.254.169.254/latest", "http://witness.example.com/add", "https://metadata.google.internal/"] {
            #expect {
                try CollectorPlan.parse(yaml: yaml(dsn: "", key: "/nonexistent", url: url, settings: ""), file: "t.yaml", environment: [:])
            } throws: { error in
                "\(error)".contains("exporters.checkpoint_witness.url") && "\(error)".contains("refused")
            }
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-witness-test-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (key, verifierKey) = try await keygen(folder)
        let ca = try TestCA(names: ["witness.example.com"])
        defer { ca.remove() }
        let witness = try await WitnessReceiver.start(verifierKey: verifierKey, ca: ca, failFirst: 0)
        defer { witness.stop() }
        let dsn = try await newDatabase()
        let config = yaml(
            dsn: dsn, key: key, url: "https://witness.example.com:\(witness.port)/add-checkpoint",
            settings: "    ca_file: \(ca.caFile)\n    resolve: [\"witness.example.com:\(witness.port):127.0.0.1\"]")
        try await RunningCollector.with(yaml: config) { collector in
            try await collector.waitUntilReady()
            try await store(collector, events: 5)
            #expect(try await eventually(60) { try await scalar(dsn, "SELECT attempts >= 2 FROM governance_witness_deliveries") == "t" })
        }
        #expect(
            try await scalar(dsn, "SELECT last_error FROM governance_witness_deliveries")?.contains("127.0.0.1 refused by the egress policy") == true)
        #expect(try await scalar(dsn, "SELECT delivered_size FROM governance_witness_deliveries") == "0")
        #expect(try witness.deliveries().isEmpty)
    }

    @Test(
        "witnesses.audit_event: each signed checkpoint is stored as an audit.checkpoint event, the platform bridge delivers it, its note opens with the public key, and the next checkpoint covers it"
    )
    func checkpointsOverThePlatformBridge() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-witness-bridge-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (key, verifierKey) = try await keygen(folder)
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        let dsn = try await newDatabase()
        let config =
            chainedYAML(dsn: dsn)
            .replacingOccurrences(
                of: "exporters:\n  postgres:",
                with: """
                    exporters:
                      platform_bridge:
                        platform_bridge_enabled: true
                        platform_ingest_url: "\(peer.url())"
                        platform_ingest_token: "\(platformToken)"
                        allow_loopback: true
                      postgres:
                    """
            )
            .replacingOccurrences(of: "exporters: [postgres]", with: "exporters: [postgres, platform_bridge]")
            + "\ncheckpoints:\n  signing_key_file: \(key)\n  max_events: 5\n  interval: 3600\n  witnesses:\n    audit_event: true\n"
        try await RunningCollector.with(yaml: config) { collector in
            try await collector.waitUntilReady()
            try await store(collector, events: 5)
            // Leaves 0-4 are the events; the checkpoint of size 5 becomes leaf 5; four more events make 10.
            #expect(try await eventually(60) { peer.accepted.contains { $0.body.contains("audit.checkpoint") } })
            try await store(collector, events: 4)
            #expect(try await eventually(60) { peer.accepted.filter { $0.body.contains("audit.checkpoint") }.count == 2 })
        }
        await peer.stop()
        let verifier = try NoteVerifier(encoded: verifierKey)
        let delivered = try peer.accepted.filter { $0.body.contains("audit.checkpoint") }.map { try JSONParser.parse(Array($0.body.utf8)) }
        var sizes: [Int] = []
        for body in delivered {
            let hex = try #require(body["payload"]?["metadata"]?["note_hex"]?.stringValue)
            let note = String(decoding: try #require(Hex.bytes(hex)), as: UTF8.self)
            let (checkpoint, _) = try Checkpoint.open(note, verifiers: [verifier])
            sizes.append(checkpoint.size)
            #expect(body["agent_id"]?.stringValue == "governance.system")
            #expect(
                try await scalar(
                    dsn,
                    "SELECT count(*) FROM governance_audit_events WHERE event_id = '\(body["event_id"]?.stringValue ?? "")' AND kind = 'audit.checkpoint'"
                ) == "1")
        }
        #expect(sizes == [5, 10])
        #expect(
            try await scalar(
                dsn,
                "SELECT leaf_index FROM governance_merkle_leaves l JOIN governance_audit_events e USING (event_id) WHERE e.kind = 'audit.checkpoint' ORDER BY 1 LIMIT 1"
            ) == "5",
            "the first checkpoint's event is the tree's next leaf")
        let verified = try await runCommand([BinaryTests.binary, "checkpoint", "verify", "--dsn", dsn, "--public-key", verifierKey])
        #expect(verified.status == 0, "\(verified.output)")
    }

    @Test("witnesses.audit_event without the chain processor is refused at start-up, naming the key")
    func checkpointEventsNeedTheChain() throws {
        let environment = ["GOVERNANCE_CHECKPOINT_SIGNING_KEY": try NoteSigner.generate(name: "witness.test/audit").encoded]
        let section = "\ncheckpoints:\n  witnesses:\n    audit_event: true\n"
        #expect { try CollectorPlan.parse(yaml: collectorYAML(dsn: "") + section, file: "t.yaml", environment: environment) } throws: { error in
            "\(error)".contains("checkpoints.witnesses.audit_event") && "\(error)".contains("add `chain`")
        }
        #expect(
            try CollectorPlan.parse(yaml: chainedYAML(dsn: "") + section, file: "t.yaml", environment: environment).settings(
                of: "checkpoints", as: CheckpointsConfig.self)?.witnessEvents == true)
    }
}
