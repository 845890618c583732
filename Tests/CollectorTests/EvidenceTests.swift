import AuditStore
import Config
import Crypto
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing
import Transparency
import ZIPFoundation

/// `governance-collector evidence` against a signed database, checked by scripts/verify_evidence.py
/// (which shares no code with the collector) with only the log's public key. The tampered bundles
/// are re-signed with the checkpoint key where the case needs it: what an insider holding that
/// key could make, which the leaves and the signed checkpoints still give away.
@Suite("evidence bundle: built from the signed log, checked offline")
struct EvidenceTests {
    /// 40 events created a second apart, committed in that order, checkpoints every 10 leaves.
    struct Log {
        var dsn: String
        var folder: String
        var base: Int64
        var key: String { folder + "/checkpoint.key" }
        var publicKey: String { folder + "/checkpoint.key.pub" }
    }

    static func log() async throws -> Log {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-evidence-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let made = try await runCommand([
            BinaryTests.binary, "checkpoint", "keygen", "--name", CheckpointTests.origin, "--out", folder + "/checkpoint.key",
        ])
        #expect(made.status == 0, "\(made.output)")
        let dsn = try await newDatabase()
        let base = Timestamp.now().microseconds - 3_600_000_000
        try await RunningCollector.with(yaml: Self.yaml(dsn: dsn, folder: folder)) { collector in
            try await collector.waitUntilReady()
            for i in 0..<40 {
                let answer = try await post(collector.eventsURL, ReadAPITests.event(UUID(), micros: base + Int64(i) * 1_000_000))
                #expect(answer.status == 201, "\(answer.text)")
            }
            // (The signer creates its tables once it starts.)
            #expect(try await eventually { (try? await scalar(dsn, "SELECT max(tree_size) FROM governance_checkpoints")) == "40" })
        }
        return Log(dsn: dsn, folder: folder, base: base)
    }

    static func yaml(dsn: String, folder: String) -> String {
        chainedYAML(dsn: dsn) + """

            checkpoints:
              signing_key_file: \(folder)/checkpoint.key
              max_events: 10
              interval: 3600
            """
    }

    /// `evidence` for the events created `from`..<`to` seconds after the log's first.
    func evidence(_ log: Log, from: Int64, to: Int64, workflow: String? = nil, out: String) async throws -> (status: Int32, output: String) {
        let config = log.folder + "/config.yaml"
        try Self.yaml(dsn: log.dsn, folder: log.folder).write(toFile: config, atomically: true, encoding: .utf8)
        let time = { (seconds: Int64) in Timestamp(microseconds: log.base + seconds * 1_000_000).pythonISOFormat }
        return try await runCommand(
            [BinaryTests.binary, "evidence", "--config", config, "--from", time(from), "--to", time(to), "--out", out]
                + (workflow.map { ["--workflow", $0] } ?? []))
    }

    /// scripts/verify_evidence.py on `bundle`, trusting `publicKey` (default: the log's).
    func verifier(_ bundle: String, _ log: Log, publicKey: String? = nil) async throws -> (status: Int32, output: String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/verify_evidence.py").path
        return try await runCommand([try sdkPython(), script, bundle, publicKey ?? log.publicKey])
    }

    /// A copy of `bundle` with `change` applied to its unpacked files; `resign` recomputes the
    /// manifest's digests and signs it again with the checkpoint key.
    func tampered(_ bundle: String, _ log: Log, resign: Bool, _ change: (URL) throws -> Void) throws -> String {
        let folder = URL(fileURLWithPath: log.folder + "/tamper-\(UUID())")
        try FileManager.default.unzipItem(at: URL(fileURLWithPath: bundle), to: folder)
        try change(folder)
        if resign {
            let manifestURL = folder.appendingPathComponent("manifest.json")
            var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
            var files: [String: String] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where !name.hasPrefix("manifest.") {
                files[name] = Array(SHA256.hash(data: try Data(contentsOf: folder.appendingPathComponent(name)))).hexString
            }
            manifest["files"] = files
            let bytes = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])
            try bytes.write(to: manifestURL)
            let signer = try NoteSigner(encoded: String(contentsOfFile: log.key, encoding: .utf8))
            let note = try signer.sign("\(EvidenceBundle.manifestNoteTitle)\n\(Array(SHA256.hash(data: bytes)).hexString)\n")
            try note.write(to: folder.appendingPathComponent("manifest.sig"), atomically: true, encoding: .utf8)
        }
        let out = folder.path + ".zip"
        try FileManager.default.zipItem(at: folder, to: URL(fileURLWithPath: out), shouldKeepParent: false)
        return out
    }

    static func lines(_ folder: URL, _ name: String) throws -> [String] {
        try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// Rewrites tree.json's event leaves.
    static func editTree(_ folder: URL, _ edit: (inout [Int]) -> Void) throws {
        let url = folder.appendingPathComponent("tree.json")
        var tree = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var leaves = try #require(tree["event_leaves"] as? [Int])
        edit(&leaves)
        tree["event_leaves"] = leaves
        try JSONSerialization.data(withJSONObject: tree).write(to: url)
    }

    @Test(
        "a range's bundle verifies offline and says what it proves; one event changed, removed or added, a checkpoint swapped or the manifest altered is rejected, by name"
    )
    func bundleVerifiesAndTamperingIsNamed() async throws {
        let log = try await Self.log()
        defer { try? FileManager.default.removeItem(atPath: log.folder) }
        // Events 12..<27: the span runs from leaf 11 (the row before them) to the checkpoint of 30,
        // tied to the newest (40).
        let bundle = log.folder + "/march.zip"
        let built = try await evidence(log, from: 12, to: 27, out: bundle)
        #expect(
            built.status == 0 && built.output.contains("15 events selected, 19 rows in full, leaves 11..<30 (checkpoint 30, newest 40)"),
            "\(built.output)")
        let again = try await evidence(log, from: 12, to: 27, out: bundle)
        #expect(again.status == 2 && again.output.contains("exists"), "an existing file is never overwritten: \(again.output)")
        let verified = try await verifier(bundle, log)
        #expect(verified.status == 0, "\(verified.output)")
        for claim in [
            "proves: the 19 events in events.ndjson are exactly leaves of the signed log (tree size 30)",
            "proves: tree 30 is a prefix of tree 40",
            "proves: 15 events were created in the range within leaves 11..29, and no row there is withheld; leaf 11, just before them, was created outside it",
            "does not prove: the HMAC chain",
        ] {
            #expect(verified.output.contains(claim), "\(claim)\n\(verified.output)")
        }
        let stranger = log.folder + "/stranger.key"
        _ = try await runCommand([BinaryTests.binary, "checkpoint", "keygen", "--name", CheckpointTests.origin, "--out", stranger])
        let untrusted = try await verifier(bundle, log, publicKey: stranger + ".pub")
        #expect(untrusted.status == 1 && untrusted.output.contains("manifest.sig: no signature by a trusted key"), "\(untrusted.output)")

        let changedLine = { (folder: URL) in
            var lines = try Self.lines(folder, "events.ndjson")
            lines[3] = lines[3].replacingOccurrences(of: "agent-1", with: "agent-2")
            try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("events.ndjson"), atomically: true, encoding: .utf8)
        }
        let cases: [(String, Bool, (URL) throws -> Void, String)] = [
            (
                "manifest altered", false,
                { folder in
                    let url = folder.appendingPathComponent("manifest.json")
                    try String(contentsOf: url, encoding: .utf8).replacingOccurrences(
                        of: "\"selected_events\" : 15", with: "\"selected_events\" : 14"
                    )
                    .write(to: url, atomically: true, encoding: .utf8)
                }, "manifest.json: altered"
            ),
            ("event changed", false, changedLine, "events.ndjson: altered (its SHA-256 differs from the signed manifest)"),
            ("event changed, manifest re-signed", true, changedLine, "events.ndjson line 4 is not leaf 14: the event was changed"),
            (
                "event removed, manifest re-signed", true,
                { folder in
                    var lines = try Self.lines(folder, "events.ndjson")
                    lines.remove(at: 5)
                    try (lines.joined(separator: "\n") + "\n").write(
                        to: folder.appendingPathComponent("events.ndjson"), atomically: true, encoding: .utf8)
                    try Self.editTree(folder) { $0.remove(at: 5) }
                }, "leaf 16 is withheld: its row is not in the bundle (an event was removed)"
            ),
            (
                "event added, manifest re-signed", true,
                { folder in
                    let lines = try Self.lines(folder, "events.ndjson")
                    try ((lines + [lines[0]]).joined(separator: "\n") + "\n").write(
                        to: folder.appendingPathComponent("events.ndjson"), atomically: true, encoding: .utf8)
                    try Self.editTree(folder) { $0.append(30) }
                }, "tree.json: event leaf 30 out of order or outside 11..29"
            ),
            (
                "span cut at its start, manifest re-signed", true,
                { folder in
                    // The row before the range dropped and the frontier moved past its leaf: every hash still adds up.
                    let lines = try Self.lines(folder, "events.ndjson")
                    try (lines.dropFirst().joined(separator: "\n") + "\n").write(
                        to: folder.appendingPathComponent("events.ndjson"), atomically: true, encoding: .utf8)
                    let hashesURL = folder.appendingPathComponent("leaf-hashes.bin")
                    let hashes = try Data(contentsOf: hashesURL)
                    try hashes.dropFirst(32).write(to: hashesURL)
                    let treeURL = folder.appendingPathComponent("tree.json")
                    var tree = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: treeURL)) as? [String: Any])
                    let frontier = try #require(tree["frontier"] as? [String]).compactMap(Hex.bytes)
                    var state = try #require(CompactMerkleTree(size: 11, frontier: frontier))
                    state.append(leafHash: Array(hashes.prefix(32)))
                    tree["first_leaf"] = 12
                    tree["frontier"] = state.frontier.map(\.hexString)
                    tree["event_leaves"] = Array(try #require(tree["event_leaves"] as? [Int]).dropFirst())
                    try JSONSerialization.data(withJSONObject: tree).write(to: treeURL)
                }, "the span's first leaf 12 was created in the range: rows before it may have been cut off"
            ),
            (
                "checkpoint swapped, manifest re-signed", true,
                { folder in
                    let twenty = try #require(try CheckpointTables.checkpoint(size: 20, on: PGConnection(dsn: log.dsn)))
                    try twenty.note.write(to: folder.appendingPathComponent("checkpoint.note"), atomically: true, encoding: .utf8)
                }, "checkpoint.note is the checkpoint of tree size 20, but the bundle's tree is 30 (a checkpoint was swapped)"
            ),
        ]
        for (name, resign, change, failure) in cases {
            let bad = try await verifier(try tampered(bundle, log, resign: resign, change), log)
            #expect(bad.status == 1 && bad.output.hasPrefix("FAIL: ") && bad.output.contains(failure), "\(name): \(bad.output)")
        }
    }

    @Test("with a workflow the bundle holds only its rows and says what it cannot prove; an empty range is refused")
    func workflowBundle() async throws {
        let log = try await Self.log()
        defer { try? FileManager.default.removeItem(atPath: log.folder) }
        let workflow = try #require(try await scalar(log.dsn, "SELECT min(workflow) FROM governance_audit_events"))
        let bundle = log.folder + "/workflow.zip"
        let built = try await evidence(log, from: 0, to: 40, workflow: workflow, out: bundle)
        #expect(built.status == 0 && built.output.contains("40 events selected, 40 rows in full, leaves 0..<40"), "\(built.output)")
        let verified = try await verifier(bundle, log)
        #expect(verified.status == 0 && verified.output.contains("does not prove: that no row of workflow \(workflow)"), "\(verified.output)")
        let none = try await evidence(log, from: 0, to: 40, workflow: "wf-nobody", out: log.folder + "/none.zip")
        #expect(none.status == 1 && none.output.contains("no rows were created in the range in workflow wf-nobody"), "\(none.output)")
        #expect(!FileManager.default.fileExists(atPath: log.folder + "/none.zip"))
    }
}
