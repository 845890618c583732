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
