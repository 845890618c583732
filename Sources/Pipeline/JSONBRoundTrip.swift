/// What PostgreSQL's `jsonb` gives back for a value, and whether a reader of the stored row
/// (our `verify`, the checkpoint leaf, the SDK's verifier through Python) sees what was hashed.
/// An event is accepted only if every value round-trips, so its HMAC and its leaf can always be
/// recomputed from the table; anything else is refused at ingest, naming the field.
public enum JSONBRoundTrip {
    /// Why a value would not come back as it was hashed: the field path and the reason.
    public struct Problem: Sendable, Equatable {
        public var path: String
        public var message: String
    }

    /// The first value under `value` (whose field is `path`) that would not read back as written.
    /// A number must mean the same to a Python reader (the SDK's HMAC is over Python's reading)
    /// once stored (`stored(number:)`) as it does as sent: `1e+16` is refused (a float sent, an
    /// int stored), `2e-07` and `1.50` are not; strings and keys must hold no NUL; keys must not repeat (`jsonb` keeps
    /// only the last, and the hashed text had both).
    public static func firstProblem(in value: JSONValue, path: String) -> Problem? {
        switch value {
        case .number(let text):
            // An integer's text comes back as written (only `-0` changes, to `0`, which Python
            // reads alike): the common case costs one scan.
            guard text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) else { return nil }
            let meant = JSONValue.pythonNumber(text), readBack = JSONValue.pythonNumber(stored(number: text))
            guard readBack == meant else {
                return Problem(
                    path: path,
                    message:
                        "number \(text.prefix(40)) would be stored as \(stored(number: text).prefix(40)) and read back as \(readBack.prefix(40)), not \(meant.prefix(40)), so its HMAC could not be recomputed from the table; send it as a string or in plain decimal form"
                )
            }
            return nil
        case .string(let s):
            return s.utf8.contains(0) ? Problem(path: path, message: "contains a \\u0000 character, which PostgreSQL jsonb cannot store") : nil
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let problem = firstProblem(in: item, path: "\(path)[\(index)]") { return problem }
            }
            return nil
        case .object(let members):
            var keys = Set<String>()
            for member in members {
                let memberPath = "\(path).\(member.key)"
                if member.key.utf8.contains(0) {
                    return Problem(path: path, message: "has a key with a \\u0000 character, which PostgreSQL jsonb cannot store")
                }
                if !keys.insert(member.key).inserted {
                    return Problem(
                        path: memberPath, message: "appears twice in one object; PostgreSQL keeps only the last, so the HMAC could not be recomputed")
                }
                if let problem = firstProblem(in: member.value, path: memberPath) { return problem }
            }
            return nil
        case .null, .bool:
            return nil
        }
    }

    /// The text PostgreSQL prints for a JSON number once stored in `jsonb` (`numeric_in`, then
    /// `numeric_out`): no exponent, exactly `max(0, fraction digits - exponent)` fraction
    /// digits, no leading zeros, and no sign on zero. `1e+16` → `10000000000000000`,
    /// `2e-07` → `0.0000002`, `1.50` → `1.50`, `-0.0` → `0.0`.
    public static func stored(number text: String) -> String {
        var utf8 = Substring(text).utf8[...]
        let negative = utf8.first == UInt8(ascii: "-")
        if negative { utf8 = utf8.dropFirst() }
        var digits: [UInt8] = []
        var fractionCount = 0
        var inFraction = false
        var exponent = 0
        while let byte = utf8.first {
            utf8 = utf8.dropFirst()
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits.append(byte)
                if inFraction { fractionCount += 1 }
            case UInt8(ascii: "."):
                inFraction = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                exponent = Int(String(decoding: utf8, as: UTF8.self).drop { $0 == "+" }) ?? 0
                utf8 = utf8[utf8.endIndex...]
            default:
                return text
            }
        }
        let scale = max(0, fractionCount - exponent)
        // Position of the decimal point within `digits` once the exponent is applied.
        let point = digits.count - fractionCount + exponent
        var integer: [UInt8] = point <= 0 ? [] : Array(digits.prefix(point))
        if point > digits.count { integer += [UInt8](repeating: UInt8(ascii: "0"), count: point - digits.count) }
        var fraction: [UInt8] = point < 0 ? [UInt8](repeating: UInt8(ascii: "0"), count: -point) + digits : Array(digits.dropFirst(max(0, point)))
        fraction = Array(fraction.prefix(scale)) + [UInt8](repeating: UInt8(ascii: "0"), count: max(0, scale - fraction.count))
        integer = Array(integer.drop { $0 == UInt8(ascii: "0") })
        if integer.isEmpty { integer = [UInt8(ascii: "0")] }
        let isZero = !digits.contains { $0 != UInt8(ascii: "0") }
        var out = negative && !isZero ? "-" : ""
        out += String(decoding: integer, as: UTF8.self)
        if scale > 0 { out += "." + String(decoding: fraction, as: UTF8.self) }
        return out
    }
}
