import ArgumentParser
import AuditStore
import Collector
import Config
import Foundation
import GovernanceTesting
import Pipeline
import Retention
import Transparency

/// The cost of signed checkpoints over a large table: rows loaded by binary COPY (the baseline,
/// same run), then the signer's steps appending every row to the tree in process (one
/// checkpoint at the end), then `governance-collector checkpoint verify` recomputing the tree
/// from the table with only the public key, and one inclusion proof.
struct CheckpointBench {
    let binary: String
    let events: Int

    func run(cluster: LocalPostgres) async throws -> [(String, String, String)] {
        var rows: [(String, String, String)] = []
        let t0 = Date()
        let (dsn, connection, _) = try TimelineBench.loadDatabase("bench_checkpoints", events: events, cluster: cluster)
        let copySeconds = Date().timeIntervalSince(t0)
        rows.append(
            (
                "raw binary COPY (checkpoint baseline)", "\(events) rows",
                "\(Int(Double(events) / copySeconds)) rows/s = \(Bench.microseconds(copySeconds, per: events)) µs/row"
            ))

        let store = CheckpointStore(connection: connection)
        try store.migrate()
        var config = CheckpointsConfig(signer: try NoteSigner.generate(name: "bench.example/audit"))
        config.maxEvents = events
        config.interval = 86400
        let step = CheckpointStep(store: store, config: config)
        let wall0 = ProcessInfo.processInfo.systemUptime, own0 = Bench.cpuSeconds(getpid())
        var signedSize = 0
        while true {
            guard case .appended(_, let caughtUp, let signed) = try step.run() else { break }
            if let signed { signedSize = signed.size }
            if caughtUp || signedSize == events { break }
        }
        let appendSeconds = ProcessInfo.processInfo.systemUptime - wall0, ownCPU = Bench.cpuSeconds(getpid()) - own0
        rows.append(
            (
                "checkpoint signer: append every row to the tree, sign once", "\(signedSize) rows",
                "\(Int(Double(signedSize) / appendSeconds)) rows/s = \(Bench.microseconds(appendSeconds, per: max(signedSize, 1))) µs/row "
                    + "(\(String(format: "%.2f", appendSeconds / copySeconds))× the COPY time); signer CPU \(Bench.microseconds(ownCPU, per: max(signedSize, 1))) µs/row"
            ))

        // The continuous verifier over the same rows, as new rows: its own tree, the checkpoint
        // checked with the public key. The bench's rows are not chained, so no HMAC is checked.
        let verifier = try PGConnection(dsn: dsn)
        let verification = VerificationStep(connection: verifier, trusted: [config.signer.verifier], chainSecret: nil)
        let vw0 = ProcessInfo.processInfo.systemUptime, vc0 = Bench.cpuSeconds(getpid())
        var verified: VerificationProgress?
        while case .checked(_, let caughtUp, let progress, _, _) = try verification.run() {
            verified = progress
            if caughtUp { break }
        }
        let vwall = ProcessInfo.processInfo.systemUptime - vw0, vcpu = Bench.cpuSeconds(getpid()) - vc0
        let checkedRows = Int(verified?.rowsChecked ?? 0)
        rows.append(
            (
                "continuous verifier: new rows against the signed checkpoint (no HMAC: rows unchained)",
                "\(checkedRows) rows\(verified?.failure == nil && verified?.checkedSize == signedSize ? "" : " (FAILED!)")",
                "\(Int(Double(checkedRows) / vwall)) rows/s = \(Bench.microseconds(vwall, per: max(checkedRows, 1))) µs/row "
                    + "(\(String(format: "%.2f", vwall / copySeconds))× the COPY time); verifier CPU \(Bench.microseconds(vcpu, per: max(checkedRows, 1))) µs/row"
            ))

        let key = FileManager.default.temporaryDirectory.appendingPathComponent("gc-bench-checkpoint-\(getpid()).pub").path
        try (config.signer.verifier.encoded + "\n").write(toFile: key, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: key) }
        let v0 = Date()
        let status = try await ChildProcess.spawn([binary, "checkpoint", "verify", "--dsn", dsn, "--public-key", key], outputPath: "/dev/null")
            .exitStatus()
        let verifySeconds = Date().timeIntervalSince(v0)
        rows.append(
            (
                "checkpoint verify (public key only) over the whole table", "\(signedSize) rows\(status == 0 ? "" : " (exit \(status)!)")",
                "\(String(format: "%.1f", verifySeconds)) s = \(Bench.microseconds(verifySeconds, per: max(signedSize, 1))) µs/row (\(String(format: "%.1f", verifySeconds / copySeconds))× the COPY time)"
            ))

        let p0 = Date()
        let proved = try await ChildProcess.spawn(
            [binary, "prove", "--dsn", dsn, TimelineBench.event(events / 2).eventID.lowercasedString], outputPath: "/dev/null"
        ).exitStatus()
        rows.append(
            (
                "prove: one inclusion proof at this size", "1 event\(proved == 0 ? "" : " (exit \(proved)!)")",
                "\(String(format: "%.2f", Date().timeIntervalSince(p0))) s"
            ))

        // Proofs in process, as the read API gives them: each reads O(log n) stored hashes.
        // Baseline: one leaf's row by its primary key, on the same connection.
        let prover = CheckpointProver(connection: connection)
        let probes = (0..<200).map { _ in Int.random(in: 0..<signedSize) }
        let ids = try probes.map { try Self.eventID(atLeaf: $0, on: connection) }
        let lookup = try Bench.percentiles(probes) { index in
            _ = try CheckpointTables.leafHashes(index..<index + 1, on: connection)
        }
        let inclusion = try Bench.percentiles(ids) { id in _ = try prover.inclusion(of: id, checkpointSize: nil) }
        let nodes = MerkleNodes(connection: connection)
        let consistency = try Bench.percentiles(probes) { old in
            _ = try nodes.roots(of: MerkleProof.consistencyRanges(oldSize: max(old, 1), newSize: signedSize))
        }
        for (name, figures) in [
            ("SQL baseline: one leaf by its primary key", lookup), ("inclusion proof (the read API's, checked against the checkpoint)", inclusion),
            ("consistency proof's hashes, from a random older size", consistency),
        ] {
            rows.append(
                (
                    name, "200 at \(signedSize) rows",
                    String(
                        format: "p50 %.2f ms, p95 %.2f ms (%.1f× the baseline's p95)", figures.p50 * 1000, figures.p95 * 1000,
                        figures.p95 / lookup.p95)
                ))
        }

        rows += try await evidence(dsn: dsn, signer: config.signer, rows: signedSize, copySeconds: copySeconds)

        // Retention over the same table: rows received as they were created (30 days), keep 7 days, one pass.
        try connection.exec("SET session_replication_role = replica")
        try connection.exec("UPDATE governance_audit_events SET received_at = created_at")
        try connection.exec("RESET session_replication_role")
        try connection.exec("VACUUM ANALYZE governance_audit_events")
        let r0 = Date()
        let outcome = try RetentionRun(connection: connection, tree: CompactMerkleTree.self).run(
            keep: RetentionPeriod(days: 7, text: "7d"), secret: Array("bench-secret".utf8),
            maxRows: events, checkpointed: true)
        let retentionSeconds = Date().timeIntervalSince(r0)
        guard case .removed(let removal) = outcome else { throw ValidationError("retention removed nothing: \(outcome)") }
        rows.append(
            (
                "retention: one sealed pass (keep 7d of 30 days)", "\(removal.rows) rows removed",
                "\(String(format: "%.1f", retentionSeconds)) s = \(Bench.microseconds(retentionSeconds, per: Int(removal.rows))) µs/row (\(String(format: "%.2f", retentionSeconds / copySeconds))× the COPY time of the whole table)"
            ))
        let a0 = Date()
        let after = try await ChildProcess.spawn([binary, "checkpoint", "verify", "--dsn", dsn, "--public-key", key], outputPath: "/dev/null")
            .exitStatus()
        let afterSeconds = Date().timeIntervalSince(a0)
        rows.append(
            (
                "checkpoint verify after retention (continues from the seal)",
                "\(signedSize - Int(removal.rows)) rows\(after == 0 ? "" : " (exit \(after)!)")",
                "\(String(format: "%.1f", afterSeconds)) s"
            ))
        return rows
    }

    /// `governance-collector evidence` of the whole month (every row, one checkpoint) and
    /// scripts/verify_evidence.py over the zip: wall time and peak RSS (/usr/bin/time) of each.
    func evidence(dsn: String, signer: NoteSigner, rows: Int, copySeconds: Double) async throws -> [(String, String, String)] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gc-bench-evidence-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        FileManager.default.createFile(
            atPath: folder + "/checkpoint.key", contents: Data((signer.encoded + "\n").utf8), attributes: [.posixPermissions: 0o600])
        try (signer.verifier.encoded + "\n").write(toFile: folder + "/checkpoint.key.pub", atomically: true, encoding: .utf8)
        try """
        receivers:
          ingest_http: { endpoint: 127.0.0.1:0, tokens: [{ workflow: bench, token_sha256: \(String(repeating: "0", count: 64)) }] }
        exporters:
          postgres: { dsn: "\(dsn)" }
        checkpoints:
          signing_key_file: \(folder)/checkpoint.key
        service:
          pipelines:
            audit: { receivers: [ingest_http], exporters: [postgres] }
        """.write(toFile: folder + "/config.yaml", atomically: true, encoding: .utf8)
        let from = Timestamp(microseconds: TimelineBench.start).pythonISOFormat
        let to = Timestamp(microseconds: TimelineBench.start + 31 * 86_400_000_000).pythonISOFormat
        let bundle = folder + "/month.zip"
        let build = try await Self.timed(
            [binary, "evidence", "--config", folder + "/config.yaml", "--from", from, "--to", to, "--out", bundle], folder: folder)
        let size = (try? FileManager.default.attributesOfItem(atPath: bundle)[.size] as? Int) ?? 0
        let venv = ".build/interop-venv/bin/python"
        let python = FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
        let check = try await Self.timed([python, "scripts/verify_evidence.py", bundle, folder + "/checkpoint.key.pub"], folder: folder)
        func figures(_ run: (status: Int32, seconds: Double, peakMiB: Int)) -> String {
            String(
                format: "%.1f s = %.1f µs/row (%.1f× the COPY time); peak RSS %d MiB", run.seconds, run.seconds * 1e6 / Double(max(rows, 1)),
                run.seconds / copySeconds, run.peakMiB)
        }
        return [
            (
                "evidence: bundle of a month (governance-collector evidence)",
                "\(rows) rows, \(size / 1_048_576) MiB zip\(build.status == 0 ? "" : " (exit \(build.status)!)")",
                figures(build)
            ),
            (
                "evidence: verified offline (scripts/verify_evidence.py)", "\(rows) rows\(check.status == 0 ? "" : " (exit \(check.status)!)")",
                figures(check)
            ),
        ]
    }

    /// Runs `command` under /usr/bin/time: its exit status, wall seconds and peak RSS.
    static func timed(_ command: [String], folder: String) async throws -> (status: Int32, seconds: Double, peakMiB: Int) {
        let rss = folder + "/rss-\(UUID().uuidString)"
        let t = Date()
        let status = try await ChildProcess.spawn(["/usr/bin/time", "-f", "%M", "-o", rss] + command, outputPath: "/dev/null").exitStatus()
        let kib = Int((try? String(contentsOfFile: rss, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        return (status, Date().timeIntervalSince(t), kib / 1024)
    }

    static func eventID(atLeaf index: Int, on connection: PGConnection) throws -> UUID {
        guard let id = try CheckpointTables.leafHashes(index..<index + 1, on: connection).first.flatMap({ UUID(text: $0.eventID) }) else {
            throw ValidationError("no leaf \(index)")
        }
        return id
    }
}
