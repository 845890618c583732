import AuditStore
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import OTLP
import Pipeline
import Receivers
import Synchronization

/// `governance-bench --hostile`: the real binary with its default limits, one attack at a time,
/// while a paced honest client of another workflow keeps working: an SDK posting single events,
/// an OpenTelemetry exporter over gRPC, or a health probe, whichever the attack aims at. Each row: the honest client's
/// success and p99 (the first row is the same client without an attack), the collector's
/// peak RSS and open fds during the attack and its RSS after it, and whether every event the
/// collector acknowledged (the honest client's and the attackers') is stored.
struct HostileSuite {
    let binary: String
    /// How long each attack (and the honest client beside it) runs.
    let seconds: Double
    /// Runs only the attacks whose name contains this (the baseline always runs).
    var only: String?
    /// The attackers' workflow token, and the honest client's (another workflow).
    static let token = "wf_hostile_suite_token_not_secret"
    static let honestToken = "wf_hostile_suite_honest_not_secret"
    static let fuzzCorpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/Corpus").path

    struct Ports: Sendable {
        var ingest: Int, grpc: Int, otlpHTTP: Int, telemetry: Int
    }

    /// Who keeps working beside an attack, 100 requests a second.
    enum HonestClient: Sendable {
        /// The platform SDK's bridge: single events over HTTP/1.1.
        case sdkBridge
        /// An OpenTelemetry exporter: one log record per gRPC call, gzip.
        case grpcExporter
        /// A load balancer's probe of `/healthz` on the telemetry port.
        case healthProbe
    }

    /// One attack: runs until `stop` is set; returns the ids of events the collector acknowledged.
    struct Attack: Sendable {
        var name: String
        var honest = HonestClient.sdkBridge
        var run: @Sendable (Ports, StopFlag) -> [UUID]
    }

    static let attacks: [Attack] = [
        Attack(name: "none (baseline)") { _, _ in [] },
        Attack(name: "slow headers: 1,000 connections, a header byte every second") { ports, stop in
            holdConnections(1_000, port: ports.ingest, stop: stop, first: "POST \(IngestHTTPReceiver.eventsPath) HTTP/1.1\r\n", trickle: "X")
            return []
        },
        Attack(name: "slow bodies: 200 connections announcing 16 MiB batches, a body byte every second") { ports, stop in
            holdConnections(200, port: ports.ingest, stop: stop, first: head(IngestHTTPReceiver.batchPath, length: 16 << 20), trickle: " ")
            return []
        },
        Attack(name: "idle connections: 3,000 opened and silent") { ports, stop in
            holdConnections(3_000, port: ports.ingest, stop: stop, first: "", trickle: nil)
            return []
        },
        Attack(name: "8 concurrent 15.6 MB batches (72,000 events), repeated") { ports, stop in
            maxSizeBatches(port: ports.ingest, stop: stop)
        },
        Attack(name: "malformed HTTP/1.1 (bad request lines, chunking, 100 KB headers, bare LF)") { ports, stop in
            malformedHTTP1(port: ports.ingest, stop: stop)
            return []
        },
        Attack(name: "malformed HTTP/2 frames on the gRPC port") { ports, stop in
            malformedHTTP2(port: ports.grpc, stop: stop)
            return []
        },
        Attack(name: "fuzz corpus and crash inputs, replayed to their endpoints") { ports, stop in
            replayCorpus(ports: ports, stop: stop)
            return []
        },
        Attack(name: "token holder flooding single events, 32 connections unpaced") { ports, stop in
            flood(port: ports.ingest, stop: stop)
        },
        Attack(name: "gRPC: 8 connections × 100 streams, each an 8 KB gzip message inflating to 8 MiB", honest: .grpcExporter) { ports, stop in
            inflatingStreams(port: ports.grpc, stop: stop)
            return []
        },
        Attack(name: "OTLP/HTTP: 2 senders of 10,000 log records per request, each record its own session") { ports, stop in
            manySessions(port: ports.otlpHTTP, stop: stop)
        },
        Attack(name: "gRPC, unauthenticated: 1,100 connections sending only the HTTP/2 preface", honest: .grpcExporter) { ports, stop in
            holdConnections(1_100, port: ports.grpc, stop: stop, first: String(decoding: RawHTTP2.preface, as: UTF8.self), trickle: nil)
            return []
        },
        Attack(name: "telemetry port: 600 slow-header connections (its cap is 512)", honest: .healthProbe) { ports, stop in
            holdConnections(600, port: ports.telemetry, stop: stop, first: "GET /healthz HTTP/1.1\r\n", trickle: "X")
            return []
        },
    ]

    func run() async throws {
        let cluster = try LocalPostgres(fsync: true)
        defer { cluster.destroy() }
        print("| attack | honest client | its success | p99 | collector peak RSS | RSS after | peak fds | acknowledged missing |")
        print("|---|---|---|---|---|---|---|---|")
        fflush(nil)
        for (index, attack) in Self.attacks.enumerated() where index == 0 || only.map({ attack.name.contains($0) }) ?? true {
            print("| \(attack.name) | \(attack.honest) | \(try await run(attack, index: index, cluster: cluster).joined(separator: " | ")) |")
            fflush(nil)
        }
        print(
            "\nHonest client (workflow `honest`; attackers hold workflow `hostile`'s token or none): 4 keep-alive connections "
                + "(sdkBridge, healthProbe) or 4 concurrent calls on one HTTP/2 connection (grpcExporter), paced at 100 requests/s for \(Int(seconds)) s beside each attack; "
                + "success is a 2xx, or a gRPC OK without partial success; collector: size_cap, sanitize, seq, chain, PostgreSQL with fsync on, default limits (in_flight_limit_mib 128)."
        )
    }

    func run(_ attack: Attack, index: Int, cluster: LocalPostgres) async throws -> [String] {
        let dsn = try cluster.createDatabase("hostile_\(index)")
        let ports = Ports(
            ingest: try LocalPostgres.freePort(), grpc: try LocalPostgres.freePort(), otlpHTTP: try LocalPostgres.freePort(),
            telemetry: try LocalPostgres.freePort())
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("gc-hostile-\(index).yaml").path
        let log = config + ".log"
        try Self.yaml(dsn: dsn, ports: ports).write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config); try? FileManager.default.removeItem(atPath: log) }
        let child = try ChildProcess.spawn([binary, "run", "--config", config], outputPath: log)
        defer { child.stop(SIGTERM) }
        try Bench.waitUntilReady("http://127.0.0.1:\(ports.ingest)")

        let stop = StopFlag()
        let peakFDs = PeakCounter()
        let pid = child.pid
        Thread {
            while !stop.isSet {
                peakFDs.observe((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0)
                usleep(100_000)
            }
        }.start()
        let attackDone = DispatchSemaphore(value: 0)
        let attackAcknowledged = Box<[UUID]>([])
        Thread {
            attackAcknowledged.set(attack.run(ports, stop))
            attackDone.signal()
        }.start()

        let total = Int(Self.honestRate * seconds)
        let honest = try await Self.honest(attack.honest, ports: ports, total: total)
        stop.set()
        await withCheckedContinuation { done in
            Thread {
                attackDone.wait(); done.resume()
            }.start()
        }
        let alive = (try? CurlConnection().request("GET", "http://127.0.0.1:\(ports.ingest)/readyz"))?.status == 200
        // Memory after the burst: what the collector holds once the attack is over.
        try await Task.sleep(for: .seconds(2))
        let peakRSS = Double(Bench.memoryKiB(child.pid, "VmHWM") ?? 0) / 1024
        let afterRSS = Double(Bench.memoryKiB(child.pid, "VmRSS") ?? 0) / 1024

        let acknowledged = Set(honest.compactMap(\.acknowledged)).union(attackAcknowledged.get())
        let stored = Set(
            try PGConnection(dsn: dsn).exec("SELECT event_id FROM governance_audit_events").rows.compactMap { $0[0].flatMap(UUID.init(uuidString:)) })
        let missing = acknowledged.subtracting(stored).count
        let succeeded = honest.filter(\.succeeded)
        let p99 = succeeded.map(\.latency).sorted().dropFirst(max(0, Int(Double(succeeded.count) * 0.99) - 1)).first ?? 0
        return [
            String(format: "%.1f%% (%d/%d)", Double(succeeded.count) / Double(total) * 100, succeeded.count, total),
            String(format: "%.1f ms", p99 * 1000),
            String(format: "%.0f MiB", peakRSS),
            String(format: "%.0f MiB", afterRSS),
            "\(peakFDs.value)",
            (missing == 0 ? "0" : "\(missing) ✘") + " of \(acknowledged.count)" + (alive ? "" : "; collector down ✘"),
        ]
    }

    static func yaml(dsn: String, ports: Ports) -> String {
        let tokens =
            "[{ workflow: hostile, token_sha256: \(WorkflowTokens.sha256Hex(token)) }, { workflow: honest, token_sha256: \(WorkflowTokens.sha256Hex(honestToken)) }]"
        return """
            receivers:
              ingest_http: { endpoint: "127.0.0.1:\(ports.ingest)", tokens: \(tokens) }
              otlp:
                protocols:
                  grpc: { endpoint: "127.0.0.1:\(ports.grpc)", tokens: \(tokens) }
                  http: { endpoint: "127.0.0.1:\(ports.otlpHTTP)", tokens: \(tokens) }
            processors:
              size_cap:
              sanitize:
              seq:
              chain: { secret: "hostile-suite-secret-0123456789abcdef" }
            exporters: { postgres: { dsn: "\(dsn)" } }
            service:
              telemetry: { logs: { level: error }, metrics: { endpoint: "127.0.0.1:\(ports.telemetry)" } }
              pipelines: { audit: { receivers: [ingest_http, otlp], processors: [size_cap, sanitize, seq, chain], exporters: [postgres] } }
            """
    }

    // MARK: The honest client

    static let honestRate = 100.0

    struct HonestOutcome: Sendable {
        var succeeded: Bool
        var latency: Double
        /// The event the collector acknowledged, if this request carried one.
        var acknowledged: UUID?
    }

    static func honest(_ client: HonestClient, ports: Ports, total: Int) async throws -> [HonestOutcome] {
        let ids = (0..<total).map { _ in UUID() }
        switch client {
        case .sdkBridge:
            let url = "http://127.0.0.1:\(ports.ingest)\(IngestHTTPReceiver.eventsPath)"
            let report = await LoadDriver.run(connections: 4, total: total, ratePerSecond: honestRate) { i in
                LoadDriver.Request(
                    url: url, headers: ["Authorization: Bearer \(honestToken)", "Content-Type: application/json"],
                    body: Array(SustainedLoad.event(ids[i], firstSession: 0x1000).utf8))
            }
            return report.outcomes.map { outcome in
                let ok = (200..<300).contains(outcome.status)
                return HonestOutcome(succeeded: ok, latency: outcome.latency, acknowledged: ok ? ids[outcome.index] : nil)
            }
        case .healthProbe:
            let report = await LoadDriver.run(connections: 4, total: total, ratePerSecond: honestRate) { _ in
                var request = LoadDriver.Request(url: "http://127.0.0.1:\(ports.telemetry)/healthz", headers: [], body: [])
                request.method = "GET"
                return request
            }
            return report.outcomes.map { HonestOutcome(succeeded: $0.status == 200, latency: $0.latency, acknowledged: nil) }
        case .grpcExporter:
            return try await grpcExports(port: ports.grpc, ids: ids)
        }
    }

    /// One log record per `LogsService/Export` call, 4 calls at a time on one connection, paced.
    static func grpcExports(port: Int, ids: [UUID]) async throws -> [HonestOutcome] {
        try await GRPCLoad.withClient(port: port, timeout: .seconds(10)) { client, options in await grpcExports(client, options, ids: ids) }
    }

    static func grpcExports(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ options: CallOptions, ids: [UUID]) async -> [HonestOutcome] {
        let progress = GRPCLoad.Progress()
        let start = ContinuousClock.now
        return await withTaskGroup(of: [HonestOutcome].self) { group in
            for _ in 0..<4 {
                group.addTask { [options] in
                    var outcomes: [HonestOutcome] = []
                    while true {
                        let i = progress.next.add(1, ordering: .relaxed).oldValue
                        guard i < ids.count else { return outcomes }
                        try? await Task.sleep(until: start + .seconds(Double(i) / honestRate))
                        var event = Bench.event(i)
                        event.eventID = ids[i]
                        event.sessionID = UUID(uuidString: Bench.id(i % 16, prefix: 0xE0))!
                        event.hmac = nil
                        let body = OTLPProtobuf.encodeRequest([OTLPMapping.record(from: event)])
                        let sent = ContinuousClock.now
                        let reply: [UInt8]?
                        do {
                            reply = try await client.unary(
                                request: ClientRequest(message: body, metadata: ["authorization": "Bearer \(honestToken)"]),
                                descriptor: OTLPGRPC.logsExport, serializer: OTLPGRPC.RawMessage(),
                                deserializer: OTLPGRPC.RawMessage(), options: options
                            ) { try $0.message }
                        } catch { reply = nil }
                        let elapsed = ContinuousClock.now - sent
                        let ok = reply?.isEmpty == true
                        outcomes.append(
                            HonestOutcome(
                                succeeded: ok, latency: Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds),
                                acknowledged: ok ? ids[i] : nil))
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
    }

    // MARK: Attacks

    final class StopFlag: Sendable {
        private let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .relaxed) }
        func set() { flag.store(true, ordering: .relaxed) }
    }

    final class PeakCounter: Sendable {
        private let peak = Atomic<Int>(0)
        var value: Int { peak.load(ordering: .relaxed) }
        func observe(_ value: Int) { peak.max(value, ordering: .relaxed) }
    }

    final class Box<T: Sendable>: Sendable {
        private let value: Mutex<T>
        init(_ value: T) { self.value = Mutex(value) }
        func set(_ new: T) { value.withLock { $0 = new } }
        func get() -> T { value.withLock { $0 } }
    }

    static func head(_ path: String, length: Int, type: String = "application/json") -> String {
        "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: \(type)\r\nContent-Length: \(length)\r\n\r\n"
    }

    /// A blocking loopback TCP connection, or nil.
    static func connectTo(_ port: Int, nonBlocking: Bool = false) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        if nonBlocking { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 && !(nonBlocking && errno == EINPROGRESS) {
            close(fd)
            return nil
        }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    @discardableResult
    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Keeps `count` connections open (reopening any the collector closes), each sending
    /// `first` once connected and then `trickle` once a second.
    static func holdConnections(_ count: Int, port: Int, stop: StopFlag, first: String, trickle: String?) {
        var open: [(fd: Int32, sentFirst: Bool)] = []
        while !stop.isSet {
            open.removeAll { connection in
                var byte: UInt8 = 0
                let n = recv(connection.fd, &byte, 1, Int32(MSG_DONTWAIT | MSG_PEEK))
                let closed = n == 0 || (n < 0 && ![EAGAIN, EWOULDBLOCK, ENOTCONN].contains(errno))
                if closed { close(connection.fd) }
                return closed
            }
            while open.count < count, let fd = connectTo(port, nonBlocking: true) { open.append((fd, first.isEmpty)) }
            for index in open.indices {
                if !open[index].sentFirst {
                    open[index].sentFirst = send(open[index].fd, Array(first.utf8))
                } else if let trickle {
                    send(open[index].fd, Array(trickle.utf8))
                }
            }
            for _ in 0..<10 where !stop.isSet { usleep(100_000) }
        }
        open.forEach { close($0.fd) }
    }

    /// Eight senders each posting 15.6 MB NDJSON batches of 9,000 events as fast as answered.
    static func maxSizeBatches(port: Int, stop: StopFlag) -> [UUID] {
        let acknowledged = Mutex<[UUID]>([])
        let group = DispatchGroup()
        // Each line padded to 1,733 bytes: 9,000 of them make 15.6 MB, under the 16 MiB batch limit.
        let bare = SustainedLoad.event(UUID()).utf8.count + ",\"pad\":\"\"".utf8.count + 1
        let padding = String(repeating: "p", count: 1_733 - bare)
        for _ in 0..<8 {
            group.enter()
            Thread {
                let connection = CurlConnection()
                while !stop.isSet {
                    let ids = (0..<9_000).map { _ in UUID() }
                    let body = ids.map {
                        SustainedLoad.event($0).replacingOccurrences(of: "\"tool\":\"search\"", with: "\"tool\":\"search\",\"pad\":\"\(padding)\"")
                    }
                    .joined(separator: "\n")
                    let result = try? connection.request(
                        "POST", "http://127.0.0.1:\(port)\(IngestHTTPReceiver.batchPath)",
                        headers: ["Authorization: Bearer \(token)", "Content-Type: application/x-ndjson"], body: Array(body.utf8))
                    if let result, result.status == 200 { acknowledged.withLock { $0 += ids } }
                    if result?.status == 503 { usleep(200_000) }
                }
                group.leave()
            }.start()
        }
        group.wait()
        return acknowledged.withLock { $0 }
    }

    static let malformedRequests: [String] = [
        "GARBAGE\r\n\r\n",
        "POST /api/v1/ingest/events HTTP/9.9\r\n\r\n",
        "POST /api/v1/ingest/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nxx\r\n",
        "POST /api/v1/ingest/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
        "POST /api/v1/ingest/events HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n",
        "POST /api/v1/ingest/events HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}",
        "POST /api/v1/ingest/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /api/v1/ingest/events HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST /api/v1/ingest/events HTTP/1.1\r\nBad Header Line\r\n\r\n",
        "\u{0}\u{1}\u{2}\u{3}\r\n\r\n",
    ]

    static func malformedHTTP1(port: Int, stop: StopFlag) {
        var i = 0
        while !stop.isSet {
            guard let fd = connectTo(port) else { usleep(10_000); continue }
            send(fd, Array(malformedRequests[i % malformedRequests.count].utf8))
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = recv(fd, &buffer, buffer.count, 0)
            close(fd)
            i += 1
        }
    }

    /// The HTTP/2 client preface, then broken frames: bad lengths, an invalid SETTINGS,
    /// HEADERS with garbage HPACK, a zero WINDOW_UPDATE, DATA on stream 0, random bytes.
    static func malformedHTTP2(port: Int, stop: StopFlag) {
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32 = 1, _ payload: [UInt8], length: Int? = nil) -> [UInt8] {
            let n = length ?? payload.count
            return [
                UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type, flags,
                UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF),
            ] + payload
        }
        let broken: [[UInt8]] = [
            frame(4, stream: 0, [0, 1, 0, 0]),  // SETTINGS with a partial entry
            frame(4, stream: 0, [0, 4, 0xFF, 0xFF, 0xFF, 0xFF]),  // initial window above 2^31-1
            frame(1, flags: 4, [0xFF, 0xFE, 0xFD, 0xFC, 0xFB]),  // HEADERS, garbage HPACK
            frame(8, stream: 0, [0, 0, 0, 0]),  // WINDOW_UPDATE of 0
            frame(0, stream: 0, [1, 2, 3]),  // DATA on stream 0
            frame(4, stream: 0, [], length: 16_777_215),  // SETTINGS claiming 16 MB
            (0..<512).map { _ in UInt8.random(in: 0...255) },
        ]
        var i = 0
        while !stop.isSet {
            guard let fd = connectTo(port) else { usleep(10_000); continue }
            send(fd, preface + frame(4, stream: 0, []) + broken[i % broken.count])
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = recv(fd, &buffer, buffer.count, 0)
            close(fd)
            i += 1
        }
    }

    /// Every committed fuzz input of a receiver's parser (crash inputs included), posted to the
    /// endpoint that parses it.
    static func replayCorpus(ports: Ports, stop: StopFlag) {
        let targets: [(String, String, String)] = [
            ("FuzzIngestJSON", "http://127.0.0.1:\(ports.ingest)\(IngestHTTPReceiver.batchPath)", "application/json"),
            ("FuzzOTLPProtobuf", "http://127.0.0.1:\(ports.otlpHTTP)/v1/logs", "application/x-protobuf"),
            ("FuzzOTLPJSON", "http://127.0.0.1:\(ports.otlpHTTP)/v1/logs", "application/json"),
            ("FuzzOTLPTracesProtobuf", "http://127.0.0.1:\(ports.otlpHTTP)/v1/traces", "application/x-protobuf"),
            ("FuzzOTLPTracesJSON", "http://127.0.0.1:\(ports.otlpHTTP)/v1/traces", "application/json"),
        ]
        var inputs: [(String, String, [UInt8])] = []
        for (directory, url, type) in targets {
            let path = "\(fuzzCorpus)/\(directory)"
            for file in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                if let data = FileManager.default.contents(atPath: "\(path)/\(file)") { inputs.append((url, type, Array(data))) }
            }
        }
        guard !inputs.isEmpty else { return }
        let connection = CurlConnection()
        var i = 0
        while !stop.isSet {
            let (url, type, body) = inputs[i % inputs.count]
            _ = try? connection.request("POST", url, headers: ["Authorization: Bearer \(token)", "Content-Type: \(type)"], body: body)
            i += 1
        }
    }

    static func flood(port: Int, stop: StopFlag) -> [UUID] {
        let acknowledged = Mutex<[UUID]>([])
        let group = DispatchGroup()
        for _ in 0..<32 {
            group.enter()
            Thread {
                let connection = CurlConnection()
                var mine: [UUID] = []
                while !stop.isSet {
                    let id = UUID()
                    let result = try? connection.request(
                        "POST", "http://127.0.0.1:\(port)\(IngestHTTPReceiver.eventsPath)",
                        headers: ["Authorization: Bearer \(token)", "Content-Type: application/json"],
                        body: Array(SustainedLoad.event(id).utf8))
                    if let status = result?.status, (200..<300).contains(status) { mine.append(id) }
                }
                acknowledged.withLock { $0 += mine }
                group.leave()
            }.start()
        }
        group.wait()
        return acknowledged.withLock { $0 }
    }

    /// Two senders posting OTLP/HTTP log requests of 10,000 records, every record in a session
    /// of its own (each session costs the commit a lock), as fast as they are answered.
    static func manySessions(port: Int, stop: StopFlag) -> [UUID] {
        let acknowledged = Mutex<[UUID]>([])
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread {
                let connection = CurlConnection()
                while !stop.isSet {
                    let ids = (0..<10_000).map { _ in UUID() }
                    let records = ids.enumerated().map { i, id in
                        var event = Bench.event(i)
                        event.eventID = id
                        event.sessionID = UUID()
                        event.hmac = nil
                        return OTLPMapping.record(from: event)
                    }
                    let result = try? connection.request(
                        "POST", "http://127.0.0.1:\(port)/v1/logs",
                        headers: ["Authorization: Bearer \(token)", "Content-Type: application/x-protobuf", "Content-Encoding: gzip"],
                        body: Gzip.compress(OTLPProtobuf.encodeRequest(records)))
                    if let result, result.status == 200, result.body.isEmpty { acknowledged.withLock { $0 += ids } }
                    if result?.status == 503 { usleep(200_000) }
                }
                group.leave()
            }.start()
        }
        group.wait()
        return acknowledged.withLock { $0 }
    }

    /// Eight HTTP/2 connections, each keeping up to 100 gRPC streams open whose one message is
    /// 8 KB of gzip that inflates to 8 MiB less 64 KiB (under the transport's ceiling): what
    /// grpc-swift inflates before any handler runs, unless the stream had to hold the budget.
    static func inflatingStreams(port: Int, stop: StopFlag) {
        let gzipped = Gzip.compress([UInt8](repeating: 0, count: (8 << 20) - (64 << 10)))
        let n = gzipped.count
        let message = [1, UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + gzipped
        var peers: [StreamingPeer] = []
        while !stop.isSet {
            peers.removeAll { peer in
                if peer.closed { close(peer.fd) }
                return peer.closed
            }
            while peers.count < 8, let peer = StreamingPeer(port: port) { peers.append(peer) }
            for peer in peers {
                peer.exchange()
                peer.openStreams(upTo: 100, message: message)
            }
            usleep(5_000)
        }
        peers.forEach { close($0.fd) }
    }

    /// A non-blocking HTTP/2 client connection that opens gRPC streams as fast as the server's
    /// connection window and stream answers allow: it acknowledges SETTINGS, counts
    /// WINDOW_UPDATEs, and counts a stream done at its END_STREAM or RST_STREAM.
    final class StreamingPeer {
        let fd: Int32
        private(set) var closed = false
        private var window = 65_535
        private var openStreams = 0
        private var nextStream: UInt32 = 1
        private var outbox: [UInt8]
        private var inbox: [UInt8] = []

        init?(port: Int) {
            guard let fd = HostileSuite.connectTo(port, nonBlocking: true) else { return nil }
            self.fd = fd
            outbox = RawHTTP2.preface + RawHTTP2.frame(type: 4, stream: 0, [])
        }

        func openStreams(upTo limit: Int, message: [UInt8]) {
            while !closed, openStreams < limit, window >= message.count, outbox.count < 1 << 20 {
                outbox += RawHTTP2.headers(
                    stream: nextStream, path: "/opentelemetry.proto.collector.logs.v1.LogsService/Export", token: HostileSuite.token, gzip: true)
                outbox += RawHTTP2.frame(type: 0, flags: 0x1, stream: nextStream, message)
                window -= message.count
                openStreams += 1
                nextStream += 2
            }
            flush()
        }

        /// Sends what the socket takes, reads what arrived, and answers it.
        func exchange() {
            flush()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while !closed {
                let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n > 0 { inbox += buffer[..<n]; continue }
                if n == 0 || ![EAGAIN, EWOULDBLOCK, ENOTCONN].contains(errno) { closed = true }
                break
            }
            var offset = 0
            while inbox.count - offset >= 9 {
                let length = Int(inbox[offset]) << 16 | Int(inbox[offset + 1]) << 8 | Int(inbox[offset + 2])
                guard inbox.count - offset >= 9 + length else { break }
                let type = inbox[offset + 3], flags = inbox[offset + 4]
                let stream =
                    UInt32(inbox[offset + 5] & 0x7F) << 24 | UInt32(inbox[offset + 6]) << 16 | UInt32(inbox[offset + 7]) << 8
                    | UInt32(inbox[offset + 8])
                let payload = inbox[(offset + 9)..<(offset + 9 + length)]
                switch type {
                case 4 where flags & 0x1 == 0: outbox += RawHTTP2.frame(type: 4, flags: 0x1, stream: 0, [])
                case 8 where stream == 0 && length == 4:
                    window += payload.reduce(0) { $0 << 8 | Int($1) } & 0x7FFF_FFFF
                case 0, 1: if stream != 0 && flags & 0x1 != 0 { openStreams -= 1 }
                case 3: openStreams -= 1
                case 7: closed = true
                default: break
                }
                offset += 9 + length
            }
            inbox.removeFirst(offset)
            flush()
        }

        private func flush() {
            while !closed, !outbox.isEmpty {
                let n = outbox.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                if n > 0 { outbox.removeFirst(n); continue }
                if n < 0 && ![EAGAIN, EWOULDBLOCK, ENOTCONN].contains(errno) { closed = true }
                break
            }
        }
    }
}
