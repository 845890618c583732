import COTLP
import Foundation

extension OTLPProtobuf {
    /// Encodes records as one `ExportLogsServiceRequest` through protobuf-c: records are grouped
    /// by resource and scope, as they were flattened.
    public static func encodeRequest(_ records: [OTLPLogRecord]) -> [UInt8] {
        let arena = Arena()
        defer { arena.free() }
        let groups = OTLPScopeGroup.grouping(records)
        let resourceLogs = groups.map { group -> UnsafeMutablePointer<Opentelemetry__Proto__Logs__V1__ResourceLogs>? in
            let rl = arena.make(Opentelemetry__Proto__Logs__V1__ResourceLogs(), opentelemetry__proto__logs__v1__resource_logs__init)
            let resource = arena.make(Opentelemetry__Proto__Resource__V1__Resource(), opentelemetry__proto__resource__v1__resource__init)
            (resource.pointee.n_attributes, resource.pointee.attributes) = arena.keyValues(group.resource)
            rl.pointee.resource = resource
            let sl = arena.make(Opentelemetry__Proto__Logs__V1__ScopeLogs(), opentelemetry__proto__logs__v1__scope_logs__init)
            let scope = arena.make(
                Opentelemetry__Proto__Common__V1__InstrumentationScope(), opentelemetry__proto__common__v1__instrumentation_scope__init)
            scope.pointee.name = arena.string(group.scopeName)
            scope.pointee.version = arena.string(group.scopeVersion)
            sl.pointee.scope = scope
            (sl.pointee.n_log_records, sl.pointee.log_records) = arena.array(group.items.map { arena.logRecord($0) })
            (rl.pointee.n_scope_logs, rl.pointee.scope_logs) = arena.array([sl])
            return rl
        }
        var request = Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest()
        opentelemetry__proto__collector__logs__v1__export_logs_service_request__init(&request)
        (request.n_resource_logs, request.resource_logs) = arena.array(resourceLogs)
        let size = opentelemetry__proto__collector__logs__v1__export_logs_service_request__get_packed_size(&request)
        var out = [UInt8](repeating: 0, count: size)
        _ = out.withUnsafeMutableBufferPointer {
            opentelemetry__proto__collector__logs__v1__export_logs_service_request__pack(&request, $0.baseAddress)
        }
        return out
    }
}

extension OTLPProtobuf {
    /// Encodes spans as one `ExportTraceServiceRequest`, grouped by resource and scope.
    public static func encodeTraceRequest(_ spans: [OTLPSpan]) -> [UInt8] {
        let arena = Arena()
        defer { arena.free() }
        let groups = OTLPScopeGroup.grouping(spans)
        let resourceSpans = groups.map { group -> UnsafeMutablePointer<Opentelemetry__Proto__Trace__V1__ResourceSpans>? in
            let rs = arena.make(Opentelemetry__Proto__Trace__V1__ResourceSpans(), opentelemetry__proto__trace__v1__resource_spans__init)
            let resource = arena.make(Opentelemetry__Proto__Resource__V1__Resource(), opentelemetry__proto__resource__v1__resource__init)
            (resource.pointee.n_attributes, resource.pointee.attributes) = arena.keyValues(group.resource)
            rs.pointee.resource = resource
            let ss = arena.make(Opentelemetry__Proto__Trace__V1__ScopeSpans(), opentelemetry__proto__trace__v1__scope_spans__init)
            let scope = arena.make(
                Opentelemetry__Proto__Common__V1__InstrumentationScope(), opentelemetry__proto__common__v1__instrumentation_scope__init)
            scope.pointee.name = arena.string(group.scopeName)
            scope.pointee.version = arena.string(group.scopeVersion)
            ss.pointee.scope = scope
            (ss.pointee.n_spans, ss.pointee.spans) = arena.array(group.items.map { arena.span($0) })
            (rs.pointee.n_scope_spans, rs.pointee.scope_spans) = arena.array([ss])
            return rs
        }
        var request = Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest()
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&request)
        (request.n_resource_spans, request.resource_spans) = arena.array(resourceSpans)
        let size = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&request)
        var out = [UInt8](repeating: 0, count: size)
        _ = out.withUnsafeMutableBufferPointer {
            opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&request, $0.baseAddress)
        }
        return out
    }
}

/// Owns every C allocation of one encoding; `free` releases them all after packing.
final class Arena {
    private var allocations: [UnsafeMutableRawPointer] = []

    func free() {
        allocations.forEach { Foundation.free($0) }
        allocations.removeAll()
    }

    private func allocate<T>(_ type: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        let raw = malloc(max(1, MemoryLayout<T>.stride * count))!
        allocations.append(raw)
        return raw.bindMemory(to: T.self, capacity: count)
    }

    func make<T>(_ value: T, _ initialize: (UnsafeMutablePointer<T>?) -> Void) -> UnsafeMutablePointer<T> {
        let p = allocate(T.self)
        p.initialize(to: value)
        initialize(p)
        return p
    }

    func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(s.utf8)
        let p = allocate(CChar.self, count: utf8.count + 1)
        for (i, b) in utf8.enumerated() { p[i] = CChar(bitPattern: b) }
        p[utf8.count] = 0
        return p
    }

    func bytes(_ b: [UInt8]) -> ProtobufCBinaryData {
        guard !b.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = allocate(UInt8.self, count: b.count)
        p.initialize(from: b, count: b.count)
        return ProtobufCBinaryData(len: b.count, data: p)
    }

    func array<T>(_ items: [UnsafeMutablePointer<T>?]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<T>?>?) {
        guard !items.isEmpty else { return (0, nil) }
        let p = allocate(UnsafeMutablePointer<T>?.self, count: items.count)
        p.initialize(from: items, count: items.count)
        return (items.count, p)
    }

    func keyValues(_ attributes: [OTLPAttribute]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Opentelemetry__Proto__Common__V1__KeyValue>?>?) {
        array(
            attributes.map { a in
                let kv = make(Opentelemetry__Proto__Common__V1__KeyValue(), opentelemetry__proto__common__v1__key_value__init)
                kv.pointee.key = string(a.key)
                kv.pointee.value = anyValue(a.value)
                return kv
            })
    }

    func anyValue(_ v: OTLPValue) -> UnsafeMutablePointer<Opentelemetry__Proto__Common__V1__AnyValue> {
        let p = make(Opentelemetry__Proto__Common__V1__AnyValue(), opentelemetry__proto__common__v1__any_value__init)
        switch v {
        case .string(let s):
            p.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
            p.pointee.string_value = string(s)
        case .bool(let b):
            p.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE
            p.pointee.bool_value = b ? 1 : 0
        case .int(let i):
            p.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE
            p.pointee.int_value = i
        case .double(let d):
            p.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE
            p.pointee.double_value = d
        case .bytes(let b):
            p.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE
            p.pointee.bytes_value = bytes(b)
        case .array(let items):
            p.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE
            let list = make(Opentelemetry__Proto__Common__V1__ArrayValue(), opentelemetry__proto__common__v1__array_value__init)
            (list.pointee.n_values, list.pointee.values) = array(items.map { anyValue($0) })
            p.pointee.array_value = list
        case .kvlist(let members):
            p.pointee.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE
            let list = make(Opentelemetry__Proto__Common__V1__KeyValueList(), opentelemetry__proto__common__v1__key_value_list__init)
            (list.pointee.n_values, list.pointee.values) = keyValues(members)
            p.pointee.kvlist_value = list
        case .empty:
            break
        }
        return p
    }

    func logRecord(_ r: OTLPLogRecord) -> UnsafeMutablePointer<Opentelemetry__Proto__Logs__V1__LogRecord>? {
        let p = make(Opentelemetry__Proto__Logs__V1__LogRecord(), opentelemetry__proto__logs__v1__log_record__init)
        p.pointee.time_unix_nano = r.timeUnixNano
        p.pointee.observed_time_unix_nano = r.observedTimeUnixNano
        p.pointee.severity_number = Opentelemetry__Proto__Logs__V1__SeverityNumber(rawValue: UInt32(bitPattern: r.severityNumber))
        p.pointee.severity_text = string(r.severityText)
        p.pointee.body = r.body.map { anyValue($0) }
        (p.pointee.n_attributes, p.pointee.attributes) = keyValues(r.attributes)
        p.pointee.flags = r.flags
        p.pointee.trace_id = bytes(r.traceID)
        p.pointee.span_id = bytes(r.spanID)
        p.pointee.event_name = string(r.eventName)
        return p
    }

    func span(_ s: OTLPSpan) -> UnsafeMutablePointer<Opentelemetry__Proto__Trace__V1__Span>? {
        let p = make(Opentelemetry__Proto__Trace__V1__Span(), opentelemetry__proto__trace__v1__span__init)
        p.pointee.trace_id = bytes(s.traceID)
        p.pointee.span_id = bytes(s.spanID)
        p.pointee.parent_span_id = bytes(s.parentSpanID)
        p.pointee.trace_state = string(s.traceState)
        p.pointee.flags = s.flags
        p.pointee.name = string(s.name)
        p.pointee.kind = Opentelemetry__Proto__Trace__V1__Span__SpanKind(rawValue: UInt32(bitPattern: s.kind))
        p.pointee.start_time_unix_nano = s.startTimeUnixNano
        p.pointee.end_time_unix_nano = s.endTimeUnixNano
        (p.pointee.n_attributes, p.pointee.attributes) = keyValues(s.attributes)
        (p.pointee.n_events, p.pointee.events) = array(
            s.events.map { e in
                let event = make(Opentelemetry__Proto__Trace__V1__Span__Event(), opentelemetry__proto__trace__v1__span__event__init)
                event.pointee.time_unix_nano = e.timeUnixNano
                event.pointee.name = string(e.name)
                (event.pointee.n_attributes, event.pointee.attributes) = keyValues(e.attributes)
                return event
            })
        if s.statusCode != 0 || !s.statusMessage.isEmpty {
            let status = make(Opentelemetry__Proto__Trace__V1__Status(), opentelemetry__proto__trace__v1__status__init)
            status.pointee.code = Opentelemetry__Proto__Trace__V1__Status__StatusCode(rawValue: UInt32(bitPattern: s.statusCode))
            status.pointee.message = string(s.statusMessage)
            p.pointee.status = status
        }
        return p
    }
}
