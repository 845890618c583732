extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal. (Foundation's `String(format: "%02x")` costs about a microsecond a
    /// byte on Linux, which made HMAC hex the largest cost of chaining an event.)
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Hexadecimal text, parsed once here for every caller (tokens, signatures, UUIDs).
public enum Hex {
    /// The value of one hexadecimal digit (either case), or nil.
    @inline(__always) public static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }

    /// True when every character is a hexadecimal digit (no sign, no prefix).
    public static func isHex(_ s: String) -> Bool { s.utf8.allSatisfy { nibble($0) != nil } }

    /// The bytes an even-length run of hexadecimal digits spells, or nil.
    public static func bytes(_ s: String) -> [UInt8]? {
        let utf8 = Array(s.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}
