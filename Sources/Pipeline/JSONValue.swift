/// JSON as clients wrote it: numbers keep their original text (so `1.0` and `1e+16` hash as the
/// client hashed them) and object members keep their order. Foundation's JSON types lose both.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's text exactly as it appeared in the input.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([Member])

    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }

        /// One member per key, the last one's value (as `jsonb` and Python keep it), at the
        /// first one's place: for objects the collector builds from lists that may repeat a key.
        public static func lastOfEachKey(_ members: [Member]) -> [Member] {
            var last: [String: Int] = [:]
            for (index, member) in members.enumerated() { last[member.key] = index }
            guard last.count < members.count else { return members }
            var placed = Set<String>()
            return members.compactMap { member in placed.insert(member.key).inserted ? members[last[member.key]!] : nil }
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var isNull: Bool { self == .null }

    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension Array where Element == JSONValue {
    /// Applies `transform` (nil means "unchanged") to each item and returns a new array only
    /// when something changed, so processors never copy clean metadata.
    public func mapChanged(_ transform: (JSONValue) -> JSONValue?) -> [JSONValue]? {
        var copy: [JSONValue]?
        for (index, item) in enumerated() {
            guard let changed = transform(item) else { continue }
            if copy == nil { copy = self }
            copy![index] = changed
        }
        return copy
    }
}

// MARK: - Serialization

extension JSONValue {
    public struct WriteOptions: Sendable {
        /// Sort object keys by code point at every level (Python's `sort_keys=True`).
        public var sortKeys = false
        /// Escape everything outside printable ASCII as `\uXXXX` (Python's `ensure_ascii=True`).
        public var asciiOnly = false
        public init(sortKeys: Bool = false, asciiOnly: Bool = false) {
            self.sortKeys = sortKeys
            self.asciiOnly = asciiOnly
        }
        /// Python's `json.dumps(obj, sort_keys=True, separators=(",", ":"))`: the SDK's HMAC input.
        public static let pythonCanonical = WriteOptions(sortKeys: true, asciiOnly: true)
    }

    /// Compact JSON text.
    public func serialized(_ options: WriteOptions = .init()) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(into: &out, options)
        return String(decoding: out, as: UTF8.self)
    }

    public func write(into out: inout [UInt8], _ options: WriteOptions = .init()) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSONValue.writeString(s, into: &out, asciiOnly: options.asciiOnly)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out, options)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let ordered =
                options.sortKeys
                ? members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                : members
            for (i, member) in ordered.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(member.key, into: &out, asciiOnly: options.asciiOnly)
                out.append(UInt8(ascii: ":"))
                member.value.write(into: &out, options)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    public static func writeString(_ s: String, into out: inout [UInt8], asciiOnly: Bool) {
        out.append(UInt8(ascii: "\""))
        // Most strings (ids, hashes, names) need no escape: copied whole, not byte by byte.
        var text = s
        let copied = text.withUTF8 { bytes in
            guard !bytes.contains(where: { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 || (asciiOnly && $0 >= 0x7F) }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if copied {
            out.append(UInt8(ascii: "\""))
            return
        }
        func escapeUnit(_ unit: UInt16) {
            out.append(contentsOf: [
                UInt8(ascii: "\\"), UInt8(ascii: "u"),
                hexDigits[Int(unit >> 12)], hexDigits[Int((unit >> 8) & 0xF)],
                hexDigits[Int((unit >> 4) & 0xF)], hexDigits[Int(unit & 0xF)],
            ])
        }
        if asciiOnly {
            for scalar in s.unicodeScalars {
                switch scalar.value {
                case 0x22: out.append(contentsOf: [0x5C, 0x22])
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                case 0x20...0x7E: out.append(UInt8(scalar.value))
                case 0x10000...:
                    let v = scalar.value - 0x10000
                    escapeUnit(UInt16(0xD800 + (v >> 10)))
                    escapeUnit(UInt16(0xDC00 + (v & 0x3FF)))
                default: escapeUnit(UInt16(scalar.value))
                }
            }
        } else {
            for byte in s.utf8 {
                switch byte {
                case 0x22: out.append(contentsOf: [0x5C, 0x22])
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0..<0x20: escapeUnit(UInt16(byte))
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
