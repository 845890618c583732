import AuditStore
import Collector
import Config
import Crypto
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Retention
import Testing

/// Retention on a real database: a month of chained events, `keep: 7d`, the sealed removal run
/// by the collector; then the SDK and the collector write on, and `verify` and `checkpoint
/// verify` pass with the retention note, while anything removed without a seal still fails.
@Suite("retention: sealed removal of old rows")
struct RetentionTests {
    /// The rows of one generated day: (session, hmac) heads carry over from day to day.
    struct Month {
        var dsn: String
        /// Two sessions with one event a day for the whole month: they cross the cut.
        var longSessions: [UUID]
        var rows = 0
        var seq = 0
    }

    /// 30 days of events, received a day apart (one transaction per day, oldest first, so commit
    /// order is time order): each day four short sessions of five events, plus one event in each
    /// of two long sessions; seq numbered in `wf-test`, HMACs chained with the test secret.
    static func generateMonth(_ dsn: String) throws -> Month {
        let connection = try PGConnection(dsn: dsn)
        try AuditSchema.migrate(connection)
        var month = Month(dsn: dsn, longSessions: [UUID(), UUID()])
        var heads: [UUID: String] = [:]
        let key = SymmetricKey(data: Data(auditSecret.utf8))
        let now = Timestamp.now().microseconds
        for daysAgo in stride(from: 30, through: 1, by: -1) {
            try connection.exec("BEGIN")
            let sessions = (0..<4).flatMap { _ in Array(repeating: UUID(), count: 5) } + month.longSessions
            for (i, session) in sessions.enumerated() {
                month.seq += 1
                var event = AuditEvent(
                    eventID: UUID(), sessionID: session, agentID: "agent-\(i % 3)", kind: i % 7 == 0 ? "policy.denied" : "tool.call",
                    metadata: .object([.init("day", .number(String(daysAgo))), .init("i", .number(String(i)))]),
                    prevHash: heads[session], createdAt: Timestamp(microseconds: now - Int64(daysAgo) * 86_400_000_000 + Int64(i)),
                    workflow: "wf-test")
                event.hmac = AuditChain.hmac(event, key: key)
                heads[session] = event.hmac
                try connection.exec(
                    """
                    INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, metadata_json, prev_hash, hmac_value, created_at,
                                                         received_at, workflow, seq, decision)
                    VALUES ($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6, $7, $8::timestamptz, $8::timestamptz, 'wf-test', $9, $10)
                    """,
                    [
                        event.eventID.lowercasedString, session.lowercasedString, event.agentID, event.kind,
                        event.metadata.serialized(.pythonCanonical),
                        event.prevHash, event.hmac, event.createdAt.pythonISOFormat, String(month.seq), event.kind == "policy.denied" ? "deny" : nil,
                    ])
                month.rows += 1
            }
            try connection.exec("COMMIT")
        }
        try connection.exec("INSERT INTO governance_collector_seq (workflow, last_seq) VALUES ('wf-test', \(month.seq))")
        return month
    }

    static func yaml(_ dsn: String, key: String, retention: String) -> String {
        chainedYAML(dsn: dsn) + """

            checkpoints:
              signing_key_file: \(key)
              max_events: 100
              interval: 0.2
            retention:
            \(retention)
            """
    }

    @Test(
        "a month of events, keep 7d: old rows gone under seals, the SDK and the collector write on, verify and checkpoint verify pass with the retention note"
    )
    func monthKeepSevenDays() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-retention-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let key = folder + "/checkpoint.key"
        _ = try await runCommand([BinaryTests.binary, "checkpoint", "keygen", "--name", CheckpointTests.origin, "--out", key])
        let dsn = try await newDatabase()
        let month = try Self.generateMonth(dsn)
        #expect(month.rows == 660)
        let cutoff = "date_trunc('day', now() - interval '7 days', 'UTC')"
        let old = try #require(
            try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE received_at < \(cutoff)").flatMap { Int($0) })
        #expect(old == 23 * 22, "days 8 to 30 ago are due")

        // The command's dry run says what is due and removes nothing: everything old without
        // checkpoints; with them, nothing before the signer's tree covers it.
        let config = folder + "/collector.yaml", unsigned = folder + "/unsigned.yaml"
        try Self.yaml(dsn, key: key, retention: "  keep: 7d\n  interval: 0.2\n  max_rows: 200").write(
            toFile: config, atomically: true, encoding: .utf8)
        try (chainedYAML(dsn: dsn) + "\nretention:\n  keep: 7d\n").write(toFile: unsigned, atomically: true, encoding: .utf8)
        #expect(try await Self.settled(dsn))
        let dry = try await runCommand([BinaryTests.binary, "retention", "run", "--config", unsigned, "--dry-run"])
        #expect(dry.status == 0 && dry.output.contains("would remove \(old) rows of \(23 * 4 + 2) sessions"), "\(dry.output)")
        let waiting = try await runCommand([BinaryTests.binary, "retention", "run", "--config", config])
        #expect(waiting.status == 0 && waiting.output.contains("the checkpoint signer has not started its tree yet"), "\(waiting.output)")
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == String(month.rows))
        let tooShort = try await runCommand([BinaryTests.binary, "retention", "run", "--config", config, "--keep", "3d"])
        #expect(tooShort.status == 2 && tooShort.output.contains("shorter than retention.minimum (7d)"), "\(tooShort.output)")

        // The collector signs the month into checkpoints and removes what a checkpoint covers, pass
        // by pass (at most 200 rows, up to the newest checkpoint), until nothing old is left: each
        // seal continues the tree state of the one before.
        try await RunningCollector.with(yaml: try String(contentsOfFile: config, encoding: .utf8)) { collector in
            try await collector.waitUntilReady()
            #expect(
                try await eventually(120) {
                    try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE received_at < \(cutoff)") == "0"
                })
            let seals = try #require(try await scalar(dsn, "SELECT count(*) FROM governance_retention_seals").flatMap { Int($0) })
            #expect(seals >= 3, "506 rows, 200 a pass")
            #expect(try await scalar(dsn, "SELECT sum(removed_rows) FROM governance_retention_seals") == String(old))
            #expect(
                try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE kind = 'audit.retention_seal'") == String(seals),
                "each seal is an audit event")

            // Writers go on: the collector extends a long session and a new one (seq continues),
            // and the SDK logs into the other long session straight into the table.
            for (session, n) in [(month.longSessions[0], 3), (UUID(), 2)] {
                for _ in 0..<n { #expect(try await post(collector.eventsURL, unchainedEvent(session: session)).status == 201) }
            }
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("interop/sdk_rotation.py").path
            let url = sharedCluster.url(database: try #require(try await scalar(dsn, "SELECT current_database()")))
            let sdk = try await runCommand(
                [try sdkPython(), script, "log", url, "KEY", month.longSessions[1].uuidString, "3"],
                environment: ["KEY": Data(auditSecret.utf8).base64EncodedString()])
            #expect(sdk.status == 0, "\(sdk.output)")
            #expect(
                try await eventually(60) {
                    try await scalar(dsn, "SELECT max(tree_size) FROM governance_checkpoints") == String(month.rows + seals + 3 + 2 + 3)
                }, "a checkpoint covers every row ever written, the removed ones included")
        }
        #expect(
            try await scalar(dsn, "SELECT max(seq) FROM governance_audit_events WHERE workflow = 'wf-test'") == String(month.seq + 5), "seq continues"
        )
        #expect(
            try await scalar(
                dsn,
                "SELECT count(*) FROM governance_audit_events WHERE session_id = '\(month.longSessions[1].lowercasedString)' AND agent_id = 'sdk-agent'"
            ) == "3")

        let verified = try await runCommand([BinaryTests.binary, "verify", "--dsn", dsn], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(verified.status == 0 && verified.output.contains("all chains intact"), "\(verified.output)")
        #expect(verified.output.contains("removed by retention up to") && verified.output.contains("\(old) rows"), "\(verified.output)")
        #expect(verified.output.contains("2 session(s) continue from a sealed head"), "the two long sessions: \(verified.output)")
        let checked = try await runCommand([BinaryTests.binary, "checkpoint", "verify", "--dsn", dsn, "--public-key", key + ".pub"])
        #expect(checked.status == 0 && checked.output.contains("the table matches every signed root"), "\(checked.output)")
        #expect(checked.output.contains("removed by retention up to") && checked.output.contains("the first \(old) leaves"), "\(checked.output)")

        // Everything else stays append-only: a DELETE without a seal is refused, and so is one
        // under a seal row written by hand, without its seal event.
        let first = try #require(
            try await scalar(
                dsn,
                "SELECT event_id FROM governance_audit_events WHERE session_id = '\(month.longSessions[0].lowercasedString)' ORDER BY chain_seq LIMIT 1"
            ))
        #expect(throws: PGError.self) { try PGConnection(dsn: dsn).exec("DELETE FROM governance_audit_events WHERE event_id = '\(first)'") }
        do {
            let forger = try PGConnection(dsn: dsn)
            try forger.exec("BEGIN")
            try forger.exec(
                """
                INSERT INTO governance_retention_seals (seal_id, keep, cutoff, cut_txid, cut_chain_seq, removed_rows, max_chain_seq, heads_sha256, seq_sha256)
                SELECT gen_random_uuid(), '7d', now(), max(governance_txid), max(chain_seq), 1, 0, '', '' FROM governance_audit_events
                """)
            #expect(throws: PGError.self) { try forger.exec("DELETE FROM governance_audit_events WHERE event_id = '\(first)'") }
            try forger.exec("ROLLBACK")
        }
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE event_id = '\(first)'") == "1")

        // Removed without a seal (as a superuser with the triggers off), the same row fails both checks.
        let copy = try await CheckpointTests.copy(of: dsn)
        let superuser = try PGConnection(dsn: copy)
        try superuser.exec("SET session_replication_role = replica")
        try superuser.exec("DELETE FROM governance_audit_events WHERE event_id = '\(first)'")
        let tampered = try await runCommand([BinaryTests.binary, "verify", "--dsn", copy], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(tampered.status == 1 && tampered.output.contains("no retention seal recorded it"), "\(tampered.output)")
        let tamperedTree = try await runCommand([BinaryTests.binary, "checkpoint", "verify", "--dsn", copy, "--public-key", key + ".pub"])
        let leaf = try await CheckpointTests.leafIndex(dsn, try #require(UUID(uuidString: first)))
        #expect(tamperedTree.status == 1 && tamperedTree.output.contains("first divergent leaf \(leaf):"), "\(tamperedTree.output)")

        // A seal's records edited (a head), or its tree state, fail verify and checkpoint verify.
        let edited = try PGConnection(dsn: try await CheckpointTests.copy(of: dsn))
        try edited.exec("SET session_replication_role = replica")
        try edited.exec(
            "UPDATE governance_retention_heads SET last_hmac = 'ab' || substr(last_hmac, 3) WHERE session_id = '\(month.longSessions[0].lowercasedString)'"
        )
        try edited.exec(
            "UPDATE governance_retention_seals SET frontier = decode(repeat('00', length(frontier)), 'hex') WHERE tree_size = (SELECT max(tree_size) FROM governance_retention_seals)"
        )
        let editedDSN = sharedCluster.dsn(database: try #require(try edited.exec("SELECT current_database()").rows.first?[0] ?? nil))
        let headEdited = try await runCommand(
            [BinaryTests.binary, "verify", "--dsn", editedDSN], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(headEdited.status == 1 && headEdited.output.contains("do not match its digests"), "\(headEdited.output)")
        let frontierEdited = try await runCommand([BinaryTests.binary, "checkpoint", "verify", "--dsn", editedDSN, "--public-key", key + ".pub"])
        #expect(
            frontierEdited.status == 1 && frontierEdited.output.contains("not the one its seal event states")
                && frontierEdited.output.contains("does not match the signed root"), "\(frontierEdited.output)")
    }

    /// Waits until every stored row's transaction is older than every snapshot's (retention's
    /// rule): on the shared cluster, another test's open transaction holds that back for a while.
    static func settled(_ dsn: String) async throws -> Bool {
        try await eventually {
            try await scalar(dsn, "SELECT bool_and(governance_txid < pg_snapshot_xmin(pg_current_snapshot())) FROM governance_audit_events") == "t"
        }
    }

    /// One chained row, inserted on `connection` (in whatever transaction it has open), received `daysAgo`.
    static func insert(_ connection: PGConnection, session: UUID, prev: String?, workflow: String, seq: Int, daysAgo: Int) throws -> String {
        var event = AuditEvent(
            eventID: UUID(), sessionID: session, agentID: "agent", kind: "tool.call", metadata: .object([]), prevHash: prev,
            createdAt: Timestamp(microseconds: Timestamp.now().microseconds - Int64(daysAgo) * 86_400_000_000), workflow: workflow)
        event.hmac = AuditChain.hmac(event, key: SymmetricKey(data: Data(auditSecret.utf8)))
        try connection.exec(
            """
            INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, metadata_json, prev_hash, hmac_value, created_at, received_at, workflow, seq)
            VALUES ($1::uuid, $2::uuid, 'agent', 'tool.call', '{}', $3, $4, $5::timestamptz, $5::timestamptz, $6, $7)
            """, [event.eventID.lowercasedString, session.lowercasedString, prev, event.hmac, event.createdAt.pythonISOFormat, workflow, String(seq)])
        return event.hmac!
    }

    @Test(
        "commit order against a workflow's seq order: a transaction that took seq 2 commits before the one holding seq 1; the cut moves back, and verify passes"
    )
    func cutMovesBackBeforeInterleavedSeq() async throws {
        let dsn = try await newDatabase()
        let setup = try PGConnection(dsn: dsn)
        try AuditSchema.migrate(setup)
        // A: an old row in workflow other (A's transaction id comes first), then, after B, seq 2 of wf.
        // B: seq 1 of wf, recent. Commit order: A's rows, then B's; wf's seq order: B's, then A's.
        let (a, b) = (try PGConnection(dsn: dsn), try PGConnection(dsn: dsn))
        try a.exec("BEGIN")
        _ = try Self.insert(a, session: UUID(), prev: nil, workflow: "other", seq: 1, daysAgo: 20)
        try b.exec("BEGIN")
        _ = try Self.insert(b, session: UUID(), prev: nil, workflow: "wf", seq: 1, daysAgo: 0)
        try b.exec("COMMIT")
        let late = try Self.insert(a, session: UUID(), prev: nil, workflow: "wf", seq: 2, daysAgo: 20)
        try a.exec("COMMIT")
        #expect(
            try await scalar(dsn, "SELECT string_agg(workflow || seq, ',' ORDER BY governance_txid, chain_seq) FROM governance_audit_events")
                == "other1,wf2,wf1")

        #expect(try await Self.settled(dsn))
        let run = try await runCommand(
            [BinaryTests.binary, "retention", "run", "--dsn", dsn, "--keep", "7d"], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(run.status == 0 && run.output.contains("removed 1 rows"), "only other1 may go: \(run.output)")
        #expect(
            try await scalar(
                dsn,
                "SELECT string_agg(workflow || seq, ',' ORDER BY workflow, seq) FROM governance_audit_events WHERE kind <> 'audit.retention_seal'")
                == "wf1,wf2")
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events WHERE hmac_value = '\(late)'") == "1")
        let verified = try await runCommand([BinaryTests.binary, "verify", "--dsn", dsn], environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret])
        #expect(
            verified.status == 0 && verified.output.contains("all chains intact") && verified.output.contains("1 rows (1 seal"), "\(verified.output)")
    }

    @Test("retention settings: a keep below the minimum, a malformed period and a missing keep are refused at start-up, naming the key")
    func settingsRefused() throws {
        let dsn = "host=/nonexistent"
        for (settings, key, words) in [
            ("  keep: 3d", "retention.keep", "shorter than retention.minimum (7d)"),
            ("  keep: 30d\n  minimum: 90d", "retention.keep", "shorter than retention.minimum (90d)"),
            ("  keep: 400 days", "retention.keep", "400d"),
            ("  minimum: 7d", "retention.keep", "is required"),
        ] {
            #expect {
                try CollectorPlan.parse(yaml: chainedYAML(dsn: dsn) + "\nretention:\n" + settings + "\n", file: "t.yaml", environment: [:])
            } throws: {
                "\($0)".contains(key) && "\($0)".contains(words)
            }
        }
        // The seal is chained: a pipeline without the chain and no GOVERNANCE_AUDIT_SECRET is refused.
        let unchained = collectorYAML(dsn: dsn) + "\nretention:\n  keep: 30d\n"
        #expect { try CollectorPlan.parse(yaml: unchained, file: "t.yaml", environment: [:]) } throws: {
            "\($0)".contains("retention.pipeline") && "\($0)".contains("GOVERNANCE_AUDIT_SECRET")
        }
        #expect(
            try CollectorPlan.parse(yaml: unchained, file: "t.yaml", environment: ["GOVERNANCE_AUDIT_SECRET": auditSecret]).settings(
                of: "retention", as: RetentionConfig.self)?.keep.days == 30)
        #expect(
            try CollectorPlan.parse(yaml: chainedYAML(dsn: dsn) + "\nretention:\n  keep: 52w\n", file: "t.yaml", environment: [:]).settings(
                of: "retention", as: RetentionConfig.self)?.keep.days == 364)
    }
}
