import Collector
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Receivers
import Testing

/// A raw TCP client, for what no well-behaved HTTP client does: half a header, a trickled
/// body, a connection held silent. Blocking calls run on a thread of their own (`offPool`) so
/// the collector in this process keeps its cooperative threads.
final class RawConnection: @unchecked Sendable {
    private var fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw LocalPostgres.Failure(description: "connect to \(port): errno \(errno)") }
        // A guard against a hung test, never a measure: every wait below ends on an event first.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { disconnect() }

    func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Whether bytes (or the end of the stream) are waiting to be read, without waiting.
    var hasPendingInput: Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) == 1
    }

    /// Reads until the server closes the connection; true when it did (false: the guard expired).
    func waitUntilClosed() async -> Bool {
        await offPool { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n == 0 { return true }
                // A signal interrupted the wait, not the server: wait on.
                if n < 0, errno == EINTR { continue }
                if n < 0 { return errno == ECONNRESET }
            }
        }
    }

    /// Reads until `marker` has arrived (or the connection ends, or `guardSeconds` pass: a guard
    /// against a hung test, since a stream's keepalives would keep each read alive): all read so far.
    func readUntil(_ marker: String, guardSeconds: Double = 120) async -> String {
        await offPool { [self] in
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            let deadline = ContinuousClock.now + .seconds(guardSeconds)
            while !String(decoding: data, as: UTF8.self).contains(marker), ContinuousClock.now < deadline {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                data += buffer[0..<n]
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Reads one HTTP/1.1 response (head and a Content-Length body): status, headers, body.
    func readResponse() async -> (status: Int, headers: [String: String], body: String)? {
        await offPool { [self] in
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            func headEnd() -> Int? {
                guard data.count >= 4 else { return nil }
                return (0...(data.count - 4)).first { data[$0] == 13 && data[$0 + 1] == 10 && data[$0 + 2] == 13 && data[$0 + 3] == 10 }
            }
            while true {
                if let end = headEnd() {
                    let lines = String(decoding: data[..<end], as: UTF8.self).split(separator: "\r\n")
                    var headers: [String: String] = [:]
                    for line in lines.dropFirst() {
                        if let colon = line.firstIndex(of: ":") {
                            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                        }
                    }
                    let length = Int(headers["content-length"] ?? "0") ?? 0
                    if data.count >= end + 4 + length {
                        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
                        return (status, headers, String(decoding: data[(end + 4)..<(end + 4 + length)], as: UTF8.self))
                    }
                }
                let n = recv(fd, &buffer, buffer.count, 0)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { return nil }
                data += buffer[0..<n]
            }
        }
    }
}

func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in Thread { continuation.resume(returning: work()) }.start() }
}

/// The head of a POST to the single-event path.
func postHead(path: String = IngestHTTPReceiver.eventsPath, contentLength: Int, token: String = testToken) -> String {
    "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: \(contentLength)\r\n\r\n"
}

extension RunningCollector {
    func metric(_ name: String, _ labels: [String: String] = [:]) async throws -> Double? {
        try await scrape(try await telemetryURL()).samples.value(name, labels)
    }
}

@Suite("hardening: listener limits and the in-flight budget")
struct HardeningTests {
    static let ingest = ["listener": "ingest_http"]

    @Test("a half header is closed after read_header_timeout, a trickled body after read_body_timeout, an idle keep-alive after idle_timeout")
    func timeouts() async throws {
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(
            yaml: collectorYAML(
                dsn: dsn,
                receiverSettings: """
                        read_header_timeout: 0.5
                        read_body_timeout: 0.5
                        read_body_min_rate: 1000
                        idle_timeout: 0.5
                    """))
        try await collector.waitUntilReady()

        let slowHeader = try RawConnection(port: collector.port)
        slowHeader.send("POST \(IngestHTTPReceiver.eventsPath) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bea")
        #expect(await slowHeader.waitUntilClosed())
        #expect(try await collector.metric("governance_listener_timeouts_total", Self.ingest.merging(["phase": "header"]) { $1 }) == 1)

        let slowBody = try RawConnection(port: collector.port)
        slowBody.send(postHead(contentLength: 5_000) + "{\"event_id\":")
        #expect(await slowBody.waitUntilClosed())
        #expect(try await collector.metric("governance_listener_timeouts_total", Self.ingest.merging(["phase": "body"]) { $1 }) == 1)
        // The closed request's reservation is returned.
        #expect(try await eventually { try await collector.metric("governance_in_flight_bytes") == 0 })

        // A client that sends its request at once is answered, then closed once idle. (Counted
        // from the moment every earlier connection, the readiness checks' too, has gone.)
        let idle = Self.ingest.merging(["phase": "idle"]) { $1 }
        #expect(try await eventually { try await collector.metric("governance_listener_connections", Self.ingest) == 0 })
        let idleBefore = try await collector.metric("governance_listener_timeouts_total", idle) ?? 0
        let event = wireEvent()
        let honest = try RawConnection(port: collector.port)
        honest.send(postHead(contentLength: event.utf8.count) + event)
        let answer = await honest.readResponse()
        #expect(answer?.status == 201)
        #expect(await honest.waitUntilClosed())
        #expect(try await collector.metric("governance_listener_timeouts_total", idle) == idleBefore + 1)
        #expect(try await storedIDs(dsn).count == 1)
        try await collector.stop()
    }

    @Test(
        "the telemetry listener closes a connection that has not sent its headers (default 2 s), so slow headers cannot keep /healthz waiting; a probe is answered meanwhile"
    )
    func telemetryHeaderTimeout() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            let url = try await collector.telemetryURL()
            let port = try #require(Int(url.split(separator: ":").last ?? ""))
            // On a loaded machine a readiness poll may itself have been too slow: count from here.
            let phase = ["listener": "telemetry", "phase": "header"]
            let before = try await collector.metric("governance_listener_timeouts_total", phase) ?? 0
            let slow = try RawConnection(port: port)
            slow.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            #expect(try await TestHTTP.request("GET", url + "/healthz").status == 200)
            #expect(await slow.waitUntilClosed())
            // At least the slow one: on a machine this loaded, the scrape's own connection can wait
            // more than 2 s for the event loop to read its headers, and is counted too.
            let timeouts = try await collector.metric("governance_listener_timeouts_total", phase) ?? 0
            #expect(timeouts >= before + 1)
        }
    }

    @Test("at max_connections the listener stops accepting; the waiting client is answered once a connection closes")
    func connectionCap() async throws {
        let dsn = try await newDatabase()
        // The held connections send nothing: read_header_timeout must not close one (and so
        // resume accepting) however slowly this busy machine gets through the test.
        let collector = try await RunningCollector.start(
            yaml: collectorYAML(
                dsn: dsn,
                receiverSettings: """
                        max_connections: 2
                        read_header_timeout: 600
                    """))
        try await collector.waitUntilReady()
        #expect(try await eventually { try await collector.metric("governance_listener_connections", Self.ingest) == 0 })
        let (first, second) = (try RawConnection(port: collector.port), try RawConnection(port: collector.port))
        // Accepting is paused once both are open (the listener counts the pause).
        #expect(
            try await eventually {
                let open = try await collector.metric("governance_listener_connections", Self.ingest)
                let paused = try await collector.metric("governance_listener_at_capacity_total", Self.ingest) ?? 0
                return open == 2 && paused >= 1
            })
        let accepted = try await collector.metric("governance_listener_connections_accepted_total", Self.ingest)
        let event = wireEvent()
        let waiting = try RawConnection(port: collector.port)  // connected in the kernel's backlog only
        waiting.send(postHead(contentLength: event.utf8.count) + event)
        #expect(!waiting.hasPendingInput)
        #expect(try await collector.metric("governance_listener_connections_accepted_total", Self.ingest) == accepted)
        // A process started meanwhile (other tests start collectors, clusters and providers)
        // must not inherit the socket and so keep it open after it is closed here.
        let bystander = try ChildProcess.spawn(["sleep", "600"])
        defer { bystander.stop() }
        first.disconnect()
        let answer = await waiting.readResponse()
        #expect(answer?.status == 201)
        #expect(try await storedIDs(dsn).count == 1)
        #expect(!second.hasPendingInput)
        try await collector.stop()
    }

    @Test(
        "over service.in_flight_limit_mib a request gets 503 with Retry-After before its body is read (gRPC: RESOURCE_EXHAUSTED with RetryInfo); admitted work completes"
    )
    func inFlightBudget() async throws {
        let dsn = try await newDatabase()
        // The held body must outlast the Python client's start on a busy machine.
        let yaml = otlpReceiverYAML(dsn: dsn).replacingOccurrences(of: "service:\n", with: "service:\n  in_flight_limit_mib: 1\n")
            .replacingOccurrences(of: "    max_batch_events: 1000\n", with: "    max_batch_events: 1000\n    read_body_timeout: 600\n")
        let collector = try await RunningCollector.start(yaml: yaml)
        try await collector.waitUntilReady()

        // A batch whose cost is 1 MiB (events, then JSON whitespace) holds the whole budget
        // while its body is still arriving.
        let events = (0..<50).map { _ in wireEvent() }
        var batch = Array(("[" + events.joined(separator: ",") + "]").utf8)
        batch += [UInt8](repeating: 0x20, count: (1 << 20) / InFlightBudget.bytesPerBodyByte - batch.count)
        let holder = try RawConnection(port: collector.port)
        holder.send(postHead(path: IngestHTTPReceiver.batchPath, contentLength: batch.count) + String(decoding: batch[..<1000], as: UTF8.self))
        #expect(try await eventually { try await collector.metric("governance_in_flight_bytes") == Double(1 << 20) })

        // Nothing more fits: refused at once, and no byte of this body was ever sent.
        let refused = try RawConnection(port: collector.port)
        refused.send(postHead(path: IngestHTTPReceiver.batchPath, contentLength: 400_000))
        let answer = try #require(await refused.readResponse())
        #expect(answer.status == 503)
        #expect(answer.headers["retry-after"] == "1")
        #expect(answer.body.contains("\"error\":\"overloaded\"") && answer.body.contains("in_flight_limit_mib"), "\(answer.body)")
        let grpc = try await runSDK(["raw", collector.otlpEndpoint("grpc"), testToken, "valid"], script: "otel_traces.py")
        let grpcAnswer = try JSONParser.parse(try #require(grpc.1.last))
        #expect(grpcAnswer["code"] == .string("RESOURCE_EXHAUSTED"))
        #expect(grpcAnswer["retry_delay"] == .number("1"))
        #expect(try await collector.metric("governance_in_flight_refused_total") == 2)

        // The admitted batch completes; then the budget is free again.
        holder.send(Array(batch[1000...]))
        let stored = try #require(await holder.readResponse())
        #expect(stored.status == 200)
        #expect(try await storedIDs(dsn).count == 50)
        #expect(try await collector.metric("governance_in_flight_bytes") == 0)
        let retried = try await post(collector.eventsURL, wireEvent())
        #expect(retried.status == 201)
        try await collector.stop()
    }

    @Test(
        "a gRPC stream is admitted before the transport inflates anything: without a known token it is refused at its HEADERS and holds nothing; with one, its message's prefix reserves what that message can become, as its workflow's; a workflow holding its quarter of the budget is refused with RESOURCE_EXHAUSTED and RetryInfo while another workflow's export is stored; once its stream closes, it is stored too"
    )
    func grpcStreamsHoldTheBudget() async throws {
        let dsn = try await newDatabase()
        let otherToken = "wf_other_tenant_of_the_budget_test_000"
        // 64 MiB: one workflow may hold 16 MiB in stream buffers, which one gzip message that
        // may inflate to the transport's 8 MiB ceiling takes (it and the service's copy).
        let yaml = otlpReceiverYAML(dsn: dsn)
            .replacingOccurrences(of: "service:\n", with: "service:\n  in_flight_limit_mib: 64\n")
            .replacingOccurrences(
                of: "      grpc:\n        endpoint: 127.0.0.1:0\n        tokens:\n",
                with:
                    "      grpc:\n        endpoint: 127.0.0.1:0\n        tokens:\n          - { workflow: wf-other, token_sha256: \(WorkflowTokens.sha256Hex(otherToken)) }\n"
            )
        try await RunningCollector.with(yaml: yaml) { collector in
            try await collector.waitUntilReady()
            let endpoint = collector.otlpEndpoint("grpc")
            let path = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
            let holder = try RawConnection(port: try #require(collector.otlpReceiver.grpcPort))
            holder.send(RawHTTP2.preface + RawHTTP2.frame(type: 4, stream: 0, []))
            // Each stream sends its message's 5-byte prefix and nothing more, so it stays open:
            // a gzip message of 8,192 bytes (deflate can make 8 MiB of it), the same from an
            // unknown token, then another workflow's uncompressed message of 1,000 bytes.
            holder.send(
                RawHTTP2.headers(stream: 1, path: path, token: testToken, gzip: true) + RawHTTP2.frame(type: 0, stream: 1, [1, 0, 0, 0x20, 0]))
            holder.send(
                RawHTTP2.headers(stream: 3, path: path, token: "wf_unknown", gzip: true) + RawHTTP2.frame(type: 0, stream: 3, [1, 0, 0, 0x20, 0]))
            holder.send(
                RawHTTP2.headers(stream: 5, path: path, token: otherToken, gzip: false) + RawHTTP2.frame(type: 0, stream: 5, [0, 0, 0, 0x03, 0xE8]))
            // Frames are handled in order, so once stream 5 holds its 2,000 bytes stream 3 was
            // decided: it holds nothing.
            #expect(try await eventually { try await collector.metric("governance_in_flight_bytes") == Double((16 << 20) + 2_000) })
            let refused = try await runSDK(["raw", endpoint, testToken, "valid"], script: "otel_traces.py")
            let answer = try JSONParser.parse(try #require(refused.1.last))
            #expect(answer["code"] == .string("RESOURCE_EXHAUSTED") && answer["retry_delay"] == .number("1"), "\(refused.1)")
            #expect(answer["details"]?.stringValue?.contains("in_flight_limit_mib = 64") == true, "\(refused.1)")
            let other = try await runSDK(["raw", endpoint, otherToken, "valid"], script: "otel_traces.py")
            #expect(try JSONParser.parse(try #require(other.1.last))["code"] == .string("OK"), "\(other.1)")
            holder.disconnect()
            #expect(try await eventually { try await collector.metric("governance_in_flight_bytes") == 0 })
            let stored = try await runSDK(["raw", endpoint, testToken, "valid"], script: "otel_traces.py")
            #expect(try JSONParser.parse(try #require(stored.1.last))["code"] == .string("OK"), "\(stored.1)")
        }
    }

    @Test(
        "gRPC: at max_connections a new connection takes the oldest idle one's place, so silent sockets cannot keep an exporter out; one that opens no stream is closed after idle_timeout; more than 10,000 spans in one request are refused"
    )
    func grpcLimits() async throws {
        let dsn = try await newDatabase()
        let grpc = ["listener": "otlp.grpc"]
        func yaml(_ settings: String) -> String {
            otlpReceiverYAML(dsn: dsn).replacingOccurrences(
                of: "      grpc:\n        endpoint: 127.0.0.1:0\n", with: "      grpc:\n        endpoint: 127.0.0.1:0\n\(settings)")
        }
        // The held connection is silent: its first-stream deadline (idle_timeout) must not close it mid-test.
        let capped = try await RunningCollector.start(yaml: yaml("        max_connections: 1\n        idle_timeout: 600\n"))
        try await capped.waitUntilReady()
        let port = try #require(capped.otlpReceiver.grpcPort)
        let held = try RawConnection(port: port)
        #expect(try await eventually { try await capped.metric("governance_listener_connections", grpc) == 1 })
        // An honest export still gets in: its connection takes the silent one's place.
        let export = try await runSDK(["raw", capped.otlpEndpoint("grpc"), testToken, "valid"], script: "otel_traces.py")
        #expect(try JSONParser.parse(try #require(export.1.last))["code"] == .string("OK"), "\(export.1)")
        #expect(await held.waitUntilClosed())
        #expect(try await capped.metric("governance_listener_at_capacity_total", grpc) == 1)
        let many = try await runSDK(["raw", capped.otlpEndpoint("grpc"), testToken, "many"], script: "otel_traces.py")
        let refused = try JSONParser.parse(try #require(many.1.last))
        #expect(refused["code"] == .string("RESOURCE_EXHAUSTED") && refused["retry_delay"] == .null, "\(many.1)")
        #expect(refused["details"]?.stringValue?.contains("10001 spans") == true, "\(many.1)")
        try await capped.stop()

        let idle = try await RunningCollector.start(yaml: yaml("        idle_timeout: 0.5\n"))
        try await idle.waitUntilReady()
        let silent = try RawConnection(port: try #require(idle.otlpReceiver.grpcPort))
        #expect(await silent.waitUntilClosed())
        #expect(try await idle.metric("governance_listener_timeouts_total", grpc.merging(["phase": "header"]) { $1 }) == 1)
        try await idle.stop()
    }
}
