import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import Testing

/// Chain key rotation shared with the reference SDK (Tests/interop/sdk_rotation.py): on one
/// table, the SDK writes under key A and rotates to B with its `rotate_chain_key`; the SDK and a
/// collector write under B; the collector's `chain rotate` goes to C; both write under C. Our
/// `verify` and the SDK's `verify_chain_with_rotation` must both accept the whole table, and
/// both must refuse it when a marker's `hmac_next` is wrong.
@Suite("chain key rotation: the SDK's and ours, on one table, checked by both verifiers")
struct ChainRotationTests {
    /// Three keys as text (the collector's `secret` and GOVERNANCE_AUDIT_SECRET are UTF-8), and
    /// in base64 for env:// URIs, which is how the SDK reads them.
    static let keys = ["A", "B", "C"].map { "rotation-key-\($0)-" + UUID().uuidString }
    static var environment: [String: String] {
        Dictionary(uniqueKeysWithValues: zip(["KA", "KB", "KC"], keys.map { Data($0.utf8).base64EncodedString() }))
    }

    /// The database at `dsn` as the URL the SDK takes.
    func url(_ dsn: String) async throws -> String {
        sharedCluster.url(database: try #require(try await scalar(dsn, "SELECT current_database()")))
    }

    func sdk(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("interop/sdk_rotation.py").path
        return try await runCommand([try sdkPython(), script] + arguments, environment: Self.environment)
    }

    /// Our verify with `current` as GOVERNANCE_AUDIT_SECRET and the other keys as --key.
    func verify(_ dsn: String, current: Int, others: [Int]) async throws -> (status: Int32, output: String) {
        try await runCommand(
            [BinaryTests.binary, "verify", "--dsn", dsn] + others.flatMap { ["--key", "env://K" + ["A", "B", "C"][$0]] },
            environment: Self.environment.merging(["GOVERNANCE_AUDIT_SECRET": Self.keys[current]]) { _, new in new })
    }

    /// The SDK verifier's result: {"rows", "verified", "failed", "unverified", "status"}.
    func sdkVerify(_ dsn: String) async throws -> [String: Any] {
        let (status, output) = try await sdk(["verify", try await url(dsn), "KA", "KB", "KC"])
        #expect(status == 0, "\(output)")
        let line = try #require(output.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    /// A collector chaining with key `key` stores two events in each session.
    func collectorWrites(_ dsn: String, key: Int, sessions: [UUID]) async throws {
        let yaml = chainedYAML(dsn: dsn).replacingOccurrences(of: auditSecret, with: Self.keys[key])
        try await RunningCollector.with(yaml: yaml) { collector in
            try await collector.waitUntilReady()
            for session in sessions {
                for n in 0..<2 {
                    let r = try await post(collector.eventsURL, unchainedEvent(session: session, metadata: #"{"n":\#(n)}"#))
                    #expect(r.status == 201, "\(r.text)")
                }
            }
        }
    }

    @Test("SDK rotates A to B, we rotate B to C; events before, between and after verify with both verifiers; a bad hmac_next fails both")
    func sharedRotation() async throws {
        let dsn = try await newDatabase()
        let (shared, ours) = (UUID(), UUID())
        let url = try await url(dsn)
        func sdkStep(_ arguments: [String]) async throws {
            let (status, output) = try await sdk(arguments)
            #expect(status == 0, "\(arguments[0]): \(output)")
        }

        // Before: the SDK alone, on a table only the SDK has touched.
        try await sdkStep(["setup", url, "KA"])
        try await sdkStep(["log", url, "KA", shared.uuidString, "3"])
        try await sdkStep(["rotate", url, "KA", "KB"])
        try await sdkStep(["log", url, "KB", shared.uuidString, "2"])
        #expect(
            try await scalar(
                dsn, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'governance_audit_events'::regclass AND attname IN ('workflow', 'seq')")
                == "0",
            "the table must still be the SDK's own, without the collector's columns")
        let sdkOnly = try await verify(dsn, current: 1, others: [0])
        #expect(sdkOnly.status == 0, "verify on the SDK's unmigrated table: \(sdkOnly.output)")
        #expect(sdkOnly.output.contains("checked 6 rows in 2 sessions, 2 key versions, 1 rotation(s): all chains intact"), "\(sdkOnly.output)")

        // Between: the collector migrates the table and writes under B, into the SDK's session too.
        let migrated = try await runCommand([BinaryTests.binary, "migrate", "--dsn", dsn])
        #expect(migrated.status == 0, "\(migrated.output)")
        try await collectorWrites(dsn, key: 1, sessions: [shared, ours])

        // Our rotation, B to C, then after: the collector and the SDK under C.
        let rotated = try await runCommand(
            [BinaryTests.binary, "chain", "rotate", "--dsn", dsn, "--new-key", "env://KC"],
            environment: Self.environment.merging(["GOVERNANCE_AUDIT_SECRET": Self.keys[1]]) { _, new in new })
        #expect(rotated.status == 0, "\(rotated.output)")
        try await collectorWrites(dsn, key: 2, sessions: [shared, ours])
        try await sdkStep(["log", url, "KC", shared.uuidString, "2"])

        let markers = try PGConnection(dsn: dsn).exec(
            "SELECT chain_seq FROM governance_audit_events WHERE kind = 'audit.chain_key_rotation' ORDER BY chain_seq"
        ).rows.map { $0[0] ?? "" }
        #expect(markers.count == 2 && markers.first == "4", "the SDK's marker after its 3 rows, then ours: \(markers)")
        // Each version covers activated ≤ chain_seq < retired; the incoming one starts after its marker.
        let bounds = markers.compactMap { Int($0) }.map { String($0 + 1) }
        #expect(
            try await scalar(
                dsn,
                "SELECT string_agg(key_version || ':' || activated_at_chain_seq || '-' || coalesce(retired_at_chain_seq::text, ''), ' ' ORDER BY key_version) FROM governance_audit_chain_keys"
            )
                == "1:1-\(bounds[0]) 2:\(bounds[0])-\(bounds[1]) 3:\(bounds[1])-")

        let all = try await verify(dsn, current: 2, others: [0, 1])
        #expect(all.status == 0, "\(all.output)")
        #expect(all.output.contains("checked 17 rows in 3 sessions, 3 key versions, 2 rotation(s): all chains intact"), "\(all.output)")
        let theirs = try await sdkVerify(dsn)
        #expect(theirs["status"] as? String == "ok" && theirs["failed"] as? Int == 0 && theirs["verified"] as? Int == 17, "\(theirs)")

        // Without the key a part of the table was written under, our verify says which version it lacks.
        let missingA = try await verify(dsn, current: 2, others: [1])
        #expect(missingA.status == 1 && missingA.output.contains("cannot verify"), "\(missingA.output)")

        // A wrong hmac_next on either marker (the SDK's or ours) fails both verifiers.
        for marker in markers {
            let copy = try await CheckpointTests.copy(of: dsn)
            let connection = try PGConnection(dsn: copy)
            try connection.exec("SET session_replication_role = replica")
            try connection.exec("UPDATE governance_audit_events SET hmac_next = md5(hmac_next) || md5(hmac_value) WHERE chain_seq = \(marker)")
            let ourVerdict = try await verify(copy, current: 2, others: [0, 1])
            #expect(ourVerdict.status == 1, "\(ourVerdict.output)")
            #expect(
                ourVerdict.output.contains("first bad row chain_seq=\(marker)")
                    && ourVerdict.output.contains("hmac_next does not verify under the incoming key"),
                "\(ourVerdict.output)")
            let sdkVerdict = try await sdkVerify(copy)
            #expect(sdkVerdict["status"] as? String == "failed" && sdkVerdict["failed"] as? Int == 1, "marker \(marker): \(sdkVerdict)")
        }
    }
}
