import FuzzSupport
import Exporters

/// The SSRF policy's pure functions on hostile URLs: a URL the policy accepts must name a host
/// whose literal address (if it is one) is also allowed at connect time.
@_cdecl("FuzzEgressPolicy_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: bytes(data, count), as: UTF8.self)
    if case .success(let parsed) = EgressPolicy.check(url: text, trustedHosts: nil) {
        switch parsed.host {
        case .ipv4, .ipv6:
            precondition(EgressPolicy.isAllowedConnection(to: parsed.host, requestedHost: parsed.host),
                         "accepted URL \(text) names an address the connect-time guard refuses")
        default: break
        }
    }
    _ = EgressPolicy.normalizeHost(text)
    return 0
}
