import COTLP
import Foundation
import Pipeline

/// The OTLP signals the receivers accept.
public enum OTLPSignal: Sendable {
    case logs, traces, metrics

    /// The partial-success field counting what was rejected, in OTLP/JSON.
    var rejectedField: String {
        switch self {
        case .logs: "rejectedLogRecords"
        case .traces: "rejectedSpans"
        case .metrics: "rejectedDataPoints"
        }
    }
}

/// The OTLP/HTTP answers, in the encoding of the request.
public enum OTLPEncoding: Sendable {
    case protobuf, json

    public var contentType: String { self == .protobuf ? "application/x-protobuf" : "application/json" }

    /// `Export{Logs,Trace,Metrics}ServiceResponse`: empty when everything was accepted, else
    /// `partial_success`; a message with nothing rejected is a warning, as the specification allows.
    /// The signals' messages have the same field numbers, so the protobuf bytes are the logs'.
    public func exportResponse(rejected: Int, message: String, signal: OTLPSignal = .logs) -> [UInt8] {
        switch self {
        case .json:
            guard rejected > 0 || !message.isEmpty else { return Array("{}".utf8) }
            var out: [UInt8] = []
            JSONValue.object([
                .init(
                    "partialSuccess",
                    .object([
                        .init(signal.rejectedField, .string(String(rejected))), .init("errorMessage", .string(message)),
                    ]))
            ]).write(into: &out)
            return out
        case .protobuf:
            var response = Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse()
            opentelemetry__proto__collector__logs__v1__export_logs_service_response__init(&response)
            guard rejected > 0 || !message.isEmpty else { return pack(&response) }
            var partial = Opentelemetry__Proto__Collector__Logs__V1__ExportLogsPartialSuccess()
            opentelemetry__proto__collector__logs__v1__export_logs_partial_success__init(&partial)
            partial.rejected_log_records = Int64(rejected)
            return message.withCString { text in
                partial.error_message = UnsafeMutablePointer(mutating: text)
                return withUnsafeMutablePointer(to: &partial) { partialPointer in
                    response.partial_success = partialPointer
                    return pack(&response)
                }
            }
        }
    }

    /// `google.rpc.Status`, the body of every OTLP/HTTP error answer.
    public func status(code: Int32, message: String) -> [UInt8] {
        switch self {
        case .json:
            var out: [UInt8] = []
            JSONValue.object([.init("code", .number(String(code))), .init("message", .string(message)), .init("details", .array([]))]).write(
                into: &out)
            return out
        case .protobuf:
            var status = Google__Rpc__Status()
            google__rpc__status__init(&status)
            status.code = code
            return message.withCString { text in
                status.message = UnsafeMutablePointer(mutating: text)
                let size = google__rpc__status__get_packed_size(&status)
                var out = [UInt8](repeating: 0, count: size)
                _ = out.withUnsafeMutableBufferPointer { google__rpc__status__pack(&status, $0.baseAddress) }
                return out
            }
        }
    }

    private func pack(_ response: inout Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse) -> [UInt8] {
        let size = opentelemetry__proto__collector__logs__v1__export_logs_service_response__get_packed_size(&response)
        var out = [UInt8](repeating: 0, count: size)
        _ = out.withUnsafeMutableBufferPointer {
            opentelemetry__proto__collector__logs__v1__export_logs_service_response__pack(&response, $0.baseAddress)
        }
        return out
    }
}

/// gzip through zlib, bounded: a body that inflates past `limit` stops there (zip bombs).
public enum Gzip {
    public enum Failure: Error, Sendable { case invalid, tooLarge }

    public static func decompress(_ data: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let n = data.withUnsafeBufferPointer { cotlp_gunzip($0.baseAddress, $0.count, limit, &out) }
        switch n {
        case -2: throw .tooLarge
        case ..<0: throw .invalid
        default:
            defer { free(out) }
            return Array(UnsafeBufferPointer(start: out, count: n))
        }
    }

    public static func compress(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: data.count + data.count / 100 + 64)
        let n = data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { cotlp_gzip(input.baseAddress, input.count, $0.baseAddress, $0.count) }
        }
        out.removeLast(out.count - max(0, n))
        return out
    }
}

/// `grpc-status-details-bin`: the `google.rpc.Status` a gRPC error carries in its trailers.
public enum GRPCStatusDetails {
    /// A status (default UNAVAILABLE, 14; RESOURCE_EXHAUSTED is 8) with `google.rpc.RetryInfo`,
    /// which OTLP/gRPC clients honour before retrying (and which makes RESOURCE_EXHAUSTED retryable).
    public static func retryable(code: Int32 = 14, message: String, retryAfterSeconds: Int) -> [UInt8] {
        var delay = Google__Protobuf__Duration()
        google__protobuf__duration__init(&delay)
        delay.seconds = Int64(retryAfterSeconds)
        var retry = Google__Rpc__RetryInfo()
        google__rpc__retry_info__init(&retry)
        let retryBytes: [UInt8] = withUnsafeMutablePointer(to: &delay) { delayPointer in
            retry.retry_delay = delayPointer
            var out = [UInt8](repeating: 0, count: google__rpc__retry_info__get_packed_size(&retry))
            _ = out.withUnsafeMutableBufferPointer { google__rpc__retry_info__pack(&retry, $0.baseAddress) }
            return out
        }
        var any = Google__Protobuf__Any()
        google__protobuf__any__init(&any)
        var status = Google__Rpc__Status()
        google__rpc__status__init(&status)
        status.code = code
        return retryBytes.withUnsafeBufferPointer { value in
            "type.googleapis.com/google.rpc.RetryInfo".withCString { typeURL in
                message.withCString { text in
                    any.type_url = UnsafeMutablePointer(mutating: typeURL)
                    any.value = ProtobufCBinaryData(len: value.count, data: UnsafeMutablePointer(mutating: value.baseAddress))
                    status.message = UnsafeMutablePointer(mutating: text)
                    return withUnsafeMutablePointer(to: &any) { anyPointer in
                        var details: UnsafeMutablePointer<Google__Protobuf__Any>? = anyPointer
                        return withUnsafeMutablePointer(to: &details) { list in
                            status.n_details = 1
                            status.details = list
                            var out = [UInt8](repeating: 0, count: google__rpc__status__get_packed_size(&status))
                            _ = out.withUnsafeMutableBufferPointer { google__rpc__status__pack(&status, $0.baseAddress) }
                            return out
                        }
                    }
                }
            }
        }
    }
}

extension GRPCStatusDetails {
    /// The `RetryInfo` delay in a `grpc-status-details-bin` value, in seconds; nil without one.
    public static func retryDelay(_ bytes: [UInt8]) -> Double? {
        guard let status = bytes.withUnsafeBufferPointer({ google__rpc__status__unpack(nil, $0.count, $0.baseAddress) }) else { return nil }
        defer { google__rpc__status__free_unpacked(status, nil) }
        for detail in OTLPProtobuf.buffer(status.pointee.details, status.pointee.n_details)
        where OTLPProtobuf.string(detail.pointee.type_url).hasSuffix("/google.rpc.RetryInfo") {
            let value = detail.pointee.value
            guard let info = google__rpc__retry_info__unpack(nil, value.len, value.data) else { continue }
            defer { google__rpc__retry_info__free_unpacked(info, nil) }
            guard let delay = info.pointee.retry_delay else { return 0 }
            return max(0, Double(delay.pointee.seconds) + Double(delay.pointee.nanos) / 1e9)
        }
        return nil
    }
}
