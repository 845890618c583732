import AuditStore
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Receivers
import Synchronization

/// `governance-bench --faults`: the real binary under sustained single-event load (with seq,
/// chain and a durable platform bridge) while one fault at a time is injected and cleared.
/// After each: every event acknowledged with a 2xx is in PostgreSQL exactly once, seq is
/// gapless, every chain verifies, the platform received every stored event in seq order, and
/// the report says how long recovery took, with no restart of anything but the faulty part.
struct FaultSuite {
    let binary: String
    static let token = "wf_fault_suite_token_not_secret_01"
    static let platformToken = "wf_fault_suite_platform_token_02"
    static let secret = "fault-suite-audit-secret-0123456789"

    struct Fault: Sendable {
        var name: String
        /// Breaks something; returns how to repair it.
        var inject: @Sendable (Context) async throws -> (@Sendable () async throws -> Void)
        var hold: Double
        /// What recovery means: ingest answering 2xx again, or the platform receiving again.
        var recoveryOf: Recovery = .ingest
        var bridgeMayStop = false
        var bridgeQueue: Int? = nil
    }

    enum Recovery { case ingest, bridge }

    final class Context: Sendable {
        let cluster: LocalPostgres
        let dsn: String
        let peer: PlatformPeer
        let port: Int
        let config: String
        let log: String
        let binary: String
        private let running: Mutex<ChildProcess>
        /// The collector process now running (a new one after `restartCollector`).
        var process: ChildProcess { running.withLock { $0 } }

        init(cluster: LocalPostgres, dsn: String, peer: PlatformPeer, port: Int, config: String, log: String, binary: String) throws {
            (self.cluster, self.dsn, self.peer, self.port, self.config, self.log, self.binary) = (cluster, dsn, peer, port, config, log, binary)
            running = Mutex(try ChildProcess.spawn([binary, "run", "--config", config], outputPath: log))
        }

        func restartCollector() throws {
            let fresh = try ChildProcess.spawn([binary, "run", "--config", config], outputPath: log)
            running.withLock { $0 = fresh }
        }
    }

    static let faults: [Fault] = [
        Fault(
            name: "collector killed (kill -9), restarted after 1 s",
            inject: { c in
                c.process.stop(SIGKILL)
                return { try c.restartCollector() }
            }, hold: 1),
        Fault(
            name: "PostgreSQL restarted (fast shutdown, down 2 s)",
            inject: { c in
                try c.cluster.stop()
                return { try c.cluster.start() }
            }, hold: 2),
        Fault(
            name: "PostgreSQL frozen (SIGSTOP) 6 s, past commit_timeout 3 s",
            inject: { c in
                try c.cluster.pause()
                return { try c.cluster.resume() }
            }, hold: 6),
        Fault(
            name: "platform answering 503 for 4 s",
            inject: { c in
                var faults = PlatformPeer.Faults()
                faults.failNext = 1_000_000
                faults.failStatus = 503
                c.peer.setFaults(faults)
                return { c.peer.setFaults(.init()) }
            }, hold: 4, recoveryOf: .bridge),
        Fault(
            name: "platform slow (2 s per answer) for 4 s",
            inject: { c in
                var faults = PlatformPeer.Faults()
                faults.delay = .seconds(2)
                c.peer.setFaults(faults)
                return { c.peer.setFaults(.init()) }
            }, hold: 4, recoveryOf: .bridge),
        Fault(
            name: "platform rate-limiting (429, Retry-After: 1) for 4 s",
            inject: { c in
                var faults = PlatformPeer.Faults()
                faults.rateLimitNext = 1_000_000
                c.peer.setFaults(faults)
                return { c.peer.setFaults(.init()) }
            }, hold: 4, recoveryOf: .bridge),
        Fault(
            name: "platform token revoked (401: the bridge disables itself, ingest goes on)",
            inject: { c in
                c.peer.revoke(platformToken)
                return {}
            }, hold: 2, bridgeMayStop: true),
        Fault(
            name: "bridge memory queue (100) overflowing behind a 1 s platform for 4 s",
            inject: { c in
                var faults = PlatformPeer.Faults()
                faults.delay = .seconds(1)
                c.peer.setFaults(faults)
                return { c.peer.setFaults(.init()) }
            }, hold: 4, recoveryOf: .bridge, bridgeMayStop: true, bridgeQueue: 100),
    ]

    func run() async throws {
        let cluster = try LocalPostgres(fsync: true)
        defer { try? cluster.resume(); cluster.destroy() }
        print("| fault | acknowledged / sent | acknowledged missing | duplicates (table / platform) | seq | chains | platform | recovery |")
        print("|---|---|---|---|---|---|---|---|")
        for (index, fault) in Self.faults.enumerated() {
            let row = try await run(fault, index: index, cluster: cluster)
            print("| \(fault.name) | \(row.joined(separator: " | ")) |")
        }
        print(
            "\nLoad: 8 connections of single-event POSTs paced at 400/s; seq, chain and a platform bridge (durable unless a queue is named); PostgreSQL with fsync on."
        )
    }

    func run(_ fault: Fault, index: Int, cluster: LocalPostgres) async throws -> [String] {
        let dsn = try cluster.createDatabase("faults_\(index)")
        let peer = try PlatformPeer(tokens: [Self.platformToken: "wf-platform"])
        _ = try await peer.start()
        defer { Task { await peer.stop() } }
        let port = try LocalPostgres.freePort()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("gc-faults-\(index).yaml").path
        let log = config + ".log"
        try Self.yaml(dsn: dsn, port: port, peerURL: peer.url(), queue: fault.bridgeQueue).write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config); try? FileManager.default.removeItem(atPath: log) }
        let context = try Context(cluster: cluster, dsn: dsn, peer: peer, port: port, config: config, log: log, binary: binary)
        defer { context.process.stop(SIGTERM) }
        let url = "http://127.0.0.1:\(port)"
        try Bench.waitUntilReady(url)

        let load = SustainedLoad(url: url + IngestHTTPReceiver.eventsPath, token: Self.token, connections: 8, ratePerSecond: 400)
        try await Task.sleep(for: .seconds(2))
        let repair = try await fault.inject(context)
        try await Task.sleep(for: .seconds(fault.hold))
        let deliveredBefore = peer.accepted.count
        try await repair()
        let cleared = Date()
        // Recovery: ingest answering 2xx again, or the platform receiving again.
        var recovered: Double?
        while Date().timeIntervalSince(cleared) < 60, recovered == nil {
            switch fault.recoveryOf {
            case .ingest: if let first = load.firstSuccess(after: cleared) { recovered = first.timeIntervalSince(cleared) }
            case .bridge: if peer.accepted.count > deliveredBefore { recovered = Date().timeIntervalSince(cleared) }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .seconds(2))
        let outcomes = await load.stop()

        let acknowledged = Set(outcomes.filter { (200..<300).contains($0.status) }.map(\.id))
        let connection = try PGConnection(dsn: dsn)
        let stored = Set(
            try connection.exec("SELECT event_id FROM governance_audit_events").rows.compactMap { $0[0].flatMap(UUID.init(uuidString:)) })
        let rows = Int((try connection.exec("SELECT count(*) FROM governance_audit_events").rows.first?.first ?? nil) ?? "0") ?? 0
        // Recovery is from the repair to the first 2xx (ingest faults) or the first platform
        // delivery (platform faults).
        let seq = try connection.exec("SELECT count(*) = max(seq) AND min(seq) = 1 FROM governance_audit_events").rows.first?.first == "t"
        let chains = try ChainVerifier(connection: connection, secret: Self.secret).verify(.init())
        // The durable bridge catches up with everything stored (unless the fault stops it by design).
        var delivered = peer.accepted.count
        if !fault.bridgeMayStop {
            for _ in 0..<1500 where peer.accepted.count < rows { try await Task.sleep(for: .milliseconds(20)) }
            delivered = peer.accepted.count
        }
        let platformSeq = peer.accepted.map(\.seq) == (0..<peer.accepted.count).map { Int64($0 + 1) }
        let platform =
            fault.bridgeMayStop
            ? "\(delivered) of \(rows) (\(fault.bridgeQueue == nil ? "disabled by the 401, as specified" : "oldest dropped from the full queue, counted"))"
            : "\(delivered) of \(rows)\(delivered == rows && platformSeq ? ", seq 1…n" : " ✘")"
        return [
            "\(acknowledged.count) / \(outcomes.count)",
            acknowledged.subtracting(stored).isEmpty ? "0" : "\(acknowledged.subtracting(stored).count) ✘",
            "\(rows - stored.count) / \(peer.accepted.count - Set(peer.accepted.map(\.eventID)).count)",
            seq ? "gapless" : "gaps ✘",
            chains.isClean ? "\(chains.sessions) verify" : "\(chains.problems.count) problems ✘",
            platform,
            recovered.map { String(format: "%.2f s", $0) } ?? "none in 60 s ✘",
        ]
    }

    static func yaml(dsn: String, port: Int, peerURL: String, queue: Int?) -> String {
        """
        receivers:
          ingest_http:
            endpoint: 127.0.0.1:\(port)
            tokens: [{ workflow: faults, token_sha256: \(WorkflowTokens.sha256Hex(token)) }]
        processors:
          seq:
          chain: { secret: "\(secret)" }
        exporters:
          postgres: { dsn: "\(dsn)", commit_timeout: 3, max_reconnect_backoff: 0.5 }
          platform_bridge:
            platform_bridge_enabled: true
            platform_ingest_url: "\(peerURL)"
            platform_ingest_token: "\(platformToken)"
            durable: \(queue == nil)
            max_queue_size: \(queue ?? 1000)
            max_backoff: 0.5
            allow_loopback: true
        service:
          telemetry: { logs: { level: warning }, metrics: { endpoint: "127.0.0.1:0" } }
          pipelines:
            audit: { receivers: [ingest_http], processors: [seq, chain], exporters: [postgres, platform_bridge] }
        """
    }
}

/// Single-event POSTs from `connections` threads, paced, until `stop()`; each outcome keeps its
/// event id, status (0: no answer) and when the answer came.
final class SustainedLoad: Sendable {
    struct Outcome {
        var id: UUID
        var status: Int
        var at: Date
    }

    private let stopping = Atomic<Bool>(false)
    private let outcomes = Mutex<[Outcome]>([])
    private let group = DispatchGroup()
    /// Answers so far: 2xx, and anything else (including no answer).
    let succeeded = Atomic<Int>(0)
    let failed = Atomic<Int>(0)

    /// `keepOutcomes: false` only counts (a long soak would otherwise hold every id).
    init(url: String, token: String, connections: Int, ratePerSecond: Double, keepOutcomes: Bool = true) {
        let interval = Double(connections) / ratePerSecond
        for _ in 0..<connections {
            group.enter()
            Thread { [self] in
                let connection = CurlConnection()
                let headers = ["Authorization: Bearer \(token)", "Content-Type: application/json"]
                var next = Date()
                while !stopping.load(ordering: .relaxed) {
                    let id = UUID()
                    let status = (try? connection.request("POST", url, headers: headers, body: Array(Self.event(id).utf8)))?.status ?? 0
                    _ = (200..<300).contains(status) ? succeeded.add(1, ordering: .relaxed) : failed.add(1, ordering: .relaxed)
                    if keepOutcomes { outcomes.withLock { $0.append(Outcome(id: id, status: status, at: Date())) } }
                    next = max(next.addingTimeInterval(interval), Date().addingTimeInterval(status == 0 ? 0.05 : 0))
                    let wait = next.timeIntervalSinceNow
                    if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
                }
                group.leave()
            }.start()
        }
    }

    func firstSuccess(after time: Date) -> Date? {
        outcomes.withLock { $0.first { $0.at > time && (200..<300).contains($0.status) }?.at }
    }

    func stop() async -> [Outcome] {
        stopping.store(true, ordering: .relaxed)
        await withCheckedContinuation { done in group.notify(queue: .global()) { done.resume() } }
        return outcomes.withLock { $0 }
    }

    /// An event the collector numbers and chains (no client HMAC), in one of 16 sessions.
    /// A single event in one of 16 sessions numbered from `firstSession`.
    static func event(_ id: UUID, firstSession: Int = 0) -> String {
        let session = String(format: "00000000-0000-4000-8000-%012x", firstSession + Int(id.uuid.0 % 16))
        return """
            {"event_id":"\(id.uuidString.lowercased())","event_type":"tool.call","agent_id":"agent-\(id.uuid.1 % 8)","seq":1,\
            "payload":{"session_id":"\(session)","kind":"tool.call","created_at":"2026-11-24T12:00:00.000120+00:00",\
            "metadata":{"tool":"search"},"signature_status":"unsigned"},"sdk_version":"0.7.3"}
            """
    }
}
