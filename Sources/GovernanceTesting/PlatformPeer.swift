import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL
import Pipeline
import Synchronization

/// A real platform ingest endpoint for tests and the benchmark, on loopback, over HTTP or HTTPS:
/// `POST /api/v1/ingest/events` with the platform's rules. Per workflow (one per token) it
/// enforces `seq == last + 1` with the platform's 409 body, answers a known `event_id` with
/// 409 `duplicate_event` (checked before seq, so a re-sent event is never a seq conflict),
/// 401 for unknown or revoked tokens, 413 above the body limit. Faults are injected with
/// `setFaults`: a forced status (402, 400, 413, 5xx), 429 with `Retry-After`, slow answers and
/// a redirect, which a bridge must never follow. Over HTTPS it offers HTTP/2 and HTTP/1.1 (ALPN). Requests are answered on the NIO event loop
/// (no task hops), so the peer adds as little as it can to a bridge's round trip.
package final class PlatformPeer: Sendable {
    package struct Accepted: Sendable, Equatable {
        package var workflow: String
        package var seq: Int64
        package var eventID: String
        package var body: String
    }

    package struct Faults: Sendable {
        /// Answer the next `count` requests with `status` (e.g. 503, 402, 400, 413), then normally.
        package var failNext = 0
        package var failStatus = 503
        /// Answer the next `rateLimitNext` requests with 429 and this `Retry-After` (nil: none).
        package var rateLimitNext = 0
        package var retryAfter: String? = "1"
        /// Delay before every answer.
        package var delay: Duration = .zero
        /// Answer every request with 302 to this URL.
        package var redirectTo: String?
        package init() {}
    }

    private struct State {
        var tokens: [String: String]
        var revoked: Set<String> = []
        var lastSeq: [String: Int64] = [:]
        var seen: [String: Set<String>] = [:]
        var accepted: [Accepted] = []
        var requests = 0
        var httpVersions: Set<String> = []
        var faults = Faults()
    }

    package static let path = "/api/v1/ingest/events"
    private let state: Mutex<State>
    let maxBodyBytes: Int
    private let tls: TLSConfiguration?
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel = Mutex<(any Channel)?>(nil)

    /// `tokens`: bearer token → workflow name. `certFile`/`keyFile`: serve HTTPS.
    package init(tokens: [String: String], certFile: String? = nil, keyFile: String? = nil, maxBodyBytes: Int = 256 * 1024) throws {
        state = Mutex(State(tokens: tokens))
        self.maxBodyBytes = maxBodyBytes
        if let certFile, let keyFile {
            let chain = try NIOSSLCertificate.fromPEMFile(certFile).map { NIOSSLCertificateSource.certificate($0) }
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
            configuration.applicationProtocols = ["h2", "http/1.1"]
            tls = configuration
        } else {
            tls = nil
        }
    }

    /// Starts listening on 127.0.0.1 and returns the port.
    package func start() async throws -> Int {
        let sslContext = try tls.map { try NIOSSLContext(configuration: $0) }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                let http1: NIOChannelInitializer = { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(PeerHandler(peer: self))
                    }
                }
                guard let sslContext else { return http1(channel) }
                let h2: NIOChannelInitializer = { channel in
                    channel.eventLoop.makeCompletedFuture {
                        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                            mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
                        ) { stream in
                            stream.eventLoop.makeCompletedFuture {
                                try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                                try stream.pipeline.syncOperations.addHandler(PeerHandler(peer: self))
                            }
                        }
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                }.flatMap {
                    channel.configureHTTP2SecureUpgrade(h2ChannelConfigurator: h2, http1ChannelConfigurator: http1)
                }
            }
        let bound = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        channel.withLock { $0 = bound }
        guard let port = bound.localAddress?.port else { throw PeerError(message: "platform peer did not bind") }
        return port
    }

    package func stop() async {
        try? await channel.withLock { $0 }?.close()
        try? await group.shutdownGracefully()
    }

    var port: Int { channel.withLock { $0?.localAddress?.port } ?? 0 }

    package func url(scheme: String? = nil, host: String = "127.0.0.1") -> String {
        "\(scheme ?? (tls == nil ? "http" : "https"))://\(host):\(port)\(Self.path)"
    }

    package func setFaults(_ faults: Faults) { state.withLock { $0.faults = faults } }
    package func revoke(_ token: String) { state.withLock { _ = $0.revoked.insert(token) } }
    /// Forgets a workflow's seq (as if the platform's counter were reset elsewhere) to `seq`.
    package func setLastSeq(_ seq: Int64, workflow: String) { state.withLock { $0.lastSeq[workflow] = seq } }
    package var accepted: [Accepted] { state.withLock { $0.accepted } }
    package var requestCount: Int { state.withLock { $0.requests } }
    /// The HTTP versions requests came with (e.g. "HTTP/2.0", "HTTP/1.1").
    package var httpVersions: Set<String> { state.withLock { $0.httpVersions } }
    package func lastSeq(workflow: String) -> Int64 { state.withLock { $0.lastSeq[workflow] ?? 0 } }

    /// The answer to one request: status, headers, body, and how long to wait before sending it.
    func respond(method: HTTPMethod, path: String, version: HTTPVersion, authorization: String?, body: [UInt8], tooLarge: Bool)
        -> (status: HTTPResponseStatus, headers: [(String, String)], body: [UInt8], delay: Duration)
    {
        state.withLock { s in
            s.requests += 1
            s.httpVersions.insert("\(version)")
            let delay = s.faults.delay
            func answer(_ status: HTTPResponseStatus, _ error: String, _ message: String, _ headers: [(String, String)] = []) -> (
                HTTPResponseStatus, [(String, String)], [UInt8], Duration
            ) {
                (status, headers, Self.json(error, message), delay)
            }
            guard method == .POST, path == Self.path else { return answer(.notFound, "not_found", "no such endpoint") }
            if let target = s.faults.redirectTo { return answer(.found, "moved", "see Location", [("Location", target)]) }
            if s.faults.failNext > 0 {
                s.faults.failNext -= 1
                return answer(HTTPResponseStatus(statusCode: s.faults.failStatus), "injected", "injected failure")
            }
            if s.faults.rateLimitNext > 0 {
                s.faults.rateLimitNext -= 1
                return answer(.tooManyRequests, "rate_limited", "slow down", s.faults.retryAfter.map { [("Retry-After", $0)] } ?? [])
            }
            let token = authorization.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            guard let token, let workflow = s.tokens[token], !s.revoked.contains(token) else {
                return answer(.unauthorized, "invalid_token", "token revoked or unknown")
            }
            guard !tooLarge else { return answer(.payloadTooLarge, "too_large", "body above \(maxBodyBytes) bytes") }
            guard let event = try? JSONParser.parse(body), case .string(let eventID)? = event["event_id"],
                case .number(let seqText)? = event["seq"], let seq = Int64(seqText)
            else {
                return answer(.badRequest, "invalid_event", "event_id and seq are required")
            }
            if s.seen[workflow, default: []].contains(eventID) {
                return answer(.conflict, "duplicate_event", "event \(eventID) already ingested")
            }
            let last = s.lastSeq[workflow] ?? 0
            guard seq == last + 1 else { return answer(.conflict, "seq_out_of_order", "expected seq=\(last + 1), got \(seq)") }
            s.lastSeq[workflow] = seq
            s.seen[workflow, default: []].insert(eventID)
            s.accepted.append(Accepted(workflow: workflow, seq: seq, eventID: eventID, body: String(decoding: body, as: UTF8.self)))
            return (.accepted, [], Array(#"{"ok":true}"#.utf8), delay)
        }
    }

    static func json(_ error: String, _ message: String) -> [UInt8] {
        let body = JSONValue.object([.init("ok", .bool(false)), .init("error", .string(error)), .init("message", .string(message))])
        var bytes: [UInt8] = []
        body.write(into: &bytes)
        return bytes
    }
}

/// One connection: collects a request, answers it through `PlatformPeer.respond`.
final class PeerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let peer: PlatformPeer
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var tooLarge = false

    init(peer: PlatformPeer) {
        self.peer = peer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            (head, tooLarge) = (h, false)
            body.removeAll(keepingCapacity: true)
        case .body(let buffer):
            if body.count + buffer.readableBytes > peer.maxBodyBytes { tooLarge = true } else { body.append(contentsOf: buffer.readableBytesView) }
        case .end:
            guard let head else { return }
            let answer = peer.respond(
                method: head.method, path: head.uri, version: head.version, authorization: head.headers.first(name: "Authorization"),
                body: body, tooLarge: tooLarge)
            var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(answer.body.count))])
            headers.add(contentsOf: answer.headers)
            let keepAlive = head.isKeepAlive
            let send = {
                context.write(
                    self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: answer.status, headers: headers))), promise: nil)
                context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
                let done = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
                if !keepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
            }
            if answer.delay > .zero {
                let (seconds, attoseconds) = answer.delay.components
                context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)) { send() }
            } else {
                send()
            }
        }
    }
}

package struct PeerError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }
}
