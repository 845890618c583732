import COTLP

/// OTLP logs in protobuf, through protobuf-c (the design card's choice).
public enum OTLPProtobuf {
    /// AnyValue nesting deeper than this is refused before protobuf-c sees the bytes.
    public static let maxDepth = 32

    /// Decodes an `ExportLogsServiceRequest` into flat records.
    public static func decodeRequest(_ bytes: [UInt8]) throws(OTLPDecodingError) -> [OTLPLogRecord] {
        // Resource, scope and record levels take 5; the rest is for AnyValue nesting.
        switch bytes.withUnsafeBufferPointer({ cotlp_check_depth($0.baseAddress, $0.count, Int32(maxDepth + 5)) }) {
        case 0: break
        case 1: throw OTLPDecodingError("values nested deeper than \(maxDepth) levels")
        default: throw OTLPDecodingError("body is not a valid protobuf ExportLogsServiceRequest")
        }
        guard
            let request = bytes.withUnsafeBufferPointer({
                opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(nil, $0.count, $0.baseAddress)
            })
        else {
            throw OTLPDecodingError("body is not a valid protobuf ExportLogsServiceRequest")
        }
        defer { opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(request, nil) }
        var records: [OTLPLogRecord] = []
        for resourceLogs in buffer(request.pointee.resource_logs, request.pointee.n_resource_logs) {
            let resource = resourceLogs.pointee.resource.map { attributes($0.pointee.attributes, $0.pointee.n_attributes) } ?? []
            for scopeLogs in buffer(resourceLogs.pointee.scope_logs, resourceLogs.pointee.n_scope_logs) {
                let scope = scopeLogs.pointee.scope
                for r in buffer(scopeLogs.pointee.log_records, scopeLogs.pointee.n_log_records) {
                    var record = OTLPLogRecord()
                    record.resource = resource
                    record.scopeName = string(scope?.pointee.name)
                    record.scopeVersion = string(scope?.pointee.version)
                    record.timeUnixNano = r.pointee.time_unix_nano
                    record.observedTimeUnixNano = r.pointee.observed_time_unix_nano
                    record.severityNumber = openEnum(r.pointee.severity_number.rawValue)
                    record.severityText = string(r.pointee.severity_text)
                    record.body = r.pointee.body.map { value($0) }
                    record.attributes = attributes(r.pointee.attributes, r.pointee.n_attributes)
                    record.flags = r.pointee.flags
                    record.traceID = bytesOf(r.pointee.trace_id)
                    record.spanID = bytesOf(r.pointee.span_id)
                    record.eventName = string(r.pointee.event_name)
                    records.append(record)
                }
            }
        }
        return records
    }

    static func buffer<T>(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ count: Int) -> [UnsafeMutablePointer<T>] {
        guard let pointer else { return [] }
        return UnsafeBufferPointer(start: pointer, count: count).compactMap { $0 }
    }

    static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        pointer.map { String(cString: $0) } ?? ""
    }

    static func bytesOf(_ data: ProtobufCBinaryData) -> [UInt8] {
        guard let p = data.data, data.len > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: p, count: data.len))
    }

    static func attributes(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<Opentelemetry__Proto__Common__V1__KeyValue>?>?, _ count: Int)
        -> [OTLPAttribute]
    {
        buffer(pointer, count).map { kv in OTLPAttribute(string(kv.pointee.key), kv.pointee.value.map { value($0) } ?? .empty) }
    }

    static func value(_ v: UnsafeMutablePointer<Opentelemetry__Proto__Common__V1__AnyValue>) -> OTLPValue {
        switch v.pointee.value_case {
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE: return .string(string(v.pointee.string_value))
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE: return .bool(v.pointee.bool_value != 0)
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE: return .int(v.pointee.int_value)
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE: return .double(v.pointee.double_value)
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE: return .bytes(bytesOf(v.pointee.bytes_value))
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
            guard let array = v.pointee.array_value else { return .array([]) }
            return .array(buffer(array.pointee.values, array.pointee.n_values).map { value($0) })
        case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
            guard let list = v.pointee.kvlist_value else { return .kvlist([]) }
            return .kvlist(attributes(list.pointee.values, list.pointee.n_values))
        default: return .empty
        }
    }
}
