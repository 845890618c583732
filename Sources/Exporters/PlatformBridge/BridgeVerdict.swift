public import Foundation
import Pipeline

/// What the bridge does with one platform response: the seed's response table as a pure
/// function, so every row is tested without a network.
public enum BridgeVerdict: Equatable, Sendable {
    /// 2xx.
    case sent
    /// 409 for an event the platform already has: success (the 0.7.3 SDK counts it as a drop).
    case duplicate
    /// 401 or 402: stop sending until restart.
    case disable(reason: String)
    /// 409 `seq_out_of_order`: retry once with the platform's expected seq (nil if unreadable).
    case seqConflict(expected: Int64?)
    /// 413, other 4xx, and 3xx (redirects are never followed): log a scrubbed preview and drop.
    case drop(status: Int, preview: String)
    /// 429: wait `retryAfter` seconds when the server said so, else back off exponentially.
    case rateLimited(retryAfter: Double?)
    /// 5xx (and, from the caller, connection errors): back off silently, within the budget.
    case transient(String)

    public static func classify(status: Int, headers: [String: String], body: [UInt8], token: String, now: Date = Date()) -> BridgeVerdict {
        switch status {
        case 200..<300: return .sent
        case 401: return .disable(reason: "401 from the platform: the token was revoked or is invalid")
        case 402: return .disable(reason: "402 from the platform: the plan does not include ingest")
        case 409:
            let error = try? JSONParser.parse(body)
            if case .string("seq_out_of_order")? = error?["error"] {
                let message: String? = if case .string(let m)? = error?["message"] { m } else { nil }
                return .seqConflict(expected: message.flatMap(expectedSeq))
            }
            return .duplicate
        case 429: return .rateLimited(retryAfter: headers["retry-after"].flatMap { retryAfterSeconds($0, now: now) })
        case 300..<500: return .drop(status: status, preview: preview(body, scrubbing: [token]))
        default: return .transient("HTTP \(status)")
        }
    }

    /// `N` from the platform's "expected seq=N, got M".
    static func expectedSeq(_ message: String) -> Int64? {
        guard let range = message.range(of: "expected seq=") else { return nil }
        return Int64(message[range.upperBound...].prefix(while: \.isNumber))
    }

    /// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3); nil when unreadable.
    static func retryAfterSeconds(_ value: String, now: Date) -> Double? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(text) { return seconds >= 0 ? Double(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }

    /// At most 200 characters of a response body for a log line: each secret (a token, a
    /// header value) replaced, control characters shown as `?`.
    static func preview(_ body: [UInt8], scrubbing secrets: [String]) -> String {
        var text = String(decoding: body.prefix(4096), as: UTF8.self)
        for secret in secrets where !secret.isEmpty { text = text.replacingOccurrences(of: secret, with: "[token]") }
        text = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}
