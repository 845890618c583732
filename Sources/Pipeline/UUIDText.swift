import Config
import Crypto
public import Foundation

extension UUID {
    /// A name-based UUID (the first 16 bytes of SHA-256 of namespace, NUL, name, with the version
    /// and variant bits of RFC 9562's version 8): the same name always gets the same id, so a
    /// retried submission is a duplicate.
    public static func named(_ namespace: String, _ name: String) -> UUID {
        var b = Array(SHA256.hash(data: Data((namespace + "\u{0}" + name).utf8)).prefix(16))
        b[6] = (b[6] & 0x0F) | 0x80
        b[8] = (b[8] & 0x3F) | 0x80
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }

    /// Parses the 8-4-4-4-12 hexadecimal form (either case) without Foundation's general parser,
    /// which showed up in the ingest profile.
    public init?(text: String) {
        var text = text
        let parsed: uuid_t? = text.withUTF8 { b in
            guard b.count == 36, b[8] == 0x2D, b[13] == 0x2D, b[18] == 0x2D, b[23] == 0x2D else { return nil }
            var bytes = [UInt8](repeating: 0, count: 16)
            var i = 0
            var n = 0
            while i < 36 {
                if i == 8 || i == 13 || i == 18 || i == 23 { i += 1; continue }
                guard let high = Hex.nibble(b[i]), let low = Hex.nibble(b[i + 1]) else { return nil }
                bytes[n] = high << 4 | low
                n += 1
                i += 2
            }
            return (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        }
        guard let parsed else { return nil }
        self.init(uuid: parsed)
    }

    /// The lowercase form Python's `str(uuid)` produces (Foundation's `uuidString` is uppercase).
    public var lowercasedString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(36)
        withUnsafeBytes(of: uuid) { raw in
            for (index, byte) in raw.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 { out.append(0x2D) }
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
