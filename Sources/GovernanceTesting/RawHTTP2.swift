/// Just enough HTTP/2 to open gRPC streams by hand and leave them waiting for their message (what
/// a stream costs before any message arrives): the preface, frames, and a request's headers as
/// literal HPACK fields (no table, no Huffman).
package enum RawHTTP2 {
    package static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    package static func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [
            UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type, flags,
            UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF),
        ] + payload
    }

    /// HEADERS with END_HEADERS for a gRPC call.
    package static func headers(stream: UInt32, path: String, token: String, gzip: Bool) -> [UInt8] {
        var fields = [
            (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
            ("content-type", "application/grpc"), ("te", "trailers"), ("authorization", "Bearer \(token)"),
        ]
        if gzip { fields.append(("grpc-encoding", "gzip")) }
        var block: [UInt8] = []
        for (name, value) in fields {
            block.append(0x00)  // literal header field without indexing, new name
            block += integer(name.utf8.count) + Array(name.utf8) + integer(value.utf8.count) + Array(value.utf8)
        }
        return frame(type: 1, flags: 0x4, stream: stream, block)
    }

    /// An HPACK string length: a 7-bit prefix integer, Huffman bit clear (RFC 7541 §5.1).
    static func integer(_ value: Int) -> [UInt8] {
        guard value >= 127 else { return [UInt8(value)] }
        var out: [UInt8] = [127]
        var rest = value - 127
        while rest >= 128 {
            out.append(UInt8(rest & 0x7F | 0x80))
            rest >>= 7
        }
        out.append(UInt8(rest))
        return out
    }
}
