import AuditStore
import Collector
import Crypto
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing

/// Runs a command on a thread of its own (never blocking the cooperative pool); its exit status and output.
func runCommand(_ command: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(
                with: Result {
                    let path = FileManager.default.temporaryDirectory.appendingPathComponent("gc-cmd-\(UUID())").path
                    defer { try? FileManager.default.removeItem(atPath: path) }
                    let status = try ChildProcess.spawn(command, outputPath: path, environment: environment).wait()
                    return (status, (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
                })
        }.start()
    }
}

/// Signed checkpoints as an auditor uses them: the table checked with only the public key, and
/// proofs checked by Tests/interop/verify_checkpoint.py, which shares no code with the collector.
/// The tamper cases are the ones an insider holding the HMAC secret can hide from `verify`.
@Suite("signed checkpoints: tampering the HMAC secret hides, proofs an outsider checks")
struct CheckpointTests {
    static let origin = "test.example/audit"

    /// A collector with the chain and checkpoints every 10 rows has stored 30 events of three
    /// interleaved sessions and signed checkpoints at 10, 20 and 30; then it stopped.
    struct Signed {
        var dsn: String
        var folder: String
        var sessions: [[UUID]]
        var publicKey: String { folder + "/checkpoint.key.pub" }
        var witness: String { folder + "/witness" }
    }

    static func signed() async throws -> Signed {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-checkpoints-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let key = folder + "/checkpoint.key"
        let (status, output) = try await runCommand([BinaryTests.binary, "checkpoint", "keygen", "--name", origin, "--out", key])
        #expect(status == 0, "\(output)")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? NSNumber).intValue
        #expect(mode & 0o777 == 0o600)
        #expect(output.hasPrefix(origin + "+"))
        let again = try await runCommand([BinaryTests.binary, "checkpoint", "keygen", "--name", origin, "--out", key])
        #expect(again.status == 2 && again.output.contains("File exists"), "keygen must never overwrite a key: \(again.output)")

        let dsn = try await newDatabase()
        let yaml =
            chainedYAML(dsn: dsn) + """

                checkpoints:
                  signing_key_file: \(key)
                  max_events: 10
                  interval: 3600
                  witnesses:
                    directory: \(folder)/witness
                """
        let sessions = (0..<3).map { _ in (0..<10).map { _ in UUID() } }
        try await RunningCollector.with(yaml: yaml) { collector in
            try await collector.waitUntilReady()
            for i in 0..<10 {
                for s in sessions {
                    let r = try await post(collector.eventsURL, unchainedEvent(id: s[i], session: s[0], metadata: #"{"n":\#(i)}"#))
                    #expect(r.status == 201, "\(r.text)")
                }
            }
            let signedAll = try await eventually(60) {
                FileManager.default.fileExists(atPath: folder + "/witness/30.checkpoint")
            }
            #expect(signedAll, "no checkpoint of size 30 reached the witness directory")
        }
        let sizes = try PGConnection(dsn: dsn).exec("SELECT tree_size FROM governance_checkpoints ORDER BY tree_size").rows.map { $0[0] ?? "" }
        #expect(sizes == ["10", "20", "30"])
        return Signed(dsn: dsn, folder: folder, sessions: sessions.map { $0 })
    }

    func checkpointVerify(_ dsn: String, _ publicKey: String, _ extra: [String] = []) async throws -> (status: Int32, output: String) {
        try await runCommand([BinaryTests.binary, "checkpoint", "verify", "--dsn", dsn, "--public-key", publicKey] + extra)
    }

    func pythonVerifier(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("interop/verify_checkpoint.py").path
        return try await runCommand([try sdkPython(), script] + arguments)
    }

    @Test("an untouched table verifies; proofs verify in Python; a flipped byte is rejected")
    func untouchedTableAndProofs() async throws {
        let s = try await Self.signed()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let verified = try await checkpointVerify(s.dsn, s.publicKey)
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.output.contains("verified 30 rows against 3 checkpoint(s)"), "\(verified.output)")
        let fromWitness = try await checkpointVerify(s.dsn, s.publicKey, ["--checkpoint", s.witness + "/20.checkpoint"])
        #expect(fromWitness.status == 0 && fromWitness.output.contains("10 row(s) committed after this checkpoint"), "\(fromWitness.output)")
        let stranger = s.folder + "/stranger.key"
        _ = try await runCommand([BinaryTests.binary, "checkpoint", "keygen", "--name", Self.origin, "--out", stranger])
        let untrusted = try await checkpointVerify(s.dsn, stranger + ".pub")
        #expect(untrusted.status == 1 && untrusted.output.contains("signed by no trusted key"), "\(untrusted.output)")

        let vkey = try String(contentsOfFile: s.publicKey, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let note = try await pythonVerifier([vkey, "--note", s.witness + "/latest.checkpoint"])
        #expect(note.status == 0 && note.output.contains("ok checkpoint \(Self.origin) size 30"), "\(note.output)")

        let event = s.sessions[1][4]
        let inclusion = try await runCommand([BinaryTests.binary, "prove", "--dsn", s.dsn, event.lowercasedString])
        #expect(inclusion.status == 0, "\(inclusion.output)")
        let consistency = try await runCommand([BinaryTests.binary, "prove", "--dsn", s.dsn, "--consistency", "10", "30"])
        #expect(consistency.status == 0, "\(consistency.output)")
        for (proof, hashes, expected) in [
            (inclusion.output, "audit_path", "ok event \(event.lowercasedString) is leaf 13 of 30"),
            (consistency.output, "proof", "ok tree 10 is a prefix of tree 30"),
        ] {
            let file = s.folder + "/proof-\(hashes).json"
            try proof.write(toFile: file, atomically: true, encoding: .utf8)
            let good = try await pythonVerifier([vkey, file])
            #expect(good.status == 0 && good.output.contains(expected), "\(good.output)")
            // One byte of the first hash flipped (its base64 decoded, changed, encoded again).
            var object = try #require(try JSONSerialization.jsonObject(with: Data(proof.utf8)) as? [String: Any])
            var list = try #require(object[hashes] as? [String])
            var bytes = try #require(Data(base64Encoded: list[0]))
            bytes[0] ^= 0x01
            list[0] = bytes.base64EncodedString()
            object[hashes] = list
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: file))
            let bad = try await pythonVerifier([vkey, file])
            #expect(bad.status == 1 && bad.output.hasPrefix("FAIL"), "a flipped byte must be rejected: \(bad.output)")
        }
    }

    // MARK: tampering as a superuser who holds the HMAC secret

    /// A copy of the signed database (CREATE DATABASE … TEMPLATE), for one destructive case.
    static func copy(of dsn: String) async throws -> String {
        let source = try #require(try await scalar(dsn, "SELECT current_database()"))
        let name = "tamper_" + UUID().uuidString.prefix(8).lowercased()
        _ = try PGConnection(dsn: sharedCluster.dsn(database: "postgres")).exec("CREATE DATABASE \(name) TEMPLATE \(source)")
        return sharedCluster.dsn(database: name)
    }

    /// A session's rows in chain order, as events with their chain_seq.
    static func sessionRows(_ connection: PGConnection, _ session: UUID) throws -> [AuditEvent] {
        try connection.exec(
            "SELECT \(AuditRow.selectColumns) FROM governance_audit_events WHERE session_id = $1::uuid ORDER BY chain_seq",
            [session.lowercasedString]
        ).rows.map { try AuditRow.decode($0[...]) }
    }

    /// Relinks and re-MACs a session's chain from `start` on, with the secret, as an insider would.
    static func rechain(_ connection: PGConnection, _ session: UUID, from start: Int) throws {
        let key = SymmetricKey(data: Data(auditSecret.utf8))
        var events = try sessionRows(connection, session)
        for i in start..<events.count {
            events[i].prevHash = i == 0 ? nil : events[i - 1].hmac
            events[i].metadata = events[i].metadata.pythonNormalized()
            events[i].hmac = AuditChain.hmac(events[i], key: key)
            try connection.exec(
                "UPDATE governance_audit_events SET prev_hash = $1, hmac_value = $2 WHERE event_id = $3::uuid",
                [events[i].prevHash, events[i].hmac, events[i].eventID.lowercasedString])
        }
    }

    static func leafIndex(_ dsn: String, _ event: UUID) async throws -> Int {
        let text = try await scalar(dsn, "SELECT leaf_index FROM governance_merkle_leaves WHERE event_id = '\(event.lowercasedString)'")
        return try #require(text.flatMap { Int($0) })
    }

    /// Tampers a copy with the append-only triggers off (`session_replication_role = replica`);
    /// `verify` with the secret must pass, `checkpoint verify` must fail naming `divergent`.
    func expectOnlyCheckpointsCatch(_ s: Signed, divergentLeaf: (String) async throws -> Int, _ tamper: (PGConnection) throws -> Void) async throws {
        let dsn = try await Self.copy(of: s.dsn)
        let expected = try await divergentLeaf(dsn)
        let connection = try PGConnection(dsn: dsn)
        try connection.exec("SET session_replication_role = replica")
        try tamper(connection)
        let hmacVerify = try await runCommand([BinaryTests.binary, "verify", "--dsn", dsn], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(
            hmacVerify.status == 0 && hmacVerify.output.contains("all chains intact"),
            "the insider's rewrite should pass verify: \(hmacVerify.output)")
        let checked = try await checkpointVerify(dsn, s.publicKey)
        #expect(checked.status == 1, "\(checked.output)")
        #expect(checked.output.contains("first divergent leaf \(expected):"), "\(checked.output)")
        #expect(checked.output.contains("does not match the signed root at tree size"), "\(checked.output)")
    }

    @Test("changed metadata, re-MACed; a deleted row, relinked and renumbered; a forged row: only checkpoint verify fails")
    func tamperingCaughtWithOnlyThePublicKey() async throws {
        let s = try await Self.signed()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let (a, b) = (s.sessions[0], s.sessions[1])

        // (a) one row's metadata changed; its HMAC and every later one of its session recomputed.
        try await expectOnlyCheckpointsCatch(s, divergentLeaf: { try await Self.leafIndex($0, a[3]) }) { c in
            try c.exec(#"UPDATE governance_audit_events SET metadata_json = '{"n":999}' WHERE event_id = $1::uuid"#, [a[3].lowercasedString])
            try Self.rechain(c, a[0], from: 3)
        }
        // (b) a row deleted, the chain relinked, the workflow's seq renumbered (so no gap shows).
        try await expectOnlyCheckpointsCatch(s, divergentLeaf: { try await Self.leafIndex($0, b[4]) }) { c in
            let seqText =
                try c.exec("SELECT seq FROM governance_audit_events WHERE event_id = $1::uuid", [b[4].lowercasedString]).rows.first?[0] ?? nil
            let seq = try #require(seqText.flatMap { Int($0) })
            try c.exec("DELETE FROM governance_audit_events WHERE event_id = $1::uuid", [b[4].lowercasedString])
            for later in (seq + 1)...30 {
                try c.exec("UPDATE governance_audit_events SET seq = \(later - 1) WHERE workflow = 'wf-test' AND seq = \(later)")
            }
            try c.exec("UPDATE governance_collector_seq SET last_seq = last_seq - 1 WHERE workflow = 'wf-test'")
            try Self.rechain(c, b[0], from: 4)
        }
        // (c) a forged row with a valid HMAC at the end of a session, committed as if with that
        // session's last row (its transaction id), so it reads as old history.
        try await expectOnlyCheckpointsCatch(s, divergentLeaf: { try await Self.leafIndex($0, a[9]) + 1 }) { c in
            let last = try #require(try Self.sessionRows(c, a[0]).last)
            var forged = last
            forged.eventID = UUID()
            forged.metadata = .object([.init("approved_by", .string("nobody"))])
            forged.prevHash = last.hmac
            forged.createdAt = Timestamp(microseconds: last.createdAt.microseconds + 1_000_000)
            forged.hmac = AuditChain.hmac(forged, key: SymmetricKey(data: Data(auditSecret.utf8)))
            try c.exec(
                """
                INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, metadata_json, prev_hash, hmac_value, created_at, workflow, governance_txid)
                SELECT $1::uuid, session_id, agent_id, kind, $2::jsonb, $3, $4, $5::timestamptz, workflow, governance_txid
                FROM governance_audit_events WHERE event_id = $6::uuid
                """,
                [
                    forged.eventID.lowercasedString, #"{"approved_by":"nobody"}"#, forged.prevHash, forged.hmac,
                    forged.createdAt.pythonISOFormat, last.eventID.lowercasedString,
                ])
        }
    }

    @Test("a private key others can read is refused at start-up, naming the fix")
    func readableKeyRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-key-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let key = folder + "/k"
        _ = try await runCommand([BinaryTests.binary, "checkpoint", "keygen", "--name", Self.origin, "--out", key])
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key)
        let yaml = collectorYAML(dsn: "host=/nonexistent") + "\ncheckpoints:\n  signing_key_file: \(key)\n"
        #expect {
            try CollectorPlan.parse(yaml: yaml, file: "test.yaml", environment: [:])
        } throws: { error in
            "\(error)".contains("checkpoints.signing_key_file") && "\(error)".contains("chmod 600 \(key)")
        }
    }

    @Test(
        "rows the SDK writes into the table itself are leaves too: checkpoint verify counts them, and an SDK row's inclusion proof verifies in Python"
    )
    func sdkRowsAreCovered() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-checkpoints-sdk-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let key = folder + "/checkpoint.key"
        _ = try await runCommand([BinaryTests.binary, "checkpoint", "keygen", "--name", Self.origin, "--out", key])
        let dsn = try await newDatabase()
        let yaml =
            chainedYAML(dsn: dsn) + """

                checkpoints:
                  signing_key_file: \(key)
                  max_events: 5
                  interval: 3600
                """
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("interop/sdk_rotation.py").path
        let url = sharedCluster.url(database: try #require(try await scalar(dsn, "SELECT current_database()")))
        try await RunningCollector.with(yaml: yaml) { collector in
            try await collector.waitUntilReady()
            let session = UUID()
            for n in 0..<3 {
                #expect(try await post(collector.eventsURL, unchainedEvent(session: session, metadata: #"{"n":\#(n)}"#)).status == 201)
            }
            // The SDK's own writer, straight into the table, with the same HMAC key.
            let sdk = try await runCommand(
                [try sdkPython(), script, "log", url, "KEY", UUID().uuidString, "4"],
                environment: ["KEY": Data(auditSecret.utf8).base64EncodedString()])
            #expect(sdk.status == 0, "\(sdk.output)")
            for n in 3..<6 {
                #expect(try await post(collector.eventsURL, unchainedEvent(session: session, metadata: #"{"n":\#(n)}"#)).status == 201)
            }
            #expect(try await eventually(60) { try await scalar(dsn, "SELECT max(tree_size) FROM governance_checkpoints") == "10" })
        }
        #expect(
            try await scalar(
                dsn, "SELECT count(*) FROM governance_merkle_leaves l JOIN governance_audit_events e USING (event_id) WHERE e.agent_id = 'sdk-agent'")
                == "4")
        let verified = try await checkpointVerify(dsn, key + ".pub")
        #expect(verified.status == 0 && verified.output.contains("verified 10 rows against 2 checkpoint(s)"), "\(verified.output)")

        let sdkEvent = try #require(
            try await scalar(dsn, "SELECT event_id FROM governance_audit_events WHERE agent_id = 'sdk-agent' ORDER BY chain_seq LIMIT 1"))
        let proof = try await runCommand([BinaryTests.binary, "prove", "--dsn", dsn, sdkEvent])
        #expect(proof.status == 0, "\(proof.output)")
        try proof.output.write(toFile: folder + "/proof.json", atomically: true, encoding: .utf8)
        let vkey = try String(contentsOfFile: key + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let checked = try await pythonVerifier([vkey, folder + "/proof.json"])
        #expect(checked.status == 0 && checked.output.contains("ok event \(sdkEvent) is leaf"), "\(checked.output)")
    }
}
