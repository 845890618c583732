import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Pipeline
import ServiceLifecycle
import Synchronization

/// A real platform ingest endpoint for tests and the benchmark, on loopback, over HTTP or HTTPS:
/// `POST /api/v1/ingest/events` with the platform's rules. Per workflow (one per token) it
/// enforces `seq == last + 1` with the platform's 409 body, answers a known `event_id` with
/// 409 `duplicate_event` (checked before seq, so a re-sent event is never a seq conflict),
/// 401 for unknown or revoked tokens, 413 above the body limit. Faults are injected with
/// `setFaults`: a forced status (402, 400, 413, 5xx), 429 with `Retry-After`, slow answers and
/// a redirect, which a bridge must never follow.
public final class PlatformPeer: Sendable {
    public struct Accepted: Sendable, Equatable {
        public var workflow: String
        public var seq: Int64
        public var eventID: String
        public var body: String
    }

    public struct Faults: Sendable {
        /// Answer the next `count` requests with `status` (e.g. 503, 402, 400, 413), then normally.
        public var failNext = 0
        public var failStatus = 503
        /// Answer the next `rateLimitNext` requests with 429 and this `Retry-After` (nil: none).
        public var rateLimitNext = 0
        public var retryAfter: String? = "1"
        /// Delay before every answer.
        public var delay: Duration = .zero
        /// Answer every request with 302 to this URL.
        public var redirectTo: String?
        public init() {}
    }

    private struct State {
        var tokens: [String: String]
        var revoked: Set<String> = []
        var lastSeq: [String: Int64] = [:]
        var seen: [String: Set<String>] = [:]
        var accepted: [Accepted] = []
        var requests = 0
        var faults = Faults()
    }

    public static let path = "/api/v1/ingest/events"
    private let state: Mutex<State>
    private let port = PortBox()
    private let maxBodyBytes: Int
    private let tls: TLSConfiguration?
    private let group = Mutex<ServiceGroup?>(nil)
    private let task = Mutex<Task<Void, any Error>?>(nil)

    /// `tokens`: bearer token → workflow name. `certFile`/`keyFile`: serve HTTPS.
    public init(tokens: [String: String], certFile: String? = nil, keyFile: String? = nil, maxBodyBytes: Int = 256 * 1024) throws {
        state = Mutex(State(tokens: tokens))
        self.maxBodyBytes = maxBodyBytes
        if let certFile, let keyFile {
            let chain = try NIOSSLCertificate.fromPEMFile(certFile).map { NIOSSLCertificateSource.certificate($0) }
            tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
        } else {
            tls = nil
        }
    }

    /// Starts listening on 127.0.0.1 and returns the port.
    public func start() async throws -> Int {
        let router = Router()
        router.post(RouterPath(Self.path)) { [self] request, _ in try await handle(request) }
        let port = self.port
        let server: HTTPServerBuilder = try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
        let app = Application(router: router, server: server,
                              configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "platform-peer"),
                              onServerRunning: { channel in port.value.withLock { $0 = channel.localAddress?.port } },
                              logger: Logger(label: "platform-peer") { _ in SwiftLogNoOpLogHandler() })
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [], cancellationSignals: [],
                                                      logger: Logger(label: "platform-peer") { _ in SwiftLogNoOpLogHandler() }))
        self.group.withLock { $0 = group }
        task.withLock { $0 = Task { try await group.run() } }
        for _ in 0..<500 {
            if let p = port.value.withLock({ $0 }) { return p }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw PeerError(message: "platform peer did not start")
    }

    public func stop() async {
        await group.withLock { $0 }?.triggerGracefulShutdown()
        _ = try? await task.withLock { $0 }?.value
    }

    public func url(scheme: String? = nil, host: String = "127.0.0.1") -> String {
        "\(scheme ?? (tls == nil ? "http" : "https"))://\(host):\(port.value.withLock { $0 } ?? 0)\(Self.path)"
    }

    public func setFaults(_ faults: Faults) { state.withLock { $0.faults = faults } }
    public func revoke(_ token: String) { state.withLock { _ = $0.revoked.insert(token) } }
    /// Forgets a workflow's seq (as if the platform's counter were reset elsewhere) to `seq`.
    public func setLastSeq(_ seq: Int64, workflow: String) { state.withLock { $0.lastSeq[workflow] = seq } }
    public var accepted: [Accepted] { state.withLock { $0.accepted } }
    public var requestCount: Int { state.withLock { $0.requests } }
    public func lastSeq(workflow: String) -> Int64 { state.withLock { $0.lastSeq[workflow] ?? 0 } }

    private func handle(_ request: Request) async throws -> Response {
        let buffer = try await request.body.collect(upTo: maxBodyBytes + 1)
        let body = Array(buffer.readableBytesView)
        let token = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let (response, delay): (Response, Duration) = state.withLock { s in
            s.requests += 1
            let delay = s.faults.delay
            if let target = s.faults.redirectTo {
                return (Response(status: .found, headers: [.location: target]), delay)
            }
            if s.faults.failNext > 0 {
                s.faults.failNext -= 1
                return (Self.json(HTTPResponse.Status(code: s.faults.failStatus), "injected", "injected failure"), delay)
            }
            if s.faults.rateLimitNext > 0 {
                s.faults.rateLimitNext -= 1
                var r = Self.json(.tooManyRequests, "rate_limited", "slow down")
                if let after = s.faults.retryAfter { r.headers[.retryAfter] = after }
                return (r, delay)
            }
            guard let token, let workflow = s.tokens[token], !s.revoked.contains(token) else {
                return (Self.json(.unauthorized, "invalid_token", "token revoked or unknown"), delay)
            }
            guard body.count <= maxBodyBytes else { return (Self.json(.contentTooLarge, "too_large", "body above \(maxBodyBytes) bytes"), delay) }
            guard let event = try? JSONParser.parse(body), case .string(let eventID)? = event["event_id"],
                  case .number(let seqText)? = event["seq"], let seq = Int64(seqText) else {
                return (Self.json(.badRequest, "invalid_event", "event_id and seq are required"), delay)
            }
            if s.seen[workflow, default: []].contains(eventID) {
                return (Self.json(.conflict, "duplicate_event", "event \(eventID) already ingested"), delay)
            }
            let last = s.lastSeq[workflow] ?? 0
            guard seq == last + 1 else {
                return (Self.json(.conflict, "seq_out_of_order", "expected seq=\(last + 1), got \(seq)"), delay)
            }
            s.lastSeq[workflow] = seq
            s.seen[workflow, default: []].insert(eventID)
            s.accepted.append(Accepted(workflow: workflow, seq: seq, eventID: eventID, body: String(decoding: body, as: UTF8.self)))
            return (Response(status: .accepted, headers: [.contentType: "application/json"],
                             body: .init(byteBuffer: ByteBuffer(string: #"{"ok":true}"#))), delay)
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        return response
    }

    static func json(_ status: HTTPResponse.Status, _ error: String, _ message: String) -> Response {
        let body = JSONValue.object([.init("ok", .bool(false)), .init("error", .string(error)), .init("message", .string(message))])
        var bytes: [UInt8] = []
        body.write(into: &bytes)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

final class PortBox: Sendable {
    let value = Mutex<Int?>(nil)
}

public struct PeerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
