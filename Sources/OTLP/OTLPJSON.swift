import Foundation
import Config
import Pipeline

/// OTLP logs in the OTLP/JSON encoding: lowerCamelCase keys, unknown fields ignored, 64-bit
/// integers as strings or numbers, trace and span ids as hex, bytes as base64.
public enum OTLPJSON {
    public static func decodeRequest(_ bytes: [UInt8]) throws(OTLPDecodingError) -> [OTLPLogRecord] {
        let root = try parseRoot(bytes, message: "ExportLogsServiceRequest")
        var records: [OTLPLogRecord] = []
        for (i, resourceLogs) in try array(root, "resourceLogs", "").enumerated() {
            let path = "resourceLogs[\(i)]"
            let resource = try resourceLogs["resource"].map { r throws(OTLPDecodingError) in try attributes(r, "\(path).resource") } ?? []
            for (j, scopeLogs) in try array(resourceLogs, "scopeLogs", path).enumerated() {
                let scopePath = "\(path).scopeLogs[\(j)]"
                let scope = scopeLogs["scope"]
                let scopeName = try scope.map { s throws(OTLPDecodingError) in try string(s, "name", "\(scopePath).scope") } ?? ""
                let scopeVersion = try scope.map { s throws(OTLPDecodingError) in try string(s, "version", "\(scopePath).scope") } ?? ""
                for (k, r) in try array(scopeLogs, "logRecords", scopePath).enumerated() {
                    let p = "\(scopePath).logRecords[\(k)]"
                    var record = OTLPLogRecord()
                    record.resource = resource
                    record.scopeName = scopeName
                    record.scopeVersion = scopeVersion
                    record.timeUnixNano = try unsigned(r, "timeUnixNano", p)
                    record.observedTimeUnixNano = try unsigned(r, "observedTimeUnixNano", p)
                    record.severityNumber = try enumeration(r, "severityNumber", p, prefix: "SEVERITY_NUMBER_", names: severityNames)
                    record.severityText = try string(r, "severityText", p)
                    record.body = try r["body"].map { b throws(OTLPDecodingError) in try value(b, "\(p).body", depth: 0) }
                    record.attributes = try attributes(r, p)
                    record.flags = try fixed32(r, "flags", p)
                    record.traceID = try hex(r, "traceId", p, length: 16)
                    record.spanID = try hex(r, "spanId", p, length: 8)
                    record.eventName = try string(r, "eventName", p)
                    records.append(record)
                }
            }
        }
        return records
    }

    static func parseRoot(_ bytes: [UInt8], message: String) throws(OTLPDecodingError) -> JSONValue {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw OTLPDecodingError("body is not valid JSON: \(error)")
        }
        guard case .object = root else { throw OTLPDecodingError("body must be a JSON object (\(message))") }
        return root
    }

    static func fail(_ path: String, _ key: String, _ problem: String) -> OTLPDecodingError {
        OTLPDecodingError("\(path.isEmpty ? key : "\(path).\(key)") \(problem)")
    }

    static func array(_ object: JSONValue, _ key: String, _ path: String) throws(OTLPDecodingError) -> [JSONValue] {
        switch object[key] {
        case nil, .null?: return []
        case .array(let items)?: return items
        case let other?: throw fail(path, key, "must be an array, got \(other.typeName)")
        }
    }

    static func string(_ object: JSONValue, _ key: String, _ path: String) throws(OTLPDecodingError) -> String {
        switch object[key] {
        case nil, .null?: return ""
        case .string(let s)?: return s
        case let other?: throw fail(path, key, "must be a string, got \(other.typeName)")
        }
    }

    /// int64/uint64 fields: JSON numbers or decimal strings (protobuf's JSON mapping).
    static func integerText(_ object: JSONValue, _ key: String, _ path: String) throws(OTLPDecodingError) -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .number(let text)?, .string(let text)?: return text
        case let other?: throw fail(path, key, "must be an integer, got \(other.typeName)")
        }
    }

    static func integer(_ object: JSONValue, _ key: String, _ path: String) throws(OTLPDecodingError) -> Int64 {
        guard let text = try integerText(object, key, path) else { return 0 }
        guard let value = Int64(text) else { throw fail(path, key, "must be an integer, got `\(text.prefix(40))`") }
        return value
    }

    /// An enum as a number (OTLP/JSON) or by name (protobuf's JSON mapping, which many encoders
    /// use). Enums are open: any 32-bit number is kept, a larger one refused.
    static func enumeration(_ object: JSONValue, _ key: String, _ path: String, prefix: String, names: [String]) throws(OTLPDecodingError) -> Int32 {
        if case .string(let name)? = object[key], name.hasPrefix(prefix) {
            guard let index = names.firstIndex(of: String(name.dropFirst(prefix.count))) else {
                throw fail(path, key, "is not a known \(key) name (`\(name.prefix(40))`)")
            }
            return Int32(index)
        }
        let number = try integer(object, key, path)
        guard let value = Int32(exactly: number) else { throw fail(path, key, "must fit in 32 bits, got \(number)") }
        return value
    }

    static let severityNames = ["UNSPECIFIED"] + ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].flatMap { [$0, $0 + "2", $0 + "3", $0 + "4"] }

    static func unsigned(_ object: JSONValue, _ key: String, _ path: String) throws(OTLPDecodingError) -> UInt64 {
        guard let text = try integerText(object, key, path) else { return 0 }
        guard let value = UInt64(text) else { throw fail(path, key, "must be an unsigned integer, got `\(text.prefix(40))`") }
        return value
    }

    /// A `fixed32` field: refused, not clamped, when it does not fit.
    static func fixed32(_ object: JSONValue, _ key: String, _ path: String) throws(OTLPDecodingError) -> UInt32 {
        let number = try unsigned(object, key, path)
        guard let value = UInt32(exactly: number) else { throw fail(path, key, "must fit in 32 bits, got \(number)") }
        return value
    }

    static func hex(_ object: JSONValue, _ key: String, _ path: String, length: Int) throws(OTLPDecodingError) -> [UInt8] {
        let text = try string(object, key, path)
        guard !text.isEmpty else { return [] }
        guard let bytes = Hex.bytes(text), bytes.count == length else {
            throw fail(path, key, "must be \(length * 2) hex digits")
        }
        return bytes
    }

    static func attributes(_ object: JSONValue, _ path: String) throws(OTLPDecodingError) -> [OTLPAttribute] {
        var result: [OTLPAttribute] = []
        for (i, kv) in try array(object, "attributes", path).enumerated() {
            result.append(try keyValue(kv, "\(path).attributes[\(i)]", depth: 0))
        }
        return result
    }

    static func keyValue(_ kv: JSONValue, _ path: String, depth: Int) throws(OTLPDecodingError) -> OTLPAttribute {
        guard case .object = kv else { throw OTLPDecodingError("\(path) must be an object {key, value}") }
        let key = try string(kv, "key", path)
        return OTLPAttribute(key, try kv["value"].map { v throws(OTLPDecodingError) in try value(v, "\(path).value", depth: depth) } ?? .empty)
    }

    static func value(_ v: JSONValue, _ path: String, depth: Int) throws(OTLPDecodingError) -> OTLPValue {
        guard depth <= OTLPProtobuf.maxDepth else { throw OTLPDecodingError("\(path): values nested deeper than \(OTLPProtobuf.maxDepth) levels") }
        guard case .object(let members) = v else { throw OTLPDecodingError("\(path) must be an AnyValue object") }
        guard
            let member = members.first(where: {
                ["stringValue", "boolValue", "intValue", "doubleValue", "bytesValue", "arrayValue", "kvlistValue"].contains($0.key)
            })
        else {
            return .empty
        }
        switch (member.key, member.value) {
        case ("stringValue", .string(let s)): return .string(s)
        case ("boolValue", .bool(let b)): return .bool(b)
        case ("intValue", _):
            return .int(try integer(v, "intValue", path))
        case ("doubleValue", .number(let text)):
            guard let d = Double(text) else { throw fail(path, "doubleValue", "is not a number") }
            return .double(d)
        case ("doubleValue", .string(let text)) where ["NaN", "Infinity", "-Infinity"].contains(text):
            return .double(Double(text) ?? .nan)
        case ("bytesValue", .string(let text)):
            guard let data = Data(base64Encoded: text) else { throw fail(path, "bytesValue", "is not base64") }
            return .bytes(Array(data))
        case ("arrayValue", .object):
            var items: [OTLPValue] = []
            for (i, item) in try array(member.value, "values", "\(path).arrayValue").enumerated() {
                items.append(try value(item, "\(path).arrayValue.values[\(i)]", depth: depth + 1))
            }
            return .array(items)
        case ("kvlistValue", .object):
            var items: [OTLPAttribute] = []
            for (i, item) in try array(member.value, "values", "\(path).kvlistValue").enumerated() {
                items.append(try keyValue(item, "\(path).kvlistValue.values[\(i)]", depth: depth + 1))
            }
            return .kvlist(items)
        default:
            throw fail(path, member.key, "has the wrong type (\(member.value.typeName))")
        }
    }
}

extension OTLPJSON {
    /// Encodes records as one OTLP/JSON `ExportLogsServiceRequest`.
    public static func encodeRequest(_ records: [OTLPLogRecord]) -> [UInt8] {
        request("resourceLogs", "scopeLogs", "logRecords", OTLPScopeGroup.grouping(records), record)
    }

    /// Encodes spans as one OTLP/JSON `ExportTraceServiceRequest`.
    public static func encodeTraceRequest(_ spans: [OTLPSpan]) -> [UInt8] {
        request("resourceSpans", "scopeSpans", "spans", OTLPScopeGroup.grouping(spans), span)
    }

    static func request<Item>(
        _ resourceKey: String, _ scopeKey: String, _ itemsKey: String, _ groups: [OTLPScopeGroup<Item>],
        _ encode: (Item) -> JSONValue
    ) -> [UInt8] {
        let body = JSONValue.object([
            .init(
                resourceKey,
                .array(
                    groups.map { g in
                        .object([
                            .init("resource", .object([.init("attributes", attributes(g.resource))])),
                            .init(
                                scopeKey,
                                .array([
                                    .object([
                                        .init("scope", .object([.init("name", .string(g.scopeName)), .init("version", .string(g.scopeVersion))])),
                                        .init(itemsKey, .array(g.items.map(encode))),
                                    ])
                                ])),
                        ])
                    }))
        ])
        var out: [UInt8] = []
        body.write(into: &out)
        return out
    }

    static func record(_ r: OTLPLogRecord) -> JSONValue {
        var members: [JSONValue.Member] = [
            .init("timeUnixNano", .string(String(r.timeUnixNano))),
            .init("observedTimeUnixNano", .string(String(r.observedTimeUnixNano))),
            .init("severityNumber", .number(String(r.severityNumber))),
            .init("severityText", .string(r.severityText)),
        ]
        if let body = r.body { members.append(.init("body", value(body))) }
        members.append(.init("attributes", attributes(r.attributes)))
        if r.flags != 0 { members.append(.init("flags", .number(String(r.flags)))) }
        if !r.traceID.isEmpty { members.append(.init("traceId", .string(r.traceID.hexString))) }
        if !r.spanID.isEmpty { members.append(.init("spanId", .string(r.spanID.hexString))) }
        if !r.eventName.isEmpty { members.append(.init("eventName", .string(r.eventName))) }
        return .object(members)
    }

    static func span(_ s: OTLPSpan) -> JSONValue {
        var members: [JSONValue.Member] = [
            .init("traceId", .string(s.traceID.hexString)), .init("spanId", .string(s.spanID.hexString)),
        ]
        if !s.parentSpanID.isEmpty { members.append(.init("parentSpanId", .string(s.parentSpanID.hexString))) }
        if !s.traceState.isEmpty { members.append(.init("traceState", .string(s.traceState))) }
        if s.flags != 0 { members.append(.init("flags", .number(String(s.flags)))) }
        members += [
            .init("name", .string(s.name)), .init("kind", .number(String(s.kind))),
            .init("startTimeUnixNano", .string(String(s.startTimeUnixNano))), .init("endTimeUnixNano", .string(String(s.endTimeUnixNano))),
            .init("attributes", attributes(s.attributes)),
        ]
        if !s.events.isEmpty {
            members.append(
                .init(
                    "events",
                    .array(
                        s.events.map { e in
                            .object([
                                .init("timeUnixNano", .string(String(e.timeUnixNano))), .init("name", .string(e.name)),
                                .init("attributes", attributes(e.attributes)),
                            ])
                        })))
        }
        if s.statusCode != 0 || !s.statusMessage.isEmpty {
            members.append(.init("status", .object([.init("code", .number(String(s.statusCode))), .init("message", .string(s.statusMessage))])))
        }
        return .object(members)
    }

    static func attributes(_ list: [OTLPAttribute]) -> JSONValue {
        .array(list.map { .object([.init("key", .string($0.key)), .init("value", value($0.value))]) })
    }

    static func value(_ v: OTLPValue) -> JSONValue {
        switch v {
        case .string(let s): return .object([.init("stringValue", .string(s))])
        case .bool(let b): return .object([.init("boolValue", .bool(b))])
        case .int(let i): return .object([.init("intValue", .string(String(i)))])
        case .double(let d):
            return .object([.init("doubleValue", d.isFinite ? .number("\(d)") : .string(d.isNaN ? "NaN" : d > 0 ? "Infinity" : "-Infinity"))])
        case .bytes(let b): return .object([.init("bytesValue", .string(Data(b).base64EncodedString()))])
        case .array(let items): return .object([.init("arrayValue", .object([.init("values", .array(items.map(value)))]))])
        case .kvlist(let members): return .object([.init("kvlistValue", .object([.init("values", attributes(members))]))])
        case .empty: return .object([])
        }
    }
}
