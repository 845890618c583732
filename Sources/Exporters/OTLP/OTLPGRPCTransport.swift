import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import OTLP
import Pipeline
import Synchronization

/// OTLP/gRPC through grpc-swift 2's HTTP/2 transport: `LogsService/Export` or
/// `TraceService/Export` with the encoded request as the message (protobuf-c's bytes), gzip per
/// message. Retryable per the OTLP specification: CANCELLED, DEADLINE_EXCEEDED, ABORTED,
/// OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS, and RESOURCE_EXHAUSTED only when the server sent
/// `RetryInfo`; its delay is honoured.
final class OTLPGRPCTransport: OTLPTransport {
    static let retryable: Set<RPCError.Code> = [.cancelled, .deadlineExceeded, .aborted, .outOfRange, .unavailable, .dataLoss]

    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let connections: Task<Void, any Error>
    private let descriptor: MethodDescriptor
    private let metadata: Metadata
    private let options: CallOptions
    private let timeout: Double

    init(config: OTLPExporterConfig, endpoint: String) throws {
        let target = try OTLPExporterConfig.grpcTarget(endpoint).get()
        let security: HTTP2ClientTransport.Posix.TransportSecurity =
            if target.tls {
                .tls { tls in
                    if let ca = config.caFile { tls.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
                }
            } else {
                .plaintext
            }
        let transport = try HTTP2ClientTransport.Posix(
            target: .dns(host: target.host, port: target.port), transportSecurity: security,
            config: .defaults { $0.compression.enabledAlgorithms = .all })
        client = GRPCClient(transport: transport)
        connections = Task { [client] in try await client.runConnections() }
        descriptor = OTLPGRPC.export(config.signal)
        var metadata = Metadata()
        for (name, value) in config.headers { metadata.addString(value, forKey: name.lowercased()) }
        self.metadata = metadata
        var options = CallOptions.defaults
        if config.gzip { options.compression = .gzip }
        self.options = options
        timeout = config.timeout
    }

    nonisolated(nonsending) func deliver(_ body: [UInt8], timeLeftMilliseconds: Int?) async -> OTLPDelivery {
        var options = self.options
        options.timeout = .milliseconds(Int64(min(timeout * 1000, Double(timeLeftMilliseconds ?? Int.max))))
        do {
            _ = try await client.unary(
                request: ClientRequest(message: body, metadata: metadata), descriptor: descriptor,
                serializer: OTLPGRPC.RawMessage(), deserializer: OTLPGRPC.RawMessage(), options: options
            ) { try $0.message }
            return .sent
        } catch let error as RPCError {
            return Self.delivery(for: error)
        } catch {
            return .retryable(after: nil, reason: "\(error)")
        }
    }

    static func delivery(for error: RPCError) -> OTLPDelivery {
        let delay = error.metadata[binaryValues: "grpc-status-details-bin"].lazy.compactMap { GRPCStatusDetails.retryDelay(Array($0)) }.first
        if retryable.contains(error.code) || (error.code == .resourceExhausted && delay != nil) {
            return .retryable(after: delay, reason: "\(error.code): \(error.message)")
        }
        return .rejected(status: "\(error.code)", detail: String(error.message.prefix(200)))
    }

    func close() {
        client.beginGracefulShutdown()
        connections.cancel()
    }
}
