import FuzzSupport
import Exporters

/// The SSRF policy's pure functions on hostile URLs: a URL the policy accepts must name a host
/// whose literal address (if it is one) is also allowed at connect time, with and without
/// `allow_loopback`.
@_cdecl("FuzzDestinationPolicy_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: bytes(data, count), as: UTF8.self)
    for allowLoopback in [false, true] {
        if case .success(let parsed) = DestinationPolicy.check(url: text, trustedHosts: nil, allowLoopback: allowLoopback) {
            switch parsed.host {
            case .ipv4, .ipv6:
                precondition(
                    DestinationPolicy.isAllowedConnection(to: parsed.host, requestedHost: parsed.host, allowLoopback: allowLoopback),
                    "accepted URL \(text) names an address the connect-time guard refuses (allow_loopback: \(allowLoopback))")
            default: break
            }
        }
    }
    _ = DestinationPolicy.normalizeHost(text)
    return 0
}
