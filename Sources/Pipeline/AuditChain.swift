import Config
public import Crypto
import Foundation

/// The reference SDK's HMAC chain (reference-sdk.md §5), bit for bit:
/// `HMAC-SHA256(secret, json.dumps({...}, sort_keys=True, separators=(",", ":")))` as lowercase hex.
public enum AuditChain {
    /// The exact bytes the SDK hashes for an event.
    public static func canonical(_ e: AuditEvent) -> [UInt8] { canonical(e, hmac: nil) }

    /// The SDK's `canonical_row_bytes_for_signing`: the HMAC's fields plus the row's HMAC (the
    /// bytes an agent's Ed25519 key signs, and the leaf of the checkpoint tree).
    public static func signingBytes(_ e: AuditEvent) -> [UInt8] { canonical(e, hmac: e.hmac ?? "") }

    private static func canonical(_ e: AuditEvent, hmac: String?) -> [UInt8] {
        func text(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        var fields: [JSONValue.Member] = [
            .init("event_id", .string(e.eventID.lowercasedString)),
            .init("session_id", .string(e.sessionID.lowercasedString)),
            .init("agent_id", .string(e.agentID)),
            .init("parent_event_id", text(e.parentEventID?.lowercasedString)),
            .init("kind", .string(e.kind)),
            .init("model", text(e.model)),
            .init("input_hash", text(e.inputHash)),
            .init("output_hash", text(e.outputHash)),
            .init("metadata", e.metadata),
            .init("prev_hash", text(e.prevHash)),
            .init("created_at", .string(e.createdAt.pythonISOFormat)),
        ]
        if let hmac { fields.append(.init("hmac", .string(hmac))) }
        let object = JSONValue.object(fields)
        var out: [UInt8] = []
        out.reserveCapacity(256)
        object.write(into: &out, .pythonCanonical)
        return out
    }

    public static func hmac(_ event: AuditEvent, key: SymmetricKey) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: canonical(event), using: key)
        return code.hexString
    }
}

extension JSONValue {
    /// Numbers rewritten as Python prints them after `json.loads` (ints as ints, floats in
    /// `repr` form: `1.5`, `1e+16`, `1e-05`), so an HMAC the collector computes verifies in
    /// the SDK, which reads metadata back through Python. Non-finite results stay as written.
    public func pythonNormalized() -> JSONValue {
        switch self {
        case .number(let text): .number(Self.pythonNumber(text))
        case .array(let items): .array(items.map { $0.pythonNormalized() })
        case .object(let members): .object(members.map { .init($0.key, $0.value.pythonNormalized()) })
        default: self
        }
    }

    /// A float as Python's `json.dumps` writes it (`10.0`, `8.5`, `1e-05`).
    public static func pythonFloat(_ value: Double) -> String { pythonRepr(value) }

    /// A number's text as Python prints it after `json.loads` (see `pythonNormalized`).
    public static func pythonNumber(_ text: String) -> String {
        let isInteger = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        if isInteger {
            // Python ints are exact; only "-0" changes.
            return text == "-0" ? "0" : text
        }
        guard let value = Double(text), value.isFinite else { return text }
        return pythonRepr(value)
    }

    /// Python's `float.__repr__`: shortest round-trip digits; scientific when the decimal
    /// exponent is < -4 or >= 16, with a sign and at least two exponent digits.
    static func pythonRepr(_ value: Double) -> String {
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description gives the shortest round-trip digits; re-layout them Python's way.
        var s = "\(value.magnitude)"
        var exponent = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(s[s.index(after: e)...])!
            s = String(s[..<e])
        }
        var digits = s.replacingOccurrences(of: ".", with: "")
        let pointPosition = (s.firstIndex(of: ".").map { s.distance(from: s.startIndex, to: $0) } ?? s.count) + exponent
        // Normalize digits: strip leading zeros (adjusting the point) and trailing zeros.
        var point = pointPosition
        while digits.hasPrefix("0"), digits.count > 1 { digits.removeFirst(); point -= 1 }
        while digits.hasSuffix("0"), digits.count > 1 { digits.removeLast() }
        let decimalExponent = point - 1
        let sign = value.sign == .minus ? "-" : ""
        if decimalExponent < -4 || decimalExponent >= 16 {
            let mantissa = digits.count == 1 ? digits : "\(digits.first!).\(digits.dropFirst())"
            let e = decimalExponent < 0 ? "-" : "+"
            let magnitude = abs(decimalExponent)
            return "\(sign)\(mantissa)e\(e)\(magnitude < 10 ? "0" : "")\(magnitude)"
        }
        if point <= 0 {
            return "\(sign)0.\(String(repeating: "0", count: -point))\(digits)"
        }
        if point >= digits.count {
            return "\(sign)\(digits)\(String(repeating: "0", count: point - digits.count)).0"
        }
        let index = digits.index(digits.startIndex, offsetBy: point)
        return "\(sign)\(digits[..<index]).\(digits[index...])"
    }
}
