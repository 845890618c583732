import Config
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Listeners
import Logging
import NIOCore
package import OTLP
import Pipeline
import ServiceLifecycle
import Synchronization

/// Settings of the `otlp` receiver's `protocols.grpc`.
package struct OTLPGRPCConfig: Sendable {
    /// `endpoint` (default `127.0.0.1:4317`, OTLP/gRPC's port, on loopback), `tokens`, `tls`.
    package var listener = HTTPListener(port: 4317)
    /// `max_recv_msg_size_mib`, the Collector's key (default 4): larger messages get RESOURCE_EXHAUSTED.
    package var maxMessageBytes = 4 << 20
    /// Set from the `otlp` receiver's `trace_wait`, `trace_max_wait` and `keep_unmarked_spans`.
    package var traces = TraceSettings()
    package var limits = GRPCLimits()

    static func read(_ section: ConfigSection) throws(ConfigError) -> OTLPGRPCConfig {
        var c = OTLPGRPCConfig()
        c.listener = try HTTPListener.read(section, endpointEnv: "GOVERNANCE_OTLP_GRPC_ENDPOINT", defaultPort: 4317, http: false)
        c.limits = try GRPCLimits.read(section)
        if c.listener.host == "localhost" { c.listener.host = "127.0.0.1" }
        guard isIPLiteral(c.listener.host) else {
            throw section.error(
                "endpoint", "has the host `\(c.listener.host)`; the gRPC listener binds an IP address",
                fix: "write an address, e.g. 127.0.0.1:4317, 0.0.0.0:4317 or [::1]:4317")
        }
        c.maxMessageBytes = try section.int("max_recv_msg_size_mib", default: 4, range: 1...1024) << 20
        try section.finish()
        return c
    }

    static func isIPLiteral(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// What one gRPC client may hold, as HTTP/2 and gRPC servers bound it (grpc-go's
/// `MaxConcurrentStreams` and keepalive `ServerParameters`/`EnforcementPolicy`, which the
/// OpenTelemetry Collector exposes under the same names).
package struct GRPCLimits: Sendable, Equatable {
    /// `max_connections` (default 1024): a connection beyond it is closed as soon as accepted.
    package var maxConnections = 1024
    /// `max_concurrent_streams` (default 100) per connection; the client waits for a free one.
    package var maxConcurrentStreams = 100
    /// `idle_timeout` (seconds, default 60): a connection with no open stream (also one that
    /// never opens any: half a preface, a silent socket) is closed with GOAWAY.
    package var idleTimeout = 60.0
    /// `keepalive_time` (seconds, default 7200) and `keepalive_timeout` (default 20): the
    /// server pings a quiet connection and closes it if the ping is not answered.
    package var keepaliveTime = 7_200.0
    package var keepaliveTimeout = 20.0
    /// `min_ping_interval` (seconds, default 300): clients pinging more often without calls are
    /// sent GOAWAY (ping floods).
    package var minPingInterval = 300.0

    static func read(_ section: ConfigSection) throws(ConfigError) -> GRPCLimits {
        var l = GRPCLimits()
        l.maxConnections = try section.int("max_connections", default: l.maxConnections, range: 1...1_000_000)
        l.maxConcurrentStreams = try section.int("max_concurrent_streams", default: l.maxConcurrentStreams, range: 1...100_000)
        l.idleTimeout = try section.double("idle_timeout", default: l.idleTimeout, range: 0.1...86_400)
        l.keepaliveTime = try section.double("keepalive_time", default: l.keepaliveTime, range: 1...86_400)
        l.keepaliveTimeout = try section.double("keepalive_timeout", default: l.keepaliveTimeout, range: 0.1...3_600)
        l.minPingInterval = try section.double("min_ping_interval", default: l.minPingInterval, range: 0.1...86_400)
        return l
    }
}

/// OTLP/gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export` and
/// `...trace.v1.TraceService/Export` on grpc-swift 2's HTTP/2 transport. Messages stay bytes
/// (`OTLPGRPC.RawMessage`): protobuf-c decodes them in `OTLPExport`, as for OTLP/HTTP. Status
/// codes follow the OTLP specification: UNAUTHENTICATED, INVALID_ARGUMENT naming the field, RESOURCE_EXHAUSTED
/// above the size limit, UNAVAILABLE with `RetryInfo` while PostgreSQL is down, OK only after
/// the commit, with `partial_success` for refused records.
final class OTLPGRPCServer: Sendable {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let port = BoundPort()
    private let name: String
    private let logger: Logger

    init(config: OTLPGRPCConfig, export: OTLPExport, name: String, metrics: ListenerMetrics, inFlight: InFlightBudget, logger: Logger) {
        self.name = name
        self.logger = logger
        let listener = config.listener
        let security: HTTP2ServerTransport.Posix.TransportSecurity =
            if let cert = listener.tlsCertFile, let key = listener.tlsKeyFile {
                .tls(certificateChain: [.file(path: cert, format: .pem)], privateKey: .file(path: key, format: .pem))
            } else {
                .plaintext
            }
        let transport = HTTP2ServerTransport.Posix(
            address: listener.host.contains(":") ? .ipv6(host: listener.host, port: listener.port) : .ipv4(host: listener.host, port: listener.port),
            transportSecurity: security,
            config: .defaults { c in
                // The transport resets streams above its ceiling without a status; the service
                // checks the configured limit itself so the client gets RESOURCE_EXHAUSTED.
                c.rpc.maxRequestPayloadSize = config.maxMessageBytes * 2
                c.compression.enabledAlgorithms = .all
                c.http2.maxConcurrentStreams = config.limits.maxConcurrentStreams
                c.http2.targetWindowSize = 4 << 20
                c.connection.maxIdleTime = .seconds(config.limits.idleTimeout)
                c.connection.keepalive.time = .seconds(config.limits.keepaliveTime)
                c.connection.keepalive.timeout = .seconds(config.limits.keepaliveTimeout)
                c.connection.keepalive.clientBehavior.minPingIntervalWithoutCalls = .seconds(config.limits.minPingInterval)
                let connections = AcceptedConnectionGuard(
                    max: config.limits.maxConnections, firstStreamTimeout: config.limits.idleTimeout, metrics: metrics)
                let tokens = config.listener.tokens, managed = export.pipeline.managedTokens
                let streams = GRPCStreamAdmission(budget: inFlight, ceiling: c.rpc.maxRequestPayloadSize) { authorization in
                    tokens.workflow(forAuthorization: authorization, managed: managed)
                }
                c.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in connections.admit(channel) }
                c.channelDebuggingCallbacks.onAcceptHTTP2Stream = { stream in connections.streamOpened(stream).flatMap { streams.admit(stream) } }
            })
        server = GRPCServer(transport: transport, services: [Service(config: config, export: export, inFlight: inFlight)])
    }

    var boundPort: Int? { port.value.withLock { $0 } }

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [server] in try await server.serve() }
                if let address = try await server.listeningAddress {
                    let bound = address.ipv4?.port ?? address.ipv6?.port
                    port.value.withLock { $0 = bound }
                    logger.info("\(name).listening", metadata: ["address": "\(address)", "protocol": "grpc"])
                }
                try await group.waitForAll()
            }
        } onGracefulShutdown: { [server] in
            server.beginGracefulShutdown()
        }
    }

    /// The two Export methods, registered without generated code.
    struct Service: RegistrableRPCService {
        let config: OTLPGRPCConfig
        let export: OTLPExport
        let inFlight: InFlightBudget

        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            for signal in [OTLPSignal.logs, .traces, .metrics] {
                router.registerHandler(forMethod: OTLPGRPC.export(signal), deserializer: OTLPGRPC.RawMessage(), serializer: OTLPGRPC.RawMessage()) {
                    request, _ in
                    let response = await handle(request, signal: signal)
                    export.metrics.requests.increment(response.label)
                    return response.streaming
                }
            }
        }

        func handle(_ request: StreamingServerRequest<[UInt8]>, signal: OTLPSignal) async -> Outcome {
            let authorization = request.metadata[stringValues: "authorization"].first(where: { _ in true })
            guard let workflow = config.listener.tokens.workflow(forAuthorization: authorization, managed: export.pipeline.managedTokens) else {
                return .failure(
                    RPCError(
                        code: .unauthenticated,
                        message: authorization == nil
                            ? "missing authorization metadata: Bearer <wf_ token>" : "unknown or revoked token"))
            }
            let body: [UInt8]
            do {
                body = try await ServerRequest(stream: request).message
            } catch {
                return .failure(RPCError(code: .invalidArgument, message: "the request message could not be read: \(error)"))
            }
            guard body.count <= config.maxMessageBytes else {
                return .failure(
                    RPCError(
                        code: .resourceExhausted,
                        message:
                            "the message is \(body.count) bytes (after decompression); the limit is \(config.maxMessageBytes) (max_recv_msg_size_mib)"
                    ))
            }
            // The transport has read the message already, under the stream's reservation
            // (GRPCStreamAdmission); this one bounds decoding and commits.
            guard let reservation = inFlight.reserve(forBody: body.count) else {
                let message =
                    "the collector is at its memory budget for requests in flight (service.in_flight_limit_mib = \(inFlight.limit >> 20)); retry"
                var trailers = Metadata()
                trailers.addBinary(GRPCStatusDetails.retryable(code: 8, message: message, retryAfterSeconds: 1), forKey: "grpc-status-details-bin")
                return .failure(RPCError(code: .resourceExhausted, message: message, metadata: trailers))
            }
            defer { reservation.release() }
            do {
                let accepted = try await export.handle(signal, body, encoding: .protobuf, workflow: workflow)
                return .success(OTLPEncoding.protobuf.exportResponse(rejected: accepted.rejected, message: accepted.message, signal: signal))
            } catch {
                switch error {
                case .invalid(let message):
                    return .failure(RPCError(code: .invalidArgument, message: message))
                case .tooLarge(let message):
                    return .failure(RPCError(code: .resourceExhausted, message: message))
                case .unavailable(let message, let seconds):
                    var trailers = Metadata()
                    trailers.addBinary(GRPCStatusDetails.retryable(message: message, retryAfterSeconds: seconds), forKey: "grpc-status-details-bin")
                    return .failure(RPCError(code: .unavailable, message: message, metadata: trailers))
                }
            }
        }
    }

    enum Outcome {
        case success([UInt8])
        case failure(RPCError)

        var streaming: StreamingServerResponse<[UInt8]> {
            switch self {
            case .success(let bytes): StreamingServerResponse(single: ServerResponse(message: bytes))
            case .failure(let error): StreamingServerResponse(error: error)
            }
        }

        /// `governance_receiver_requests_total{status}` for gRPC: `grpc_` and the code's name.
        var label: String {
            switch self {
            case .success: "grpc_ok"
            case .failure(let error): "grpc_\(error.code)".lowercased()
            }
        }
    }
}
