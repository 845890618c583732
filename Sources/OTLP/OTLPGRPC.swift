public import GRPCCore

/// What the OTLP/gRPC server, exporter and bench share: the `Export` methods, and their
/// messages kept as protobuf bytes, which protobuf-c encodes and decodes (no generated gRPC code).
public enum OTLPGRPC {
    public static let logsExport = MethodDescriptor(fullyQualifiedService: "opentelemetry.proto.collector.logs.v1.LogsService", method: "Export")
    public static let tracesExport = MethodDescriptor(fullyQualifiedService: "opentelemetry.proto.collector.trace.v1.TraceService", method: "Export")

    public static let metricsExport = MethodDescriptor(
        fullyQualifiedService: "opentelemetry.proto.collector.metrics.v1.MetricsService", method: "Export")

    public static func export(_ signal: OTLPSignal) -> MethodDescriptor {
        switch signal {
        case .logs: logsExport
        case .traces: tracesExport
        case .metrics: metricsExport
        }
    }

    /// A message as its bytes, both ways.
    public struct RawMessage: MessageSerializer, MessageDeserializer {
        public init() {}
        public func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
        public func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] { bytes.withUnsafeBytes { Array($0) } }
    }
}
