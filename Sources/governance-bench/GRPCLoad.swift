import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import OTLP
import Synchronization

/// OTLP/gRPC load for the bench: `connections` concurrent unary `LogsService/Export` calls
/// through grpc-swift 2 (one HTTP/2 connection, as OpenTelemetry's exporters use), gzip per
/// message, until every body was sent once.
enum GRPCLoad {
    struct Report {
        var seconds: Double
        /// Every call answered OK with an empty response (no partial_success).
        var allAccepted: Bool
    }

    /// Runs `body` with a client of one plaintext connection to the loopback `port` and gzip
    /// call options; shuts the client down after.
    static func withClient<T: Sendable>(
        port: Int, timeout: Duration,
        _ body: (GRPCClient<HTTP2ClientTransport.Posix>, CallOptions) async throws -> T
    ) async throws -> T {
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext,
            config: .defaults { $0.compression.enabledAlgorithms = .all })
        let client = GRPCClient(transport: transport)
        let running = Task { try await client.runConnections() }
        defer {
            client.beginGracefulShutdown()
            running.cancel()
        }
        var options = CallOptions.defaults
        options.compression = .gzip
        options.timeout = timeout
        return try await body(client, options)
    }

    static func run(port: Int, token: String, bodies: [[UInt8]], connections: Int) async throws -> Report {
        try await withClient(port: port, timeout: .seconds(60)) { client, options in
            try await run(client, options, token: token, bodies: bodies, connections: connections)
        }
    }

    static func run(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ options: CallOptions, token: String, bodies: [[UInt8]], connections: Int)
        async throws -> Report
    {
        let progress = Progress()
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                group.addTask { [options] in
                    while true {
                        let i = progress.next.add(1, ordering: .relaxed).oldValue
                        guard i < bodies.count else { return }
                        let reply = try? await client.unary(
                            request: ClientRequest(message: bodies[i], metadata: ["authorization": "Bearer \(token)"]),
                            descriptor: OTLPGRPC.logsExport, serializer: OTLPGRPC.RawMessage(), deserializer: OTLPGRPC.RawMessage(), options: options
                        ) { try $0.message }
                        if reply?.isEmpty != true { progress.failures.add(1, ordering: .relaxed) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        return Report(
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            allAccepted: progress.failures.load(ordering: .relaxed) == 0)
    }

    /// The next body to send, and the calls that failed, across the concurrent callers.
    final class Progress: Sendable {
        let next = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
    }
}
