package import Config
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
package import OTLP
package import Pipeline
import ServiceLifecycle

/// Settings of the `otlp_http` receiver, and of the `otlp` receiver's `protocols.http`.
package struct OTLPHTTPConfig: Sendable {
    /// `endpoint` (default `127.0.0.1:4318`, OTLP/HTTP's port, on loopback), `tokens`, `tls`.
    package var listener = HTTPListener(port: 4318)
    /// Largest body after gzip decompression, bytes (413 above it). Default 20 MiB.
    package var maxBodyBytes = 20 * 1024 * 1024
    /// `trace_wait`, `trace_max_wait` and `keep_unmarked_spans` (`TraceSettings`).
    package var traces = TraceSettings()

    package static func read(_ section: ConfigSection) throws(ConfigError) -> OTLPHTTPConfig {
        var c = try readProtocol(section)
        c.traces = try TraceSettings.read(section)
        try section.finish()
        return c
    }

    /// The listener settings alone (the `otlp` receiver reads the trace settings once, above its protocols).
    static func readProtocol(_ section: ConfigSection) throws(ConfigError) -> OTLPHTTPConfig {
        var c = OTLPHTTPConfig()
        c.listener = try HTTPListener.read(section, endpointEnv: "GOVERNANCE_OTLP_ENDPOINT", defaultPort: 4318)
        c.maxBodyBytes = try section.int("max_body_bytes", default: c.maxBodyBytes, range: 1024...(1 << 30))
        return c
    }
}

/// OTLP/HTTP logs, traces and metrics (`POST /v1/logs`, `/v1/traces`, `/v1/metrics`, protobuf or
/// JSON, optionally gzip), so OpenTelemetry SDKs and collectors can send audit events (metrics
/// are counted, not stored: `OTLPExport`). Each log record maps to
/// one audit event (`OTLPMapping`), each span to at most one (`OTLPSpanMapping`); records that
/// cannot map are counted in `partial_success` with the reason, never dropped silently. Errors
/// are `google.rpc.Status` in the request's encoding; while PostgreSQL is unavailable the answer
/// is 503 with `Retry-After`, which OTLP clients retry.
package final class OTLPHTTPReceiver: Receiver, Sendable {
    package static let logsPath = "/v1/logs"
    package static let tracesPath = "/v1/traces"
    package static let metricsPath = "/v1/metrics"
    /// Where Langfuse's own exporter posts its spans (`<base URL>/api/public/otel/v1/traces`).
    package static let langfuseTracesPath = "/api/public/otel/v1/traces"
    let config: OTLPHTTPConfig
    private let server: ReceiverServer

    /// `listenerID` labels the connection metrics (default: the component id).
    package init(config: OTLPHTTPConfig, context: ReceiverContext, name: String = "otlp_http", listenerID: String? = nil) throws {
        self.config = config
        let logger = context.logger
        let metrics = ReceiverMetrics(context.telemetry, receiver: context.id)
        let export = OTLPExport(
            pipeline: context.pipeline, metrics: metrics, traces: config.traces,
            staging: context.resources.get((any SpanStaging).self),
            genAIMetrics: context.resources.get((any GenAIMetricRecording).self), drops: DroppedSpansLog(logger: context.logger))
        let inFlight = context.inFlight
        server = try ReceiverServer(name: name, listenerID: listenerID ?? context.id, listener: config.listener, context: context, metrics: metrics) {
            router in
            for (path, signal) in [
                (Self.logsPath, OTLPSignal.logs), (Self.tracesPath, .traces), (Self.metricsPath, .metrics),
                (Self.langfuseTracesPath, .traces),
            ] {
                router.post(RouterPath(path)) { request, _ in
                    await Self.handle(request, signal: signal, config: config, export: export, inFlight: inFlight, logger: logger)
                }
            }
        }
    }

    package var boundPort: Int? { server.boundPort }
    package var isListening: Bool { server.isListening }

    package func run() async throws {
        try await server.run()
    }

    /// A refusal of the whole request, answered as `google.rpc.Status`.
    struct Refusal: Error {
        var status: HTTPResponse.Status
        var code: Int32  // google.rpc.Code
        var message: String
        var headers: HTTPFields = [:]
    }

    static func handle(
        _ request: Request, signal: OTLPSignal, config: OTLPHTTPConfig, export: OTLPExport, inFlight: InFlightBudget,
        logger: Logger
    ) async -> Response {
        let mediaType = contentMediaType(request.headers[.contentType])
        let encoding: OTLPEncoding = mediaType == "application/json" ? .json : .protobuf
        do throws(Refusal) {
            guard mediaType == "application/x-protobuf" || mediaType == "application/json" else {
                throw Refusal(
                    status: .unsupportedMediaType, code: 3, message: "Content-Type is `\(mediaType)`; send application/x-protobuf or application/json"
                )
            }
            // A bearer token, or (as Langfuse's exporter sends it) the password of Basic auth.
            let authorization = request.headers[.authorization]
            guard let token = IngestToken.bearer(authorization) ?? IngestToken.basicPassword(authorization),
                let workflow = config.listener.tokens.workflow(forToken: token, managed: export.pipeline.managedTokens)
            else {
                throw Refusal(
                    status: .unauthorized, code: 16,
                    message: authorization == nil
                        ? "missing Authorization: Bearer <wf_ token> (or Basic auth with the token as its password)" : "unknown or revoked token",
                    headers: [.wwwAuthenticate: "Bearer"])
            }
            let (body, reservation) = try await readBody(request, limit: config.maxBodyBytes, inFlight: inFlight)
            defer { reservation.release() }
            let accepted: OTLPExport.Accepted
            do {
                accepted = try await export.handle(signal, body, encoding: encoding, workflow: workflow)
            } catch {
                switch error {
                case .invalid(let message): throw Refusal(status: .badRequest, code: 3, message: message)
                case .tooLarge(let message): throw Refusal(status: .contentTooLarge, code: 8, message: message)
                case .unavailable(let message, let seconds):
                    throw Refusal(status: .serviceUnavailable, code: 14, message: message, headers: [.retryAfter: String(seconds)])
                }
            }
            return Response(
                status: .ok, headers: [.contentType: encoding.contentType],
                body: .init(
                    byteBuffer: ByteBuffer(bytes: encoding.exportResponse(rejected: accepted.rejected, message: accepted.message, signal: signal))))
        } catch {
            logger.debug("otlp_http.refused", metadata: ["status": "\(error.status.code)", "reason": "\(error.message)"])
            var headers = error.headers
            headers[.contentType] = encoding.contentType
            return Response(
                status: error.status, headers: headers,
                body: .init(byteBuffer: ByteBuffer(bytes: encoding.status(code: error.code, message: error.message))))
        }
    }

    /// The body, gunzipped when `Content-Encoding: gzip`; the limit applies after decompression.
    /// Read only after its size (Content-Length, else `limit`) was reserved from the in-flight
    /// budget (503 with Retry-After, which OTLP clients retry, when spent); decompression grows
    /// the reservation. Held until the request is answered.
    static func readBody(_ request: Request, limit: Int, inFlight: InFlightBudget) async throws(Refusal) -> ([UInt8], InFlightBudget.Reservation) {
        let tooLarge = Refusal(status: .contentTooLarge, code: 8, message: "the body exceeds \(limit) bytes (after decompression)")
        let length = request.headers[.contentLength].flatMap(Int.init)
        if let length, length > limit { throw tooLarge }
        let overloaded = Refusal(
            status: .serviceUnavailable, code: 14,
            message: "the collector is at its memory budget for requests in flight (service.in_flight_limit_mib = \(inFlight.limit >> 20)); retry",
            headers: [.retryAfter: "1"])
        guard let reservation = inFlight.reserve(forBody: length ?? limit) else { throw overloaded }
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
        case "identity", "":
            if length == nil { _ = reservation.resize(forBody: raw.count) }
            return (raw, reservation)
        case "gzip":
            let inflated: [UInt8]
            do {
                inflated = try Gzip.decompress(raw, limit: limit)
            } catch .tooLarge {
                throw tooLarge
            } catch {
                throw Refusal(status: .badRequest, code: 3, message: "Content-Encoding is gzip but the body is not valid gzip")
            }
            guard reservation.resize(forBody: raw.count + inflated.count) else { throw overloaded }
            return (inflated, reservation)
        case let other:
            throw Refusal(status: .unsupportedMediaType, code: 3, message: "Content-Encoding `\(other)` is not supported; use gzip or none")
        }
    }
}
