package import Config
import Listeners
import OTLP
package import Pipeline

/// Settings of the `otlp` receiver, in the OpenTelemetry Collector's shape:
/// `protocols: {grpc: {endpoint: …}, http: {endpoint: …}}`, at least one of them.
package struct OTLPConfig: Sendable {
    package var grpc: OTLPGRPCConfig?
    package var http: OTLPHTTPConfig?

    package static func read(_ section: ConfigSection) throws(ConfigError) -> OTLPConfig {
        var c = OTLPConfig()
        let traces = try TraceSettings.read(section)
        let protocols = try section.section("protocols")
        if protocols.raw("grpc") != nil { c.grpc = try OTLPGRPCConfig.read(try protocols.section("grpc")) }
        if protocols.raw("http") != nil {
            let http = try protocols.section("http")
            c.http = try OTLPHTTPConfig.readProtocol(http)
            c.http?.traces = traces
            try http.finish()
        }
        c.grpc?.traces = traces
        try protocols.finish()
        try section.finish()
        guard c.grpc != nil || c.http != nil else {
            throw section.error(
                "protocols", "names neither grpc nor http",
                fix: "add `protocols: {grpc: {endpoint: 127.0.0.1:4317}, http: {endpoint: 127.0.0.1:4318}}` (either or both)")
        }
        return c
    }
}

/// The `otlp` receiver: OTLP logs and traces over gRPC and HTTP, each protocol on its own
/// listener with its own tokens and TLS, both mapping through the same `OTLPExport`.
package final class OTLPReceiver: Receiver, Sendable {
    private let http: OTLPHTTPReceiver?
    private let grpc: OTLPGRPCServer?

    package init(config: OTLPConfig, context: ReceiverContext) throws {
        http = try config.http.map {
            try OTLPHTTPReceiver(config: $0, context: context, name: "\(context.id).http", listenerID: "\(context.id).http")
        }
        grpc = config.grpc.map { grpc in
            let export = OTLPExport(
                pipeline: context.pipeline, metrics: ReceiverMetrics(context.telemetry, receiver: context.id),
                traces: grpc.traces, staging: context.resources.get((any SpanStaging).self),
                genAIMetrics: context.resources.get((any GenAIMetricRecording).self), drops: DroppedSpansLog(logger: context.logger))
            return OTLPGRPCServer(
                config: grpc, export: export, name: "\(context.id).grpc",
                metrics: ListenerMetrics(context.telemetry, listener: "\(context.id).grpc"), inFlight: context.inFlight,
                logger: context.logger)
        }
    }

    /// The bound ports (useful with port 0); nil until listening or when the protocol is off.
    package var httpPort: Int? { http?.boundPort }
    package var grpcPort: Int? { grpc?.boundPort }

    package var isListening: Bool {
        (http?.isListening ?? true) && (grpc.map { $0.boundPort != nil } ?? true)
    }

    package func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let http { group.addTask { try await http.run() } }
            if let grpc { group.addTask { try await grpc.run() } }
            try await group.waitForAll()
        }
    }
}
