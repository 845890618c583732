import ArgumentParser
import AuditStore
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Receivers
import Synchronization

/// `governance-bench --soak SECONDS`: the real binary (size_cap, sanitize, seq, chain) under a
/// steady single-event load at half of the capacity measured first, printing throughput, RSS
/// and CPU over time, then whether RSS grew over the run (a leak) or stayed flat.
struct Soak {
    let binary: String
    let seconds: Double
    static let token = "wf_soak_token_not_secret_00000001"

    func run() async throws {
        let cluster = try LocalPostgres(fsync: true)
        defer { cluster.destroy() }
        let dsn = try cluster.createDatabase("soak")
        let port = try LocalPostgres.freePort()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("gc-soak.yaml").path
        try """
        receivers:
          ingest_http: { endpoint: "127.0.0.1:\(port)", tokens: [{ workflow: soak, token_sha256: \(WorkflowTokens.sha256Hex(Self.token)) }] }
        processors:
          size_cap:
          sanitize:
          seq:
          chain: { secret: "soak-audit-secret-0123456789abcdef" }
        exporters: { postgres: { dsn: "\(dsn)" } }
        service:
          telemetry: { logs: { level: warning }, metrics: { endpoint: "127.0.0.1:0" } }
          pipelines: { audit: { receivers: [ingest_http], processors: [size_cap, sanitize, seq, chain], exporters: [postgres] } }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let log = config + ".log"
        let child = try ChildProcess.spawn([binary, "run", "--config", config], outputPath: log)
        defer { child.stop(SIGTERM); try? FileManager.default.removeItem(atPath: log) }
        let url = "http://127.0.0.1:\(port)"
        do {
            try Bench.waitUntilReady(url)
        } catch {
            throw ValidationError("the collector did not start: \((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(1000) ?? "")")
        }
        let eventsURL = url + IngestHTTPReceiver.eventsPath

        // Capacity: 10 s unpaced over 16 connections.
        let probe = SustainedLoad(url: eventsURL, token: Self.token, connections: 16, ratePerSecond: 1_000_000, keepOutcomes: false)
        try await Task.sleep(for: .seconds(10))
        _ = await probe.stop()
        let capacity = Double(probe.succeeded.load(ordering: .relaxed)) / 10
        let rate = capacity / 2
        print("capacity (16 connections, unpaced, 10 s): \(Int(capacity)) events/s; soaking at \(Int(rate)) events/s for \(Int(seconds)) s\n")
        print("| elapsed | events/s (2xx) | refused | collector RSS | collector CPU |")
        print("|---|---|---|---|---|")
        fflush(nil)

        let load = SustainedLoad(url: eventsURL, token: Self.token, connections: 16, ratePerSecond: rate, keepOutcomes: false)
        let interval = max(5, seconds / 20)
        var samples: [(t: Double, rss: Double)] = []
        let start = Date()
        var last = (ok: 0, failed: 0, cpu: Bench.cpuSeconds(child.pid), at: start)
        while Date().timeIntervalSince(start) < seconds {
            try await Task.sleep(for: .seconds(min(interval, seconds - Date().timeIntervalSince(start))))
            let now = Date()
            let ok = load.succeeded.load(ordering: .relaxed), failed = load.failed.load(ordering: .relaxed), cpu = Bench.cpuSeconds(child.pid)
            let window = now.timeIntervalSince(last.at)
            let rss = Double(Bench.memoryKiB(child.pid, "VmRSS") ?? 0) / 1024
            samples.append((now.timeIntervalSince(start), rss))
            print(
                "| \(Int(now.timeIntervalSince(start))) s | \(Int(Double(ok - last.ok) / window)) | \(failed - last.failed) | \(String(format: "%.1f", rss)) MiB | \(Int((cpu - last.cpu) / window * 100))% |"
            )
            fflush(nil)
            last = (ok, failed, cpu, now)
        }
        _ = await load.stop()
        let stored = Int((try PGConnection(dsn: dsn).exec("SELECT count(*) FROM governance_audit_events").rows.first?.first ?? nil) ?? "0") ?? 0

        // Trend over the run after the first fifth (warm-up: caches, connection buffers).
        let steady = samples.filter { $0.t >= seconds / 5 }
        let slope = Self.slope(steady)
        let growth = slope * (steady.last.map { $0.t - steady[0].t } ?? 0)
        let flat = growth < max(2, (steady.first?.rss ?? 0) * 0.03)
        print(
            "\nRSS after warm-up: \(String(format: "%.1f", steady.first?.rss ?? 0)) → \(String(format: "%.1f", steady.last?.rss ?? 0)) MiB; "
                + "trend \(String(format: "%+.2f", slope * 3600)) MiB/hour (\(String(format: "%+.2f", growth)) MiB over the steady part): "
                + (flat ? "flat" : "GROWING"))
        print(
            "acknowledged \(load.succeeded.load(ordering: .relaxed)), stored \(stored - probe.succeeded.load(ordering: .relaxed)) (after the capacity probe's \(probe.succeeded.load(ordering: .relaxed)))"
        )
        if !flat { throw ValidationError("RSS grew by \(String(format: "%.1f", growth)) MiB during the soak") }
    }

    /// Least-squares slope of RSS over time, MiB per second.
    static func slope(_ points: [(t: Double, rss: Double)]) -> Double {
        guard points.count >= 2 else { return 0 }
        let n = Double(points.count)
        let meanT = points.map(\.t).reduce(0, +) / n, meanR = points.map(\.rss).reduce(0, +) / n
        let numerator = points.map { ($0.t - meanT) * ($0.rss - meanR) }.reduce(0, +)
        let denominator = points.map { ($0.t - meanT) * ($0.t - meanT) }.reduce(0, +)
        return denominator == 0 ? 0 : numerator / denominator
    }
}
