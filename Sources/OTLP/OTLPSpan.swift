import COTLP
import Pipeline

/// One OTLP `Span` with the resource and scope it came under, flattened like `OTLPLogRecord`:
/// the receiver maps each to at most one audit event (`OTLPSpanMapping`).
public struct OTLPSpan: Equatable, Sendable {
    public var resource: [OTLPAttribute] = []
    public var scopeName = ""
    public var scopeVersion = ""
    public var traceID: [UInt8] = []
    public var spanID: [UInt8] = []
    public var parentSpanID: [UInt8] = []
    public var traceState = ""
    public var flags: UInt32 = 0
    public var name = ""
    /// `SpanKind` as on the wire (an open enum: any 32-bit value is kept).
    public var kind: Int32 = 0
    public var startTimeUnixNano: UInt64 = 0
    public var endTimeUnixNano: UInt64 = 0
    public var attributes: [OTLPAttribute] = []
    public var events: [Event] = []
    /// `Status.code`: 0 unset, 1 ok, 2 error (open enum, kept as sent).
    public var statusCode: Int32 = 0
    public var statusMessage = ""

    public struct Event: Equatable, Sendable {
        public var timeUnixNano: UInt64 = 0
        public var name = ""
        public var attributes: [OTLPAttribute] = []
        public init() {}
    }

    public init() {}

    public func attribute(_ key: String) -> OTLPValue? {
        attributes.last { $0.key == key }?.value
    }

    public func resourceAttribute(_ key: String) -> OTLPValue? {
        resource.last { $0.key == key }?.value
    }

    public static let statusError: Int32 = 2

    /// The top of its trace as this collector will see it: no parent, or a parent in another
    /// process (`SpanFlags` bits 8 and 9, "has is_remote" and "is_remote", OTLP 1.1).
    public var isRoot: Bool {
        !(parentSpanID.count == 8 && parentSpanID.contains(where: { $0 != 0 })) || flags & 0x300 == 0x300
    }
}

extension OTLPProtobuf {
    /// Decodes an `ExportTraceServiceRequest` into flat spans.
    public static func decodeTraceRequest(_ bytes: [UInt8]) throws(OTLPDecodingError) -> [OTLPSpan] {
        // Resource, scope, span and event levels take 6; the rest is for AnyValue nesting.
        switch bytes.withUnsafeBufferPointer({ cotlp_check_trace_depth($0.baseAddress, $0.count, Int32(maxDepth + 6)) }) {
        case 0: break
        case 1: throw OTLPDecodingError("values nested deeper than \(maxDepth) levels")
        default: throw OTLPDecodingError("body is not a valid protobuf ExportTraceServiceRequest")
        }
        guard
            let request = bytes.withUnsafeBufferPointer({
                opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(nil, $0.count, $0.baseAddress)
            })
        else {
            throw OTLPDecodingError("body is not a valid protobuf ExportTraceServiceRequest")
        }
        defer { opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(request, nil) }
        var spans: [OTLPSpan] = []
        for resourceSpans in buffer(request.pointee.resource_spans, request.pointee.n_resource_spans) {
            let resource = resourceSpans.pointee.resource.map { attributes($0.pointee.attributes, $0.pointee.n_attributes) } ?? []
            for scopeSpans in buffer(resourceSpans.pointee.scope_spans, resourceSpans.pointee.n_scope_spans) {
                let scope = scopeSpans.pointee.scope
                for s in buffer(scopeSpans.pointee.spans, scopeSpans.pointee.n_spans) {
                    var span = OTLPSpan()
                    span.resource = resource
                    span.scopeName = string(scope?.pointee.name)
                    span.scopeVersion = string(scope?.pointee.version)
                    span.traceID = bytesOf(s.pointee.trace_id)
                    span.spanID = bytesOf(s.pointee.span_id)
                    span.parentSpanID = bytesOf(s.pointee.parent_span_id)
                    span.traceState = string(s.pointee.trace_state)
                    span.flags = s.pointee.flags
                    span.name = string(s.pointee.name)
                    span.kind = openEnum(s.pointee.kind.rawValue)
                    span.startTimeUnixNano = s.pointee.start_time_unix_nano
                    span.endTimeUnixNano = s.pointee.end_time_unix_nano
                    span.attributes = attributes(s.pointee.attributes, s.pointee.n_attributes)
                    span.events = buffer(s.pointee.events, s.pointee.n_events).map { e in
                        var event = OTLPSpan.Event()
                        event.timeUnixNano = e.pointee.time_unix_nano
                        event.name = string(e.pointee.name)
                        event.attributes = attributes(e.pointee.attributes, e.pointee.n_attributes)
                        return event
                    }
                    if let status = s.pointee.status {
                        span.statusCode = openEnum(status.pointee.code.rawValue)
                        span.statusMessage = string(status.pointee.message)
                    }
                    spans.append(span)
                }
            }
        }
        return spans
    }

    /// protobuf-c stores an open enum's wire value (an int32) in a C enum, which Swift imports
    /// with an unsigned raw value: -2 on the wire arrives as 4294967294. Reinterpret, never convert.
    static func openEnum<Raw: BinaryInteger>(_ raw: Raw) -> Int32 {
        Int32(bitPattern: UInt32(truncatingIfNeeded: raw))
    }
}

extension OTLPJSON {
    /// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
    public static func decodeTraceRequest(_ bytes: [UInt8]) throws(OTLPDecodingError) -> [OTLPSpan] {
        let root = try parseRoot(bytes, message: "ExportTraceServiceRequest")
        var spans: [OTLPSpan] = []
        for (i, resourceSpans) in try array(root, "resourceSpans", "").enumerated() {
            let path = "resourceSpans[\(i)]"
            let resource = try resourceSpans["resource"].map { r throws(OTLPDecodingError) in try attributes(r, "\(path).resource") } ?? []
            for (j, scopeSpans) in try array(resourceSpans, "scopeSpans", path).enumerated() {
                let scopePath = "\(path).scopeSpans[\(j)]"
                let scope = scopeSpans["scope"]
                let scopeName = try scope.map { s throws(OTLPDecodingError) in try string(s, "name", "\(scopePath).scope") } ?? ""
                let scopeVersion = try scope.map { s throws(OTLPDecodingError) in try string(s, "version", "\(scopePath).scope") } ?? ""
                for (k, s) in try array(scopeSpans, "spans", scopePath).enumerated() {
                    let p = "\(scopePath).spans[\(k)]"
                    guard case .object = s else { throw OTLPDecodingError("\(p) must be an object") }
                    var span = OTLPSpan()
                    span.resource = resource
                    span.scopeName = scopeName
                    span.scopeVersion = scopeVersion
                    span.traceID = try hex(s, "traceId", p, length: 16)
                    span.spanID = try hex(s, "spanId", p, length: 8)
                    span.parentSpanID = try hex(s, "parentSpanId", p, length: 8)
                    span.traceState = try string(s, "traceState", p)
                    span.flags = try fixed32(s, "flags", p)
                    span.name = try string(s, "name", p)
                    span.kind = try enumeration(s, "kind", p, prefix: "SPAN_KIND_", names: spanKindNames)
                    span.startTimeUnixNano = try unsigned(s, "startTimeUnixNano", p)
                    span.endTimeUnixNano = try unsigned(s, "endTimeUnixNano", p)
                    span.attributes = try attributes(s, p)
                    for (n, e) in try array(s, "events", p).enumerated() {
                        let ep = "\(p).events[\(n)]"
                        guard case .object = e else { throw OTLPDecodingError("\(ep) must be an object") }
                        var event = OTLPSpan.Event()
                        event.timeUnixNano = try unsigned(e, "timeUnixNano", ep)
                        event.name = try string(e, "name", ep)
                        event.attributes = try attributes(e, ep)
                        span.events.append(event)
                    }
                    switch s["status"] {
                    case nil, .null?: break
                    case let status? where status.isObject:
                        span.statusCode = try enumeration(status, "code", "\(p).status", prefix: "STATUS_CODE_", names: statusCodeNames)
                        span.statusMessage = try string(status, "message", "\(p).status")
                    case let other?: throw fail(p, "status", "must be an object, got \(other.typeName)")
                    }
                    spans.append(span)
                }
            }
        }
        return spans
    }

    static let spanKindNames = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
    static let statusCodeNames = ["UNSET", "OK", "ERROR"]
}

extension JSONValue {
    var isObject: Bool { if case .object = self { true } else { false } }
}
