import AuditStore
import Config
import Crypto
import Exporters
import Foundation
import Pipeline

#if PlatformBridge
    import CurlHTTP
#endif

/// Renders an alert for its destination and sends it, blocking (call it on a worker thread).
enum AlertSender {
    /// Nil when the destination took it (a 2xx), else what went wrong (never a secret).
    static func send(_ alert: JSONValue, delivery: AlertTables.Delivery, to destination: AlertDestination) -> String? {
        if case .email(let url, let from, let to, let caFile) = destination {
            return mail(alert, url: url, from: from, to: to, caFile: caFile)
        }
        guard let (endpoint, body, headers) = render(alert, delivery: delivery, for: destination) else { return "nothing to post" }
        #if PlatformBridge
            let poster = endpoint.poster(
                headers: ["Content-Type: application/json", "User-Agent: governance-collector-alerts"], shouldAbort: { false })
            return HTTPSEndpoint.deliver(body, headers: headers, with: poster)
        #else
            _ = (endpoint, body, headers)
            return "this build has no HTTP client (built without the PlatformBridge trait, which needs libcurl)"
        #endif
    }

    /// One message to each recipient: the summary as its subject, the alert's fields as its text.
    static func mail(_ alert: JSONValue, url: String, from: String, to: [String], caFile: String?) -> String? {
        #if PlatformBridge
            for recipient in to {
                do throws(CurlError) {
                    try CurlMail.send(url: url, from: from, to: recipient, message: message(alert, from: from, to: recipient), caFile: caFile)
                } catch {
                    return "mail to \(recipient): \(error)"
                }
            }
            return nil
        #else
            _ = (alert, url, from, to, caFile)
            return "this build has no SMTP client (built without the PlatformBridge trait, which needs libcurl)"
        #endif
    }

    /// An RFC 5322 message in plain text; header values carry no line breaks (the summary's come
    /// from the configuration and the alert's own fields, which are replaced).
    static func message(_ alert: JSONValue, from: String, to: String) -> String {
        let subject = summary(alert).replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        var id = ""
        if case .string(let text)? = alert["id"] { id = text }
        return [
            "From: \(from)", "To: \(to)", "Subject: \(subject.prefix(200))", "Message-ID: <\(id)@governance-collector>",
            "Content-Type: text/plain; charset=utf-8", "", summary(alert), "", alert.serialized(.pythonCanonical), "",
        ].joined(separator: "\r\n")
    }

    /// The request body and extra headers each HTTP destination expects (nil for e-mail).
    static func render(_ alert: JSONValue, delivery: AlertTables.Delivery, for destination: AlertDestination) -> (
        HTTPSEndpoint, [UInt8], [String]
    )? {
        let fired = delivery.transition == "fired"
        switch destination {
        case .email: return nil
        case .webhook(let endpoint, let secret):
            // The SDK's scheme: HMAC-SHA256 of the canonical JSON, in the header and as `signature`.
            let canonical = alert.serialized(.pythonCanonical)
            let mac = HMAC<SHA256>.authenticationCode(for: Data(canonical.utf8), using: SymmetricKey(data: Data(secret.utf8)))
            let signature = "sha256=" + Data(mac).hexString
            guard case .object(var members) = alert else { return (endpoint, Array(canonical.utf8), []) }
            members.append(.init("signature", .string(signature)))
            return (
                endpoint, Array(JSONValue.object(members).serialized(.pythonCanonical).utf8),
                ["X-Governance-Signature: \(signature)", "X-Governance-Event: governance.alert.\(delivery.transition)"]
            )
        case .slack(let endpoint):
            return (endpoint, Array(JSONValue.object([.init("text", .string(slackEscaped(summary(alert))))]).serialized().utf8), [])
        case .pagerDuty(let endpoint, let routingKey):
            var members: [JSONValue.Member] = [
                .init("routing_key", .string(routingKey)), .init("event_action", .string(fired ? "trigger" : "resolve")),
                .init("dedup_key", .string("governance-collector/\(delivery.rule)/\(delivery.subject)")),
            ]
            if fired {
                members.append(
                    .init(
                        "payload",
                        .object([
                            .init("summary", .string(String(summary(alert).prefix(1024)))), .init("source", .string("governance-collector")),
                            .init("severity", alert["severity"] ?? .string("warning")), .init("custom_details", alert),
                        ])))
            }
            return (endpoint, Array(JSONValue.object(members).serialized().utf8), [])
        }
    }

    /// Slack reads `<…>` as mentions and links and `&` as an entity: an agent id in the text
    /// must not become `<!channel>` or a disguised link.
    static func slackEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// One line: `[CRITICAL] denial-spike fired (agent-7): value 57, above 50 over 300 s. message`.
    static func summary(_ alert: JSONValue) -> String {
        func text(_ key: String) -> String {
            switch alert[key] {
            case .string(let s)?: s
            case .number(let n)?: n
            default: ""
            }
        }
        let subject = text("subject").isEmpty ? "" : " (\(text("subject")))"
        let message = text("message").isEmpty ? "" : " \(text("message"))"
        return
            "[\(text("severity").uppercased())] \(text("rule")) \(text("state"))\(subject): \(text("measure")) \(text("value")), above \(text("above")) over \(text("window_seconds")) s.\(message)"
    }
}
