import Testing
@testable import Exporters

struct Case: Sendable, CustomTestStringConvertible {
    let label: String, url: String
    init(_ label: String, _ url: String) { self.label = label; self.url = url }
    var testDescription: String { "\(label): \(url)" }
}

let metadataV4: [UInt8] = [169, 254, 169, 254]
let loopV6: [UInt8] = [UInt8](repeating: 0, count: 15) + [1]

let hostileURLs: [Case] = [
    Case("decimal metadata", "https://2852039166/"),
    Case("hex metadata", "https://0xA9FEA9FE/"),
    Case("octal metadata", "https://0251.0376.0251.0376/"),
    Case("a.b.c metadata", "https://169.254.43518/"),
    Case("a.b metadata", "https://169.16689662/"),
    Case("dotted metadata", "https://169.254.169.254/latest/meta-data/"),
    Case("trailing-dot metadata v4", "https://169.254.169.254./"),
    Case("short loopback", "https://127.1/"),
    Case("decimal loopback", "https://2130706433/"),
    Case("hex loopback part", "https://0x7f.1/"),
    Case("other loopback", "https://127.0.0.2/"),
    Case("http short loopback", "http://127.1:4320/"),
    Case("a.b.c private", "https://10.1.1/"),
    Case("mapped loopback", "https://[::ffff:127.0.0.1]/"),
    Case("mapped loopback hex", "https://[::ffff:7f00:1]/"),
    Case("long ::1", "https://[0:0:0:0:0:0:0:1]/"),
    Case("mapped metadata hex", "https://[::ffff:a9fe:a9fe]/"),
    Case("mapped metadata dotted", "https://[::ffff:169.254.169.254]/"),
    Case("compatible metadata", "https://[::a9fe:a9fe]/"),
    Case("AWS v6 metadata", "https://[fd00:ec2::254]/"),
    Case("NAT64 metadata", "https://[64:ff9b::a9fe:a9fe]/"),
    Case("local NAT64", "https://[64:ff9b:1::a9fe:a9fe]/"),
    Case("6to4 metadata", "https://[2002:a9fe:a9fe::1]/"),
    Case("Teredo", "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/"),
    Case("ORCHID", "https://[2001:10::1]/"),
    Case("discard", "https://[100::1]/"),
    Case("v6 documentation", "https://[2001:db8::1]/"),
    // Found by FuzzDestinationPolicy: the 3fff::/20 prefix was shorter than its bit count (index out of range).
    Case("v6 documentation 3fff::/20", "https://[3fff:fdd::e378:800b]/"),
    Case("v6 documentation 3fff::/20 start", "https://[3fff::1]/"),
    Case("v6 link-local", "https://[fe80::1]/"),
    Case("v6 zone id", "https://[fe80::1%25eth0]/"),
    Case("v6 site-local", "https://[fec0::1]/"),
    Case("v6 multicast", "https://[ff02::1]/"),
    Case("v6 unspecified", "https://[::]/"),
    Case("GCE metadata trailing dot", "https://metadata.google.internal./"),
    Case("GCE metadata upper case", "https://METADATA.GOOGLE.INTERNAL/"),
    Case("bare metadata", "https://metadata/"),
    Case("metadata.goog", "https://metadata.goog/"),
    Case("Azure metadata", "https://metadata.azure.com/"),
    Case("instance-data", "https://instance-data/"),
    Case("EC2 instance-data", "https://instance-data.ec2.internal/"),
    Case(".internal name", "https://db.corp.internal/"),
    Case("sub.localhost", "https://app.localhost/"),
    Case("mDNS .local", "https://printer.local/"),
    Case("single-label name", "https://intranet/"),
    Case("localhost over https twice-dotted", "https://localhost../"),
    Case("Alibaba metadata", "https://100.100.100.200/"),
    Case("CGNAT", "https://100.64.0.1/"),
    Case("userinfo", "https://user:pw@example.com/"),
    Case("userinfo hiding host", "https://example.com@169.254.169.254/"),
    Case("fragment before @", "https://example.com#@169.254.169.254/"),
    Case("backslash", "https://example.com\\@169.254.169.254/"),
    Case("space in host", "https://exa mple.com/"),
    Case("percent-encoded host", "https://ex%61mple.com/"),
    Case("non-ASCII host", "https://exämple.com/"),
    Case("empty label", "https://a..example.com/"),
    Case("empty host", "https:///x"),
    Case("too many parts", "https://1.2.3.4.5/"),
    Case("octet overflow", "https://256.1.1.1/"),
    Case("bracketed v4", "https://[10.0.0.1]/"),
    Case("port zero", "https://example.com:0/"),
    Case("port too big", "https://example.com:99999/"),
    Case("plain http", "http://example.com/"),
    Case("ftp", "ftp://x/"),
    Case("no scheme", "example.com/"),
    Case("zero", "https://0/"),
    Case("10/8", "https://10.0.0.1/"),
    Case("192.168/16", "https://192.168.1.1/"),
    Case("172.16/12 top", "https://172.31.255.255/"),
    Case("192.0.0/24", "https://192.0.0.8/"),
    Case("192.0.2/24", "https://192.0.2.1/"),
    Case("6to4 relay", "https://192.88.99.1/"),
    Case("benchmarking", "https://198.19.0.1/"),
    Case("198.51.100/24", "https://198.51.100.7/"),
    Case("203.0.113/24", "https://203.0.113.9/"),
    Case("multicast", "https://224.0.0.1/"),
    Case("reserved", "https://240.0.0.1/"),
    Case("broadcast", "https://255.255.255.255/"),
]

@Test(arguments: hostileURLs)
func hostileURLIsRefused(_ c: Case) {
    // Refused with or without the loopback opt-in: it never widens beyond the three spellings.
    #expect((try? DestinationPolicy.check(url: c.url, trustedHosts: nil, allowLoopback: false).get()) == nil)
    let result = DestinationPolicy.check(url: c.url, trustedHosts: nil, allowLoopback: true)
    guard case .failure(let refusal) = result else {
        Issue.record("\(c.label) was allowed: \(c.url)")
        return
    }
    #expect(!refusal.reason.isEmpty)
}

struct Allowed: Sendable, CustomTestStringConvertible {
    let url: String, host: NormalizedHost, port: Int
    var testDescription: String { url }
}

let allowedURLs: [Allowed] = [
    Allowed(url: "https://governance.codeatelier.tech/api/v1/ingest/events", host: .name("governance.codeatelier.tech"), port: 443),
    Allowed(url: "https://93.184.216.34/", host: .ipv4([93, 184, 216, 34]), port: 443),
    Allowed(url: "https://[2606:4700::1111]/", host: .ipv6([0x26, 0x06, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x11]), port: 443),
    Allowed(url: "http://127.0.0.1:4320/x", host: .ipv4([127, 0, 0, 1]), port: 4320),
    Allowed(url: "http://localhost:8080/", host: .name("localhost"), port: 8080),
    Allowed(url: "http://localhost.:8080/", host: .name("localhost"), port: 8080),
    Allowed(url: "http://[::1]:1/", host: .ipv6(loopV6), port: 1),
    Allowed(url: "HTTPS://API.Example.COM:8443?x=1", host: .name("api.example.com"), port: 8443),
    Allowed(url: "https://[::ffff:93.184.216.34]/", host: .ipv6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 93, 184, 216, 34]), port: 443),
    Allowed(url: "https://[2002:5db8:d822::1]/", host: .ipv6([0x20, 0x02, 93, 184, 216, 34] + [UInt8](repeating: 0, count: 9) + [1]), port: 443),
]

@Test(arguments: allowedURLs)
func allowedURLPasses(_ a: Allowed) throws {
    let isLoopback = [NormalizedHost.name("localhost"), .ipv4([127, 0, 0, 1]), .ipv6(loopV6)].contains(a.host)
    let parsed = try DestinationPolicy.check(url: a.url, trustedHosts: nil, allowLoopback: isLoopback).get()
    #expect(parsed.host == a.host)
    #expect(parsed.port == a.port)
}

@Test func parseURLFields() throws {
    let p = try DestinationPolicy.parseURL("https://governance.codeatelier.tech/api/v1/ingest/events").get()
    #expect(p.scheme == "https")
    #expect(p.port == 443)
    #expect(p.path == "/api/v1/ingest/events")
    let q = try DestinationPolicy.parseURL("http://example.com?a=b").get()
    #expect(q.port == 80)
    #expect(q.path == "/?a=b")
}

let normalizations: [(String, NormalizedHost)] = [
    ("2852039166", .ipv4(metadataV4)),
    ("0xA9FEA9FE", .ipv4(metadataV4)),
    ("0251.0376.0251.0376", .ipv4(metadataV4)),
    ("169.254.43518", .ipv4(metadataV4)),
    ("169.16689662", .ipv4(metadataV4)),
    ("0xa9.0xfe.0xa9.0xfe", .ipv4(metadataV4)),
    ("169.254.169.254.", .ipv4(metadataV4)),
    ("127.1", .ipv4([127, 0, 0, 1])),
    ("10.1.1", .ipv4([10, 1, 0, 1])),
    ("017700000001", .ipv4([127, 0, 0, 1])),
    ("1.256", .ipv4([1, 0, 1, 0])),
    ("0", .ipv4([0, 0, 0, 0])),
    ("4294967295", .ipv4([255, 255, 255, 255])),
    ("Example.COM.", .name("example.com")),
    ("under_score.example", .name("under_score.example")),
    ("[::ffff:169.254.169.254]", .ipv6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + metadataV4)),
    ("[::1]", .ipv6(loopV6)),
    ("1::", .ipv6([0, 1] + [UInt8](repeating: 0, count: 14))),
    ("[FD00:EC2::254]", .ipv6([0xFD, 0, 0x0E, 0xC2] + [UInt8](repeating: 0, count: 10) + [0x02, 0x54])),
]

@Test(arguments: normalizations)
func normalizes(_ input: String, _ expected: NormalizedHost) {
    #expect(DestinationPolicy.normalizeHost(input) == expected)
}

@Test(arguments: [
    "", "4294967296", "1.16777216", "256.1.1.1", "08", "1.2.3.4.5", "a..b", "a.b..", "exa mple", "ex%41",
    "münchen.de", "-bad.example", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", ":::", "1::2::3", "[::1", "::1]",
    "1:2:3:4:5:6:7::8", "::ffff:01.2.3.4", "[10.0.0.1]", "+1::",
])
func rejectsMalformedHost(_ input: String) {
    guard case .invalid = DestinationPolicy.normalizeHost(input) else {
        Issue.record("\(input) normalized to \(DestinationPolicy.normalizeHost(input))")
        return
    }
}

@Test func canonicalText() {
    #expect(DestinationPolicy.canonicalText(DestinationPolicy.normalizeHost("[2606:4700:0:0:0:0:0:1111]")) == "2606:4700::1111")
    #expect(DestinationPolicy.canonicalText(DestinationPolicy.normalizeHost("[1:0:0:2:0:0:0:3]")) == "1:0:0:2::3")
    #expect(DestinationPolicy.canonicalText(DestinationPolicy.normalizeHost("[::]")) == "::")
    #expect(DestinationPolicy.canonicalText(DestinationPolicy.normalizeHost("0x5db8d822")) == "93.184.216.34")
}

@Test func trustedHostsNarrowAndNeverWiden() {
    let trusted: Set<String> = ["governance.codeatelier.tech", "2606:4700::1111", "93.184.216.34", "10.0.0.1"]
    func allowed(_ url: String) -> Bool { (try? DestinationPolicy.check(url: url, trustedHosts: trusted, allowLoopback: true).get()) != nil }
    #expect(allowed("https://governance.codeatelier.tech/api"))
    #expect(allowed("https://GOVERNANCE.codeatelier.tech./api"))
    #expect(allowed("https://[2606:4700:0::1111]/"))
    #expect(allowed("https://1572395042/"))
    #expect(!allowed("https://other.example/"))
    #expect(!allowed("https://evil.governance.codeatelier.tech/"))
    #expect(!allowed("https://10.0.0.1/"))
    #expect(!allowed("http://localhost:8080/"))
    #expect((try? DestinationPolicy.check(url: "http://localhost:8080/", trustedHosts: ["localhost"], allowLoopback: true).get()) != nil)
}

@Test("loopback is refused unless allow_loopback, and the refusal names the setting")
func loopbackOnlyOnRequest() {
    for url in ["http://localhost:8080/", "http://127.0.0.1:4320/x", "https://[::1]/", "http://localhost.:1/"] {
        guard case .failure(let refusal) = DestinationPolicy.check(url: url, trustedHosts: nil, allowLoopback: false) else {
            Issue.record("\(url) was allowed without allow_loopback")
            continue
        }
        #expect(refusal.reason.contains("allow_loopback: true"), "\(refusal.reason)")
        #expect((try? DestinationPolicy.check(url: url, trustedHosts: nil, allowLoopback: true).get()) != nil, "\(url)")
    }
    let localhost = DestinationPolicy.normalizeHost("localhost")
    #expect(!DestinationPolicy.isAllowedConnection(to: .ipv4([127, 0, 0, 1]), requestedHost: localhost, allowLoopback: false))
    // The OTLP exporter's narrower rule: private networks pass, loopback (also IPv4-mapped) only on request.
    #expect(DestinationPolicy.refusesLoopback(host: "127.0.0.1", allowLoopback: false) != nil)
    #expect(DestinationPolicy.refusesLoopback(host: "::ffff:127.0.0.2", allowLoopback: false) != nil)
    #expect(DestinationPolicy.refusesLoopback(host: "collector.localhost", allowLoopback: false) != nil)
    #expect(DestinationPolicy.refusesLoopback(host: "127.0.0.1", allowLoopback: true) == nil)
    #expect(DestinationPolicy.refusesLoopback(host: "10.0.0.7", allowLoopback: false) == nil)
    #expect(DestinationPolicy.isLoopbackAddress([127, 9, 9, 9]))
    #expect(!DestinationPolicy.isLoopbackAddress([10, 0, 0, 1]))
}

@Test func connectionCheckStopsRebinding() {
    let api = DestinationPolicy.normalizeHost("api.example.com")
    #expect(!DestinationPolicy.isAllowedConnection(to: .ipv4([127, 0, 0, 1]), requestedHost: api, allowLoopback: true))
    #expect(!DestinationPolicy.isAllowedConnection(to: .ipv4(metadataV4), requestedHost: api, allowLoopback: true))
    #expect(!DestinationPolicy.isAllowedConnection(to: .ipv6(loopV6), requestedHost: api, allowLoopback: true))
    #expect(!DestinationPolicy.isAllowedConnection(to: DestinationPolicy.normalizeHost("fd00:ec2::254"), requestedHost: api, allowLoopback: true))
    #expect(!DestinationPolicy.isAllowedConnection(to: DestinationPolicy.normalizeHost("::ffff:10.0.0.1"), requestedHost: api, allowLoopback: true))
    #expect(!DestinationPolicy.isAllowedConnection(to: .name("example.com"), requestedHost: api, allowLoopback: true))
    #expect(DestinationPolicy.isAllowedConnection(to: .ipv4([93, 184, 216, 34]), requestedHost: api, allowLoopback: true))
    #expect(DestinationPolicy.isAllowedConnection(to: DestinationPolicy.normalizeHost("2606:4700::1111"), requestedHost: api, allowLoopback: true))
    let localhost = DestinationPolicy.normalizeHost("localhost")
    #expect(DestinationPolicy.isAllowedConnection(to: .ipv4([127, 0, 0, 1]), requestedHost: localhost, allowLoopback: true))
    #expect(DestinationPolicy.isAllowedConnection(to: .ipv6(loopV6), requestedHost: localhost, allowLoopback: true))
    #expect(!DestinationPolicy.isAllowedConnection(to: .ipv4(metadataV4), requestedHost: localhost, allowLoopback: true))
    #expect(!DestinationPolicy.isAllowedConnection(to: .ipv4([10, 0, 0, 1]), requestedHost: .ipv4([127, 0, 0, 1]), allowLoopback: true))
}

@Test func refusalReasonsNameTheRange() {
    #expect(DestinationPolicy.isRefused(.ipv4([100, 100, 100, 200]))?.reason.contains("100.64.0.0/10") == true)
    #expect(DestinationPolicy.isRefused(DestinationPolicy.normalizeHost("2002:a9fe:a9fe::1"))?.reason.contains("6to4") == true)
    #expect(DestinationPolicy.isRefused(DestinationPolicy.normalizeHost("64:ff9b::5db8:d822")) == nil)
    #expect(DestinationPolicy.isRefused(.name("governance.codeatelier.tech")) == nil)
    #expect(DestinationPolicy.isRefused(.ipv4([8, 8, 8, 8])) == nil)
}

@Test("every refused IPv6 block's prefix has the bytes its bit count reads")
func v6BlockPrefixesAreLongEnough() {
    for block in DestinationPolicy.v6Blocks {
        #expect(block.prefix.count * 8 >= block.bits, "\(block.what)")
    }
}
