/// A `Content-Type` header's media type: before any `;` parameters, without surrounding blanks,
/// in lower case (`Application/JSON; charset=utf-8` → `application/json`). ASCII work on the
/// header's bytes, since every request asks.
func contentMediaType(_ header: String?) -> String {
    guard let header else { return "" }
    var type = header.utf8.prefix { $0 != UInt8(ascii: ";") }
    let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
    while let first = type.first, isBlank(first) { type.removeFirst() }
    while let last = type.last, isBlank(last) { type.removeLast() }
    return String(decoding: type.lazy.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
}
