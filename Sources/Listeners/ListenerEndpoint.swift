/// A listener's `endpoint` setting.
package enum ListenerEndpoint {
    /// `host:port`, `[v6]:port`.
    package static func parse(_ text: String) -> (String, Int)? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, text.hasPrefix("[") || !host.contains(":"), let port = Int(portText), (0...65535).contains(port) else { return nil }
        return (String(host), port)
    }
}
