package import Config
import Foundation

/// A receiver the collector POSTs to outside the pipeline's data (budget alerts, checkpoints),
/// vetted by the platform bridge's egress policy: the settings `budget_webhook` and
/// `checkpoint_witness` share, read under one set of names.
public struct HTTPSEndpoint: Sendable {
    /// https (plain http only for localhost, 127.0.0.1 and [::1] with `allow_loopback`).
    public var url = ""
    /// `trusted_hosts`: if set, the only hosts the URL may name.
    public var trustedHosts: Set<String>?
    /// `ca_file`: PEM bundle for a private CA (verification stays on).
    public var caFile: String?
    /// `resolve`: `host:port:address` pins, like curl's `--resolve`; the egress policy still applies.
    public var resolve: [String] = []
    /// `timeout`: seconds for one delivery attempt. Default 5.
    public var timeout = 5.0
    /// `allow_loopback` (default false): permit `localhost`, `127.0.0.1` or `[::1]` (over http too).
    public var allowLoopback = false

    /// Reads the URL under `urlKey` (and `env`) and the shared keys; refuses a URL the egress
    /// policy refuses and an unreadable `ca_file`, naming the key.
    /// `defaultURL`: the URL when the key is absent (a public service's one endpoint).
    package static func read(_ section: ConfigSection, urlKey: String, env: String? = nil, defaultURL: String? = nil, purpose: String)
        throws(ConfigError) -> HTTPSEndpoint
    {
        var e = HTTPSEndpoint()
        if let defaultURL {
            e.url = try section.string(urlKey, env: env, default: defaultURL) ?? defaultURL
        } else {
            e.url = try section.requiredString(urlKey, env: env, fix: "set the https URL that receives \(purpose)")
        }
        if let hosts = try section.stringList("trusted_hosts") {
            e.trustedHosts = Set(hosts.map { DestinationPolicy.canonicalText(DestinationPolicy.normalizeHost($0)) })
        }
        e.caFile = try section.string("ca_file")
        e.resolve = try section.stringList("resolve") ?? []
        for entry in e.resolve where entry.split(separator: ":", omittingEmptySubsequences: false).count < 3 {
            throw section.error("resolve", "contains `\(entry)`", fix: "write host:port:address, e.g. hooks.example.com:443:203.0.113.7")
        }
        e.timeout = try section.double("timeout", default: e.timeout, range: 0.05...300)
        e.allowLoopback = try section.bool("allow_loopback", default: false)
        if case .failure(let refusal) = DestinationPolicy.check(url: e.url, trustedHosts: e.trustedHosts, allowLoopback: e.allowLoopback) {
            throw section.error(
                urlKey, "is refused: \(refusal.reason)",
                fix: "use a public https URL; for a local receiver set allow_loopback: true; check trusted_hosts")
        }
        if let caFile = e.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw section.error("ca_file", "names `\(caFile)`, which cannot be read", fix: "give the path of a PEM CA bundle")
        }
        return e
    }
}

#if PlatformBridge
    package import CurlHTTP

    extension HTTPSEndpoint {
        /// A poster for this URL whose every connection passes the egress policy (after DNS, so a
        /// name that resolves to a refused address is refused).
        package func poster(headers: [String], shouldAbort: @escaping @Sendable () -> Bool) -> GuardedPoster {
            let requested = (try? DestinationPolicy.parseURL(url).get())?.host ?? .invalid("unparsable URL")
            var options = GuardedPoster.Options(
                url: url, headers: headers, caFile: caFile,
                allowAddress: { [allowLoopback] bytes in
                    DestinationPolicy.isAllowedConnection(
                        to: bytes.count == 4 ? .ipv4(bytes) : .ipv6(bytes), requestedHost: requested, allowLoopback: allowLoopback)
                })
            options.timeoutMilliseconds = Int(timeout * 1000)
            options.connectTimeoutMilliseconds = min(options.connectTimeoutMilliseconds, options.timeoutMilliseconds)
            options.resolve = resolve
            options.shouldAbort = shouldAbort
            return GuardedPoster(options)
        }

        /// One POST: nil when the receiver answered 2xx, else what went wrong.
        package static func deliver(_ body: [UInt8], headers: [String] = [], with poster: GuardedPoster) -> String? {
            switch poster.post(body, headers: headers) {
            case .success(let response) where (200..<300).contains(response.status):
                return nil
            case .success(let response):
                return "HTTP \(response.status)"
            case .failure(let error):
                if let refused = poster.lastRefusedAddress {
                    return
                        "connection to \(DestinationPolicy.canonicalText(refused.count == 4 ? .ipv4(refused) : .ipv6(refused))) refused by the egress policy"
                }
                return error.description
            }
        }
    }
#endif
