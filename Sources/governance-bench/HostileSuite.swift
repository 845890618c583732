import AuditStore
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Receivers
import Synchronization

/// `governance-bench --hostile`: the real binary with its default limits, one attack at a time,
/// while a paced honest client keeps sending single events. Each row: the honest client's
/// success and p99 (the first row is the same client without an attack), the collector's
/// peak RSS and open fds during the attack and its RSS after it, and whether every event the
/// collector acknowledged (the honest client's and the attackers') is stored.
struct HostileSuite {
    let binary: String
    /// How long each attack (and the honest client beside it) runs.
    let seconds: Double
    /// Runs only the attacks whose name contains this (the baseline always runs).
    var only: String?
    static let token = "wf_hostile_suite_token_not_secret"
    static let fuzzCorpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/Corpus").path

    struct Ports: Sendable {
        var ingest: Int, grpc: Int, otlpHTTP: Int
    }

    /// One attack: runs until `stop` is set; returns the ids of events the collector acknowledged.
    struct Attack: Sendable {
        var name: String
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
    ]

    func run() async throws {
        let cluster = try LocalPostgres(fsync: true)
        defer { cluster.destroy() }
        print("| attack | honest client: 2xx | p99 | collector peak RSS | RSS after | peak fds | acknowledged missing |")
        print("|---|---|---|---|---|---|---|")
        fflush(nil)
        for (index, attack) in Self.attacks.enumerated() where index == 0 || only.map({ attack.name.contains($0) }) ?? true {
            print("| \(attack.name) | \(try await run(attack, index: index, cluster: cluster).joined(separator: " | ")) |")
            fflush(nil)
        }
        print("\nHonest client: 4 keep-alive connections paced at 100 single events/s for \(Int(seconds)) s beside each attack; "
              + "collector: size_cap, sanitize, seq, chain, PostgreSQL with fsync on, default limits (in_flight_limit_mib 128).")
    }

    func run(_ attack: Attack, index: Int, cluster: LocalPostgres) async throws -> [String] {
        let dsn = try cluster.createDatabase("hostile_\(index)")
        let ports = Ports(ingest: try LocalPostgres.freePort(), grpc: try LocalPostgres.freePort(), otlpHTTP: try LocalPostgres.freePort())
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("gc-hostile-\(index).yaml").path
        let log = config + ".log"
        try Self.yaml(dsn: dsn, ports: ports).write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config); try? FileManager.default.removeItem(atPath: log) }
        let child = try ChildProcess.spawn([binary, "run", "--config", config], outputPath: log)
        defer { child.kill(SIGTERM); child.wait() }
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

        let rate = 100.0
        let total = Int(rate * seconds)
        let ids = (0..<total).map { _ in UUID() }
        let url = "http://127.0.0.1:\(ports.ingest)\(IngestHTTPReceiver.eventsPath)"
        let honest = await LoadDriver.run(connections: 4, total: total, ratePerSecond: rate) { i in
            LoadDriver.Request(url: url, headers: ["Authorization: Bearer \(Self.token)", "Content-Type: application/json"],
                               body: Array(SustainedLoad.event(ids[i]).utf8))
        }
        stop.set()
        await withCheckedContinuation { done in Thread { attackDone.wait(); done.resume() }.start() }
        let alive = (try? CurlConnection().request("GET", "http://127.0.0.1:\(ports.ingest)/readyz"))?.status == 200
        // Memory after the burst: what the collector holds once the attack is over.
        try await Task.sleep(for: .seconds(2))
        let peakRSS = Double(Bench.memoryKiB(child.pid, "VmHWM") ?? 0) / 1024
        let afterRSS = Double(Bench.memoryKiB(child.pid, "VmRSS") ?? 0) / 1024

        let acknowledged = Set(honest.outcomes.filter { (200..<300).contains($0.status) }.map { ids[$0.index] })
            .union(attackAcknowledged.get())
        let stored = Set(try PGConnection(dsn: dsn).exec("SELECT event_id FROM governance_audit_events").rows.compactMap { $0[0].flatMap(UUID.init(uuidString:)) })
        let missing = acknowledged.subtracting(stored).count
        let succeeded = honest.outcomes.filter { (200..<300).contains($0.status) }
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
        let tokens = "[{ workflow: hostile, token_sha256: \(WorkflowTokens.sha256Hex(token)) }]"
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
              telemetry: { logs: { level: error }, metrics: { endpoint: "127.0.0.1:0" } }
              pipelines: { audit: { receivers: [ingest_http, otlp], processors: [size_cap, sanitize, seq, chain], exporters: [postgres] } }
            """
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
                    let body = ids.map { SustainedLoad.event($0).replacingOccurrences(of: "\"tool\":\"search\"", with: "\"tool\":\"search\",\"pad\":\"\(padding)\"") }
                        .joined(separator: "\n")
                    let result = try? connection.request("POST", "http://127.0.0.1:\(port)\(IngestHTTPReceiver.batchPath)",
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
            return [UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type, flags,
                    UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
        }
        let broken: [[UInt8]] = [
            frame(4, stream: 0, [0, 1, 0, 0]),                              // SETTINGS with a partial entry
            frame(4, stream: 0, [0, 4, 0xFF, 0xFF, 0xFF, 0xFF]),             // initial window above 2^31-1
            frame(1, flags: 4, [0xFF, 0xFE, 0xFD, 0xFC, 0xFB]),              // HEADERS, garbage HPACK
            frame(8, stream: 0, [0, 0, 0, 0]),                              // WINDOW_UPDATE of 0
            frame(0, stream: 0, [1, 2, 3]),                                 // DATA on stream 0
            frame(4, stream: 0, [], length: 16_777_215),                    // SETTINGS claiming 16 MB
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
                    let result = try? connection.request("POST", "http://127.0.0.1:\(port)\(IngestHTTPReceiver.eventsPath)",
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
}
