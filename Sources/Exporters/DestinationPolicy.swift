// Where outbound HTTP may go: the SSRF policy of every exporter that sends to a URL (platform_bridge,
// otlp_http, otlp_grpc, budget_webhook, checkpoint_witness). Pure functions over strings and bytes:
// nothing here resolves a name or opens a socket. `check` vets `platform_ingest_url` once;
// `isAllowedConnection` is for the open-socket callback with every resolved address, which is
// what stops names resolving to private addresses and DNS rebinding.
// Decisions: hosts parse like inet_aton (1–4 parts, decimal/octal/hex), so every spelling is
// judged by its bytes; a numeric-looking last label that is no valid IPv4 is invalid (WHATWG).
// `@` and `#` are refused anywhere in the URL. Refused names: metadata names, `localhost`, all
// single-label names (search domains turn `metadata` into `metadata.google.internal`), and
// `.internal` (ICANN private-use TLD), `.localhost`, `.local`, `.home.arpa`. Loopback is refused
// unless the component's `allow_loopback: true` asks for it (local development, tests); then only
// the spellings `localhost`, `localhost.` (one trailing dot is stripped like for any name),
// `127.0.0.1`, `::1` pass, over http or https. `trustedHosts` only narrows. IPv6 with embedded IPv4 (mapped, compatible, NAT64 /96, 6to4) is judged by the IPv4;
// Teredo and 64:ff9b:1::/48 are refused outright; anything else outside 2000::/3 is refused.

public enum NormalizedHost: Equatable, Sendable {
    case ipv4([UInt8]), ipv6([UInt8]) /* 16 bytes */, name(String), invalid(String)
}

public struct DestinationRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "destination refused: \(reason)" }
}

public struct ParsedURL: Equatable, Sendable {
    public let scheme: String, host: NormalizedHost, port: Int, path: String
}

public enum DestinationPolicy {
    static let devSpellings: Set<String> = ["localhost", "localhost.", "127.0.0.1", "::1"]
    static let metadataNames: Set<String> = [
        "metadata.google.internal", "metadata", "metadata.goog",
        "metadata.azure.com", "instance-data", "instance-data.ec2.internal", "localhost",
    ]
    static let refusedSuffixes = [".internal", ".localhost", ".local", ".home.arpa"]

    public static func normalizeHost(_ host: String) -> NormalizedHost {
        guard !host.isEmpty else { return .invalid("empty host") }
        guard host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
        else { return .invalid("non-ASCII, space or control character in host") }
        var h = host.lowercased()
        if h.contains("%") { return .invalid("percent-encoding or IPv6 zone id in host") }
        if h.hasPrefix("[") || h.hasSuffix("]") {
            guard h.hasPrefix("["), h.hasSuffix("]"), h.count > 2 else { return .invalid("unbalanced brackets") }
            h = String(h.dropFirst().dropLast())
            return parseIPv6(h).map(NormalizedHost.ipv6) ?? .invalid("malformed IPv6 literal")
        }
        if h.contains(":") { return parseIPv6(h).map(NormalizedHost.ipv6) ?? .invalid("malformed IPv6 literal") }
        if h.hasSuffix(".") { h.removeLast() }
        let labels = h.split(separator: ".", omittingEmptySubsequences: false)
        guard !h.isEmpty, !labels.contains(where: \.isEmpty) else { return .invalid("empty label") }
        if let v4 = parseInetAton(labels) { return .ipv4(v4) }
        if let last = labels.last, looksNumeric(last) { return .invalid("malformed numeric IPv4 host") }
        guard h.utf8.count <= 253 else { return .invalid("name longer than 253 bytes") }
        for label in labels {
            guard label.utf8.count <= 63, label.first != "-", label.last != "-",
                label.utf8.allSatisfy({ isLDH($0) })
            else { return .invalid("label '\(label)' is not letters, digits, hyphens") }
        }
        return .name(h)
    }

    static func isLDH(_ c: UInt8) -> Bool { (0x61...0x7A).contains(c) || (0x30...0x39).contains(c) || c == 0x2D || c == 0x5F }
    static func isDecimal(_ s: Substring) -> Bool { s.allSatisfy { $0.isASCII && $0.isNumber } }
    static func looksNumeric(_ s: Substring) -> Bool { s.hasPrefix("0x") ? s.dropFirst(2).allSatisfy(\.isHexDigit) : isDecimal(s) }

    /// One inet_aton part: `0x` hex (empty means 0), leading-0 octal, or decimal; nil above 2^32-1.
    static func parseAtonPart(_ s: Substring) -> UInt64? {
        var digits = s, radix: UInt64 = 10
        if s.hasPrefix("0x") {
            (digits, radix) = (s.dropFirst(2), 16)
        } else if s.count > 1 && s.hasPrefix("0") {
            (digits, radix) = (s.dropFirst(), 8)
        }
        var value: UInt64 = 0
        for ch in digits {
            guard let d = ch.hexDigitValue, UInt64(d) < radix else { return nil }
            value = value * radix + UInt64(d); if value > 0xFFFF_FFFF { return nil }
        }
        return value
    }

    static func parseInetAton(_ labels: [Substring]) -> [UInt8]? {
        guard (1...4).contains(labels.count) else { return nil }
        var parts: [UInt64] = []
        for label in labels { guard let v = parseAtonPart(label) else { return nil }; parts.append(v) }
        let lastBits = UInt64(8 * (5 - parts.count))
        guard parts.dropLast().allSatisfy({ $0 <= 255 }), parts.last! < (1 << lastBits) else { return nil }
        var value = parts.last!
        for (i, p) in parts.dropLast().enumerated() { value |= p << UInt64(24 - 8 * i) }
        return [24, 16, 8, 0].map { UInt8((value >> UInt64($0)) & 0xFF) }
    }

    /// Strict dotted quad as inet_pton accepts inside IPv6: four decimal parts, no leading zeros.
    static func parseDottedQuad(_ s: Substring) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        let out = parts.compactMap { p in (1...3).contains(p.count) && isDecimal(p) && (p.count == 1 || p.first != "0") ? UInt8(p) : nil }
        return parts.count == 4 && out.count == 4 ? out : nil
    }

    static func parseIPv6(_ s: String) -> [UInt8]? {
        func groups(_ part: Substring, allowV4: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            var out: [UInt8] = []
            for (i, item) in items.enumerated() {
                if item.contains(".") {
                    guard allowV4, i == items.count - 1, let v4 = parseDottedQuad(item) else { return nil }
                    out += v4
                } else {
                    guard (1...4).contains(item.count), item.allSatisfy(\.isHexDigit), let v = UInt16(item, radix: 16) else { return nil }
                    out += [UInt8(v >> 8), UInt8(v & 0xFF)]
                }
            }
            return out
        }
        guard let gap = s.firstRange(of: "::") else { return groups(s[...], allowV4: true).flatMap { $0.count == 16 ? $0 : nil } }
        let tailText = s[gap.upperBound...]
        guard !tailText.contains("::"), let head = groups(s[..<gap.lowerBound], allowV4: false),
            let tail = groups(tailText, allowV4: true), head.count + tail.count <= 14
        else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    /// Canonical text: dotted quad for IPv4, RFC 5952 for IPv6 (no brackets), the name itself.
    public static func canonicalText(_ host: NormalizedHost) -> String {
        switch host {
        case .name(let n): return n
        case .invalid(let why): return "<invalid: \(why)>"
        case .ipv4(let b): return b.map(String.init).joined(separator: ".")
        case .ipv6(let b):
            let g = (0..<8).map { Int(b[2 * $0]) << 8 | Int(b[2 * $0 + 1]) }
            var best = (start: 0, len: 0)
            for i in 0..<8 { let n = g[i...].prefix(while: { $0 == 0 }).count; if n > best.len { best = (i, n) } }
            let hex = { (r: ArraySlice<Int>) in r.map { String($0, radix: 16) }.joined(separator: ":") }
            guard best.len >= 2 else { return hex(g[...]) }
            return hex(g[..<best.start]) + "::" + hex(g[(best.start + best.len)...])
        }
    }

    public static func parseURL(_ url: String) -> Result<ParsedURL, DestinationRefusal> { splitURL(url).map(\.parsed) }

    static func splitURL(_ url: String) -> Result<(parsed: ParsedURL, rawHost: String), DestinationRefusal> {
        func fail(_ r: String) -> Result<(parsed: ParsedURL, rawHost: String), DestinationRefusal> { .failure(DestinationRefusal(r)) }
        for u in url.unicodeScalars {
            if !u.isASCII { return fail("non-ASCII character in URL") }
            if u.value <= 0x20 || u.value == 0x7F { return fail("whitespace or control character in URL") }
            if u == "\\" { return fail("backslash in URL") }
            if u == "@" { return fail("'@' in URL (userinfo hides the real host)") }
            if u == "#" { return fail("'#' in URL") }
        }
        guard let sep = url.firstRange(of: "://") else { return fail("URL has no scheme") }
        let scheme = url[..<sep.lowerBound].lowercased()
        let defaultPort: Int
        switch scheme {
        case "https": defaultPort = 443
        case "http": defaultPort = 80
        default: return fail("scheme '\(scheme)' is not https or http")
        }
        let rest = url[sep.upperBound...]
        let authEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authEnd]
        var path = String(rest[authEnd...])
        if !path.hasPrefix("/") { path = "/" + path }
        var hostPart = authority, portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return fail("unterminated IPv6 literal") }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.first == ":" else { return fail("unexpected text after IPv6 literal") }
            if !after.isEmpty { portText = after.dropFirst() }
        } else if let colon = authority.firstIndex(of: ":") {
            hostPart = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        var port = defaultPort
        if let portText {
            guard (1...5).contains(portText.count), isDecimal(portText),
                let p = Int(portText), (1...65535).contains(p)
            else { return fail("invalid port '\(portText)'") }
            port = p
        }
        let host = normalizeHost(String(hostPart))
        if case .invalid(let why) = host { return fail("invalid host: \(why)") }
        var raw = hostPart.lowercased()
        if raw.hasPrefix("[") { raw = String(raw.dropFirst().dropLast()) }
        return .success((ParsedURL(scheme: scheme, host: host, port: port, path: path), raw))
    }

    static let v4Blocks: [(base: UInt32, bits: Int, what: String)] = [
        (0x0000_0000, 8, "'this network' 0.0.0.0/8"), (0x0A00_0000, 8, "private 10.0.0.0/8"),
        (0x6440_0000, 10, "shared/CGNAT 100.64.0.0/10 (includes Alibaba metadata 100.100.100.200)"), (0x7F00_0000, 8, "loopback 127.0.0.0/8"),
        (0xA9FE_0000, 16, "link-local 169.254.0.0/16 (cloud metadata)"), (0xAC10_0000, 12, "private 172.16.0.0/12"),
        (0xC000_0000, 24, "IETF protocol assignments 192.0.0.0/24"), (0xC000_0200, 24, "documentation 192.0.2.0/24"),
        (0xC058_6300, 24, "6to4 relay anycast 192.88.99.0/24"), (0xC0A8_0000, 16, "private 192.168.0.0/16"),
        (0xC612_0000, 15, "benchmarking 198.18.0.0/15"), (0xC633_6400, 24, "documentation 198.51.100.0/24"),
        (0xCB00_7100, 24, "documentation 203.0.113.0/24"), (0xE000_0000, 4, "multicast 224.0.0.0/4"),
        (0xF000_0000, 4, "reserved 240.0.0.0/4 (includes broadcast 255.255.255.255)"),
    ]

    static let v6Blocks: [(prefix: [UInt8], bits: Int, what: String)] = [
        ([0xFC], 7, "unique local fc00::/7 (includes AWS metadata fd00:ec2::254)"), ([0xFE, 0x80], 10, "link-local fe80::/10"),
        ([0xFE, 0xC0], 10, "site-local fec0::/10"), ([0xFF], 8, "multicast ff00::/8"),
        ([0x20, 0x01, 0x0D, 0xB8], 32, "documentation 2001:db8::/32"), ([0x3F, 0xFF, 0x00], 20, "documentation 3fff::/20"),
        ([0x01, 0, 0, 0, 0, 0, 0, 0], 64, "discard 100::/64"), ([0x20, 0x01, 0, 0], 32, "Teredo 2001::/32"),
        ([0x20, 0x01, 0, 0x02, 0, 0], 48, "benchmarking 2001:2::/48"), ([0x20, 0x01, 0, 0x10], 28, "ORCHID 2001:10::/28"),
        ([0x20, 0x01, 0, 0x20], 28, "ORCHIDv2 2001:20::/28"), ([0, 0x64, 0xFF, 0x9B, 0, 0x01], 48, "local-use NAT64 64:ff9b:1::/48"),
    ]

    static func hasPrefix(_ b: [UInt8], _ prefix: [UInt8], bits: Int) -> Bool {
        for i in 0..<bits { if (b[i / 8] ^ prefix[i / 8]) & (0x80 >> UInt8(i % 8)) != 0 { return false } }
        return true
    }

    /// The reason an address or name is refused, or nil when it may be used.
    /// Names are refused only for being metadata, loopback, local or single-label names;
    /// their resolved addresses must still pass `isAllowedConnection`.
    public static func isRefused(_ address: NormalizedHost) -> DestinationRefusal? {
        switch address {
        case .invalid(let why): return DestinationRefusal("invalid host: \(why)")
        case .name(let n): return refusedName(n)
        case .ipv4(let b): return refusedV4(b)
        case .ipv6(let b): return refusedV6(b)
        }
    }

    static func refusedName(_ n: String) -> DestinationRefusal? {
        if metadataNames.contains(n) { return DestinationRefusal("\(n) is a metadata or loopback name") }
        if let s = refusedSuffixes.first(where: { n.hasSuffix($0) }) { return DestinationRefusal("\(n) is under \(s), which is never public") }
        if !n.contains(".") { return DestinationRefusal("single-label name \(n) is subject to resolver search domains") }
        return nil
    }

    static func refusedV4(_ b: [UInt8]) -> DestinationRefusal? {
        guard b.count == 4 else { return DestinationRefusal("IPv4 address must have 4 bytes") }
        let v = b.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let block = v4Blocks.first { v >> (32 - $0.bits) == $0.base >> (32 - $0.bits) }
        return block.map { DestinationRefusal("\(canonicalText(.ipv4(b))) is \($0.what)") }
    }

    static func refusedV6(_ b: [UInt8]) -> DestinationRefusal? {
        guard b.count == 16 else { return DestinationRefusal("IPv6 address must have 16 bytes") }
        let text = canonicalText(.ipv6(b))
        func embedded(_ v4: ArraySlice<UInt8>, _ kind: String) -> DestinationRefusal? {
            refusedV4(Array(v4)).map { DestinationRefusal("\(text) is \(kind) of a refused IPv4: \($0.reason)") }
        }
        if b.allSatisfy({ $0 == 0 }) { return DestinationRefusal(":: is the unspecified address") }
        if b == loopbackV6 { return DestinationRefusal("\(text) is loopback ::1") }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return embedded(b[12...], "IPv4-mapped") }
        if b[0..<12].allSatisfy({ $0 == 0 }) { return embedded(b[12...], "IPv4-compatible") }
        if hasPrefix(b, [0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0], bits: 96) { return embedded(b[12...], "NAT64") }
        if b[0] == 0x20 && b[1] == 0x02 { return embedded(b[2..<6], "6to4") }
        if let block = v6Blocks.first(where: { hasPrefix(b, $0.prefix, bits: $0.bits) }) { return DestinationRefusal("\(text) is \(block.what)") }
        if b[0] & 0xE0 != 0x20 { return DestinationRefusal("\(text) is outside global unicast 2000::/3") }
        return nil
    }

    static let loopbackV6 = [UInt8](repeating: 0, count: 15) + [1]
    static func isDevHost(_ h: NormalizedHost) -> Bool { h == .name("localhost") || h == .ipv4([127, 0, 0, 1]) || h == .ipv6(loopbackV6) }
    static func isLoopback(_ h: NormalizedHost) -> Bool {
        if case .ipv4(let b) = h { return b.first == 127 }
        if case .ipv6(let b) = h, b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xFF, b[11] == 0xFF { return b[12] == 127 }
        return h == .ipv6(loopbackV6)
    }

    public static func check(url: String, trustedHosts: Set<String>?, allowLoopback: Bool) -> Result<ParsedURL, DestinationRefusal> {
        let split = splitURL(url)
        guard case .success(let (parsed, raw)) = split else { return split.map(\.parsed) }
        if devSpellings.contains(raw) {
            guard allowLoopback else { return .failure(DestinationRefusal("\(raw) is loopback, which is refused unless allow_loopback: true")) }
        } else {
            if parsed.scheme != "https" {
                return .failure(DestinationRefusal("plain http is only allowed for loopback (localhost, 127.0.0.1, ::1, with allow_loopback: true)"))
            }
            if let r = isRefused(parsed.host) { return .failure(r) }
        }
        if let trustedHosts, !trustedHosts.contains(canonicalText(parsed.host)) {
            return .failure(DestinationRefusal("\(canonicalText(parsed.host)) is not in trusted hosts"))
        }
        return .success(parsed)
    }

    /// For the open-socket callback: each resolved address of `requestedHost`.
    /// Refused addresses are refused whatever name asked for them (DNS rebinding), except
    /// loopback when allowed and the request was for one of the development hosts.
    public static func isAllowedConnection(to address: NormalizedHost, requestedHost: NormalizedHost, allowLoopback: Bool) -> Bool {
        switch address {
        case .ipv4, .ipv6: break;
        default: return false
        }
        return isRefused(address) == nil || (allowLoopback && isLoopback(address) && isDevHost(requestedHost))
    }

    /// For exporters that may send to private networks (an OTLP backend in the same cluster):
    /// only loopback is refused, unless `allowLoopback`. Names are judged after resolution by
    /// the connection callback (`isLoopback` on each address).
    public static func refusesLoopback(host: String, allowLoopback: Bool) -> DestinationRefusal? {
        guard !allowLoopback else { return nil }
        let h = normalizeHost(host)
        if isLoopback(h) || h == .name("localhost") || canonicalText(h).hasSuffix(".localhost") {
            return DestinationRefusal("\(host) is loopback, which is refused unless allow_loopback: true")
        }
        return nil
    }

    /// Raw address bytes (4 or 16) from a connection callback.
    public static func isLoopbackAddress(_ bytes: [UInt8]) -> Bool {
        isLoopback(bytes.count == 4 ? .ipv4(bytes) : .ipv6(bytes))
    }
}
