import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing
import Transparency

/// The continuous verifier on copies of `CheckpointTests.signed()` (30 rows, checkpoints at
/// 10, 20 and 30), one step at a time: it recomputes the tree from new rows only, never past
/// the newest checkpoint, and looks at old rows again only when PostgreSQL counted rows of the
/// append-only table changed in place.
@Suite("continuous verification: new rows checked as they come, an insider's rewrite caught at the next step")
struct ContinuousVerificationTests {
    static func trusted(_ s: CheckpointTests.Signed) throws -> [NoteVerifier] {
        [try NoteVerifier(encoded: String(contentsOfFile: s.publicKey, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))]
    }

    /// Steps of 7 rows (crossing the checkpoints mid-batch) until caught up; the last outcome's progress.
    static func catchUp(_ connection: PGConnection, _ s: CheckpointTests.Signed) throws -> (
        steps: Int, progress: VerificationProgress?, failures: [String]
    ) {
        var steps = 0
        var failures: [String] = []
        while true {
            steps += 1
            let outcome = try VerificationStep(connection: connection, trusted: trusted(s), chainSecret: Array(auditSecret.utf8), batchRows: 7).run()
            guard case .checked(_, let caughtUp, let progress, let failure, _) = outcome else { return (steps, nil, failures) }
            if let failure { failures.append(failure) }
            if caughtUp || steps > 20 { return (steps, progress, failures) }
        }
    }

    @Test("quiet on an untouched table, one verifier per database, progress kept across a restart, a rewrite of a checked row named")
    func untouchedThenRewritten() async throws {
        let s = try await CheckpointTests.signed()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let dsn = try await CheckpointTests.copy(of: s.dsn)
        do {
            let verifier = try PGConnection(dsn: dsn)
            let first = try Self.catchUp(verifier, s)
            #expect(first.failures.isEmpty, "\(first.failures)")
            #expect(first.steps == 5, "30 rows in steps of 7, the last reaching the newest checkpoint")
            let progress = try #require(first.progress)
            #expect(progress.tree.size == 30 && progress.checkedSize == 30 && progress.rowsChecked == 30 && progress.failure == nil)
            let again = try Self.catchUp(verifier, s)
            #expect(again.steps == 1 && again.failures.isEmpty && again.progress?.rowsChecked == 30, "an untouched table stays quiet")

            let other = try PGConnection(dsn: dsn)
            let standby = try VerificationStep(connection: other, trusted: Self.trusted(s), chainSecret: nil).run()
            guard case .standby = standby else {
                Issue.record("a second verifier on the database must stand by, got \(standby)")
                return
            }
        }
        // The first verifier's connection is gone (a restart): the next one continues from the stored progress.
        let restarted = try PGConnection(dsn: dsn)
        let resumed = try Self.catchUp(restarted, s)
        #expect(resumed.steps == 1 && resumed.progress?.rowsChecked == 30 && resumed.failures.isEmpty)

        // An insider with the secret rewrites a row the verifier checked long ago, and re-MACs its session.
        let a = s.sessions[0]
        let expected = try await CheckpointTests.leafIndex(dsn, a[3])
        let insider = try PGConnection(dsn: dsn)
        try insider.exec("SET session_replication_role = replica")
        try insider.exec(#"UPDATE governance_audit_events SET metadata_json = '{"n":999}' WHERE event_id = $1::uuid"#, [a[3].lowercasedString])
        try CheckpointTests.rechain(insider, a[0], from: 3)
        // Its counters reach the statistics when its session next goes idle (within a second, or at
        // once when asked): asked here, so the test does not wait on PostgreSQL's flush timer.
        try insider.exec("SELECT pg_stat_force_next_flush()")
        try insider.exec("SELECT 1")
        let caught = try Self.catchUp(restarted, s)
        #expect(caught.steps == 1)
        let failure = try #require(caught.failures.first)
        #expect(failure.contains("first divergent leaf \(expected):") && failure.contains("event_id=\(a[3].lowercasedString)"), "\(failure)")
        #expect(failure.contains("does not match the signed root"), "\(failure)")
        // The failure stays recorded; later steps do not report it again.
        let later = try Self.catchUp(restarted, s)
        #expect(later.failures.isEmpty && later.progress?.failure == failure)
        #expect(try VerificationProgress.load(restarted)?.failure == failure)
    }

    @Test("a forged row the signer covered before anyone looked is caught by its HMAC, named")
    func forgedRowCaughtByItsHMAC() async throws {
        let s = try await CheckpointTests.signed()
        defer { try? FileManager.default.removeItem(atPath: s.folder) }
        let dsn = try await CheckpointTests.copy(of: s.dsn)
        let verifier = try PGConnection(dsn: dsn)
        #expect(try Self.catchUp(verifier, s).failures.isEmpty)

        // A row inserted with the triggers off, linked to its session's last row, with a made-up HMAC.
        let last = try #require(try CheckpointTests.sessionRows(PGConnection(dsn: dsn), s.sessions[2][0]).last)
        let forged = UUID()
        let insider = try PGConnection(dsn: dsn)
        try insider.exec("SET session_replication_role = replica")
        try insider.exec(
            """
            INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, metadata_json, prev_hash, hmac_value, created_at, workflow, governance_txid)
            SELECT $1::uuid, session_id, agent_id, kind, '{"approved_by":"cfo"}', hmac_value, repeat('ab', 32), created_at + interval '1 second', workflow, pg_current_xact_id()
            FROM governance_audit_events WHERE event_id = $2::uuid
            """, [forged.lowercasedString, last.eventID.lowercasedString])
        // The signer takes it into the tree and signs it: the tree alone cannot tell.
        var config = CheckpointsConfig(signer: try NoteSigner(encoded: String(contentsOfFile: s.folder + "/checkpoint.key", encoding: .utf8)))
        config.maxEvents = 1
        let signer = try PGConnection(dsn: dsn)
        // The signer reads only rows older than every running transaction of the cluster (other tests' too): wait for it.
        let signed = try await eventually(60) {
            guard case .appended(_, _, let signed) = try CheckpointStep(store: CheckpointStore(connection: signer), config: config).run() else {
                return false
            }
            return signed?.size == 31
        }
        #expect(signed, "the signer did not sign the forged row")

        let caught = try Self.catchUp(verifier, s)
        let failure = try #require(caught.failures.first)
        #expect(failure.contains("event_id=\(forged.lowercasedString): hmac mismatch"), "\(failure)")
        #expect(caught.progress?.checkedSize == 31, "the tree itself matches the checkpoint that covers the forged row")
    }

    @Test("a running collector verifies what it signs; a rewrite shows in its state and its metrics, naming the row")
    func runningCollector() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-verification-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let key = folder + "/checkpoint.key"
        let keygen = try await runCommand([BinaryTests.binary, "checkpoint", "keygen", "--name", CheckpointTests.origin, "--out", key])
        #expect(keygen.status == 0, "\(keygen.output)")
        let dsn = try await newDatabase()
        let yaml =
            timelineYAML(dsn: dsn) + """

                checkpoints:
                  signing_key_file: \(key)
                  max_events: 5
                  interval: 3600
                verification:
                  interval: 0.2
                """
        let session = UUID()
        let events = (0..<10).map { _ in UUID() }
        try await RunningCollector.with(yaml: yaml) { collector in
            try await collector.waitUntilReady()
            for id in events {
                let r = try await post(collector.eventsURL, unchainedEvent(id: id, session: session))
                #expect(r.status == 201, "\(r.text)")
            }
            let reader = try PGConnection(dsn: dsn)
            let checked = try await eventually(60) { try VerificationProgress.load(reader)?.checkedSize == 10 }
            #expect(checked, "the verifier did not reach the checkpoint at 10")
            let telemetry = try await collector.telemetryURL()
            #expect(try await scrape(telemetry).samples.value("governance_verification_failed") == 0)
            let ui = UIClient(base: try await collector.timelineURL())
            try await ui.signIn()
            func dashboardRow() async throws -> String {
                UIClient.first(#"<tr data-check="verification">(.*?)</tr>"#, in: try await ui.get("/").text) ?? "(no verification row)"
            }
            let quiet = try await dashboardRow()
            #expect(quiet.contains("verify-intact") && quiet.contains("10 rows checked") && quiet.contains("checkpoint at size 10"), "\(quiet)")

            let insider = try PGConnection(dsn: dsn)
            try insider.exec("SET session_replication_role = replica")
            try insider.exec(#"UPDATE governance_audit_events SET metadata_json = '{"n":2}' WHERE event_id = $1::uuid"#, [events[6].lowercasedString])
            try insider.exec("SELECT pg_stat_force_next_flush()")
            try insider.exec("SELECT 1")
            let failed = try await eventually(60) { try VerificationProgress.load(reader)?.failure != nil }
            #expect(failed, "the rewrite was not caught")
            let failure = try VerificationProgress.load(reader)?.failure ?? ""
            #expect(failure.contains("event_id=\(events[6].lowercasedString)"), "\(failure)")
            let flagged = try await eventually(60) { try await scrape(telemetry).samples.value("governance_verification_failed") == 1 }
            #expect(flagged)
            let alarmed = try await dashboardRow()
            #expect(alarmed.contains("verify-tampered") && alarmed.contains("FAILED") && alarmed.contains(events[6].lowercasedString), "\(alarmed)")
        }
    }
}
