import Config
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import OTLP
import Pipeline
import ServiceLifecycle

/// Settings of the `otlp_http` receiver.
public struct OTLPHTTPConfig: Sendable {
    /// `endpoint` (default `127.0.0.1:4318`, OTLP/HTTP's port, on loopback), `tokens`, `tls`.
    public var listener = HTTPListener(port: 4318)
    /// Largest body after gzip decompression, bytes (413 above it). Default 20 MiB.
    public var maxBodyBytes = 20 * 1024 * 1024

    public static func read(_ section: ConfigSection) throws(ConfigError) -> OTLPHTTPConfig {
        var c = OTLPHTTPConfig()
        c.listener = try HTTPListener.read(section, endpointEnv: "GOVERNANCE_OTLP_ENDPOINT", defaultPort: 4318)
        c.maxBodyBytes = try section.int("max_body_bytes", default: c.maxBodyBytes, range: 1024...(1 << 30))
        try section.finish()
        return c
    }
}

/// OTLP/HTTP logs (`POST /v1/logs`, protobuf or JSON, optionally gzip), so OpenTelemetry SDKs
/// and collectors can send audit events. Each log record maps to one audit event
/// (`OTLPMapping`); records that cannot map are counted in `partial_success` with the reason,
/// never dropped silently. Errors are `google.rpc.Status` in the request's encoding; while
/// PostgreSQL is unavailable the answer is 503 with `Retry-After`, which OTLP clients retry.
public final class OTLPHTTPReceiver: Receiver, Sendable {
    public static let logsPath = "/v1/logs"
    let config: OTLPHTTPConfig
    private let server: ReceiverServer

    public init(config: OTLPHTTPConfig, context: BuildContext) throws {
        self.config = config
        let (pipeline, logger) = (context.pipeline!, context.logger)
        let metrics = ReceiverMetrics(context.telemetry, receiver: context.id)
        server = try ReceiverServer(name: "otlp_http", listener: config.listener, context: context, metrics: metrics) { router in
            router.post(RouterPath(Self.logsPath)) { request, _ in
                await Self.handle(request, config: config, pipeline: pipeline, metrics: metrics, logger: logger)
            }
        }
    }

    public var boundPort: Int? { server.boundPort }
    public var isListening: Bool { server.isListening }

    public func run() async throws {
        try await server.run()
    }

    /// A refusal of the whole request, answered as `google.rpc.Status`.
    struct Refusal: Error {
        var status: HTTPResponse.Status
        var code: Int32 // google.rpc.Code
        var message: String
        var headers: HTTPFields = [:]
    }

    static func handle(_ request: Request, config: OTLPHTTPConfig, pipeline: Pipeline, metrics: ReceiverMetrics, logger: Logger) async -> Response {
        let mediaType = (request.headers[.contentType] ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let encoding: OTLPEncoding = mediaType == "application/json" ? .json : .protobuf
        do throws(Refusal) {
            guard mediaType == "application/x-protobuf" || mediaType == "application/json" else {
                throw Refusal(status: .unsupportedMediaType, code: 3, message: "Content-Type is `\(mediaType)`; send application/x-protobuf or application/json")
            }
            guard let workflow = config.listener.tokens.workflow(forAuthorization: request.headers[.authorization], managed: pipeline.managedTokens) else {
                throw Refusal(status: .unauthorized, code: 16, message: request.headers[.authorization] == nil
                              ? "missing Authorization: Bearer <wf_ token>" : "unknown or revoked token",
                              headers: [.wwwAuthenticate: "Bearer"])
            }
            let body = try await readBody(request, limit: config.maxBodyBytes)
            let records: [OTLPLogRecord]
            do {
                records = encoding == .json ? try OTLPJSON.decodeRequest(body) : try OTLPProtobuf.decodeRequest(body)
            } catch {
                throw Refusal(status: .badRequest, code: 3, message: error.message)
            }
            var events: [AuditEvent] = []
            var reasons: [String] = []
            let now = Timestamp.now()
            for (index, record) in records.enumerated() {
                do {
                    events.append(try OTLPMapping.event(from: record, workflow: workflow, receivedAt: now))
                } catch {
                    reasons.append("record \(index): \(error.field) \(error.message)")
                }
            }
            var rejected = reasons.count
            metrics.events.increment("rejected", by: rejected)
            if !events.isEmpty {
                let outcomes: [EventOutcome]
                do {
                    outcomes = try await pipeline.submit(events)
                } catch {
                    throw Refusal(status: .serviceUnavailable, code: 14, message: error.reason,
                                  headers: [.retryAfter: String(error.retryAfterSeconds)])
                }
                metrics.record(outcomes)
                for outcome in outcomes {
                    if case .rejected(let r) = outcome {
                        rejected += 1
                        if reasons.count < 10 { reasons.append("\(r.field) \(r.message)") }
                    }
                }
            }
            let message = reasons.prefix(10).joined(separator: "; ") + (reasons.count > 10 ? "; …" : "")
            return Response(status: .ok, headers: [.contentType: encoding.contentType],
                            body: .init(byteBuffer: ByteBuffer(bytes: encoding.exportResponse(rejected: rejected, message: message))))
        } catch {
            logger.debug("otlp_http.refused", metadata: ["status": "\(error.status.code)", "reason": "\(error.message)"])
            var headers = error.headers
            headers[.contentType] = encoding.contentType
            return Response(status: error.status, headers: headers,
                            body: .init(byteBuffer: ByteBuffer(bytes: encoding.status(code: error.code, message: error.message))))
        }
    }

    /// The body, gunzipped when `Content-Encoding: gzip`; the limit applies after decompression.
    static func readBody(_ request: Request, limit: Int) async throws(Refusal) -> [UInt8] {
        let tooLarge = Refusal(status: .contentTooLarge, code: 8, message: "the body exceeds \(limit) bytes (after decompression)")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
        var request = request
        let raw: [UInt8]
        do {
            raw = Array(try await request.collectBody(upTo: limit).readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge
        } catch {
            throw Refusal(status: .badRequest, code: 3, message: "the body could not be read: \(error)")
        }
        switch (request.headers[.contentEncoding] ?? "identity").lowercased() {
        case "identity", "": return raw
        case "gzip":
            do {
                return try Gzip.decompress(raw, limit: limit)
            } catch .tooLarge {
                throw tooLarge
            } catch {
                throw Refusal(status: .badRequest, code: 3, message: "Content-Encoding is gzip but the body is not valid gzip")
            }
        case let other:
            throw Refusal(status: .unsupportedMediaType, code: 3, message: "Content-Encoding `\(other)` is not supported; use gzip or none")
        }
    }
}
