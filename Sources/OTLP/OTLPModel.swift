/// An OTLP `AnyValue`.
public indirect enum OTLPValue: Equatable, Sendable {
    case string(String)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case bytes([UInt8])
    case array([OTLPValue])
    case kvlist([OTLPAttribute])
    /// An AnyValue with no value set.
    case empty

    /// The value when it is a non-empty string: how every name, model and id is read.
    var nonEmptyString: String? {
        if case .string(let s) = self, !s.isEmpty { return s }
        return nil
    }
}

/// An OTLP `KeyValue`.
public struct OTLPAttribute: Equatable, Sendable {
    public var key: String
    public var value: OTLPValue
    public init(_ key: String, _ value: OTLPValue) {
        self.key = key
        self.value = value
    }
}

/// One `LogRecord` with the resource and scope it came under, flattened: the receiver maps
/// each to one audit event, and the exporter groups them back.
public struct OTLPLogRecord: Equatable, Sendable {
    public var resource: [OTLPAttribute] = []
    public var scopeName = ""
    public var scopeVersion = ""
    public var timeUnixNano: UInt64 = 0
    public var observedTimeUnixNano: UInt64 = 0
    public var severityNumber: Int32 = 0
    public var severityText = ""
    public var body: OTLPValue?
    public var attributes: [OTLPAttribute] = []
    public var flags: UInt32 = 0
    public var traceID: [UInt8] = []
    public var spanID: [UInt8] = []
    public var eventName = ""

    public init() {}

    public func attribute(_ key: String) -> OTLPValue? {
        attributes.last { $0.key == key }?.value
    }
}

/// Why a request body could not be decoded at all (the whole request gets a 400).
public struct OTLPDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a flattened log record or span keeps of the resource and scope it came under.
protocol OTLPScoped {
    var resource: [OTLPAttribute] { get }
    var scopeName: String { get }
    var scopeVersion: String { get }
}

extension OTLPLogRecord: OTLPScoped {}
extension OTLPSpan: OTLPScoped {}

/// Items regrouped under their resource and scope, for an encoder.
struct OTLPScopeGroup<Item: OTLPScoped> {
    var resource: [OTLPAttribute]
    var scopeName: String
    var scopeVersion: String
    var items: [Item]

    /// Groups in order of first appearance, items in their order.
    static func grouping(_ items: [Item]) -> [OTLPScopeGroup<Item>] {
        var groups: [OTLPScopeGroup<Item>] = []
        for item in items {
            if let i = groups.firstIndex(where: {
                $0.resource == item.resource && $0.scopeName == item.scopeName && $0.scopeVersion == item.scopeVersion
            }) {
                groups[i].items.append(item)
            } else {
                groups.append(OTLPScopeGroup(resource: item.resource, scopeName: item.scopeName, scopeVersion: item.scopeVersion, items: [item]))
            }
        }
        return groups
    }
}
