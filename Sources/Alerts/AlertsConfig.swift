package import AuditStore
package import Config
package import Exporters
package import Pipeline

/// The `alerts:` section: rules over the audit table and the collector's health, and where
/// their notifications go (docs/components/alerts.md).
package struct AlertsConfig: Sendable {
    /// `interval` (seconds, default 15): between evaluations.
    package var interval = 15.0
    package var rules: [AlertRule] = []
    package var destinations: [String: AlertDestination] = [:]
    package var pipeline = ""
    /// `audit_events` (default true): each alert fired, resolved and delivered is also an audit
    /// event through the pipeline (it needs the pipeline's chain).
    package var auditEvents = true

    package static func read(_ section: ConfigSection, pipelines: [String], chained: Set<String>) throws(ConfigError) -> AlertsConfig? {
        let enabled = try section.bool("enabled", default: true)
        var config = AlertsConfig()
        config.interval = try section.double("interval", default: config.interval, range: 0.01...86_400)
        config.auditEvents = try section.bool("audit_events", default: true)
        let destinations = try section.section("destinations")
        for name in destinations.keys {
            config.destinations[name] = try AlertDestination.read(destinations.section(name))
        }
        try destinations.finish()
        let rules = try section.section("rules")
        for name in rules.keys {
            let rule = try AlertRule.read(rules.section(name), name: name)
            for destination in rule.destinations where config.destinations[destination] == nil {
                throw try rules.section(name).error(
                    "destinations", "names `\(destination)`, which is not under alerts.destinations",
                    fix: "use one of: \(config.destinations.keys.sorted().joined(separator: ", "))")
            }
            config.rules.append(rule)
        }
        try rules.finish()
        config.pipeline = try section.pipeline(among: pipelines, whose: "database the rules read")
        if config.auditEvents, !chained.contains(config.pipeline) {
            throw section.error(
                "audit_events", "is on, but pipeline `\(config.pipeline)` has no chain processor to key the alert events",
                fix: "add `chain` to that pipeline's processors, or set audit_events: false")
        }
        try section.finish()
        return enabled ? config : nil
    }
}

/// One rule: what it measures, when it fires, how loud, and where it is sent.
package struct AlertRule: Sendable {
    package enum Measure: Sendable {
        /// Events selected in the window.
        case count
        /// Of the events selected, the share `part` also selects; only with `minEvents` or more.
        case ratio(part: AlertSelection, minEvents: Int)
        /// The summed cost (`field` of metadata) per agent or per session.
        case cost(field: String, perSession: Bool)
        /// The continuous verifier's first failure (value 1 while it stands).
        case verificationFailed
        /// Events stored with an invalid signature or a key nobody registered.
        case invalidSignatures
        /// Seconds the oldest row not yet in the checkpoint tree has waited.
        case signerLag
        /// Per checkpoint witness, seconds since the oldest checkpoint it has not received was signed.
        case witnessLag
    }

    package var name: String
    package var measure: Measure
    package var selection = AlertSelection()
    package var window = 300.0
    /// Fires when the value is above this (a count, a share from 0 to 1, dollars, seconds).
    package var above = 0.0
    package var severity = "warning"
    /// Seconds after firing before the same rule and subject may fire again.
    package var cooldown = 900.0
    package var message = ""
    package var resolveMessage = ""
    package var destinations: [String] = []

    static let severities = ["critical", "error", "warning", "info"]
    static let healthChecks = ["verification_failed", "invalid_signatures", "signer_lag", "witness_lag"]

    static func read(_ section: ConfigSection, name: String) throws(ConfigError) -> AlertRule {
        let kinds = ["count", "ratio", "cost", "health"].filter(section.keys.contains)
        guard kinds.count == 1 else {
            throw section.error(
                kinds.isEmpty ? "count" : kinds[1], kinds.isEmpty ? "is missing: a rule measures one thing" : "and `\(kinds[0])` are both set",
                fix: "give the rule exactly one of count, ratio, cost or health")
        }
        var rule = AlertRule(name: name, measure: .count)
        if section.keys.contains("select") { rule.selection = try readSelection(section.section("select")) }
        switch kinds[0] {
        case "count":
            let count = try section.section("count")
            rule.window = try count.double("window", default: 300, range: 1...2_592_000)
            rule.above = try count.double("above", default: 0, range: 0...1e12)
            try count.finish()
        case "ratio":
            let ratio = try section.section("ratio")
            let part = try readSelection(ratio.section("of"))
            rule.window = try ratio.double("window", default: 300, range: 1...2_592_000)
            rule.above = try ratio.double("above", default: 0.5, range: 0...1)
            rule.measure = .ratio(part: part, minEvents: try ratio.int("min_events", default: 10, range: 1...1_000_000_000))
            try ratio.finish()
        case "cost":
            let cost = try section.section("cost")
            let per = try cost.string("per", default: "agent")!
            guard per == "agent" || per == "session" else {
                throw cost.error("per", "is `\(per)`", fix: "write `agent` or `session`")
            }
            rule.window = try cost.double("window", default: 86_400, range: 1...31_622_400)
            rule.above = try cost.double("above", default: 0, range: 0...1e12)
            rule.measure = .cost(field: try cost.string("field", default: "cost_usd")!, perSession: per == "session")
            try cost.finish()
        default:
            let health = try section.string("health")!
            switch health {
            case "verification_failed": rule.measure = .verificationFailed
            case "invalid_signatures":
                rule.measure = .invalidSignatures
                rule.window = try section.double("window", default: 300, range: 1...2_592_000)
            case "signer_lag": rule.measure = .signerLag
            case "witness_lag": rule.measure = .witnessLag
            default:
                throw section.error("health", "is `\(health)`", fix: "use one of: \(healthChecks.joined(separator: ", "))")
            }
            rule.above = try section.double("above", default: health.hasSuffix("_lag") ? 300 : 0, range: 0...1e12)
        }
        rule.severity = try section.string("severity", default: "warning")!
        guard severities.contains(rule.severity) else {
            throw section.error("severity", "is `\(rule.severity)`", fix: "use one of: \(severities.joined(separator: ", "))")
        }
        rule.cooldown = try section.double("cooldown", default: 900, range: 0...2_592_000)
        rule.message = try section.string("message", default: "") ?? ""
        rule.resolveMessage = try section.string("resolve_message", default: "") ?? ""
        rule.destinations = try section.stringList("destinations") ?? []
        try section.finish()
        return rule
    }

    static func readSelection(_ section: ConfigSection) throws(ConfigError) -> AlertSelection {
        var selection = AlertSelection()
        selection.workflow = try section.string("workflow")
        selection.agent = try section.string("agent")
        selection.kindPrefix = try section.string("kind_prefix")
        selection.decision = try section.string("decision")
        if let decision = selection.decision, !["allow", "deny"].contains(decision) {
            throw section.error("decision", "is `\(decision)`", fix: "write `allow` or `deny`")
        }
        if section.keys.contains("metadata") {
            let metadata = try section.section("metadata")
            for key in metadata.keys { selection.metadata.append((key, try metadata.string(key) ?? "")) }
            try metadata.finish()
        }
        try section.finish()
        return selection
    }
}

/// Where notifications go.
package enum AlertDestination: Sendable {
    /// The SDK's signed webhook (as `budget_webhook` sends): HMAC-SHA256 of the canonical JSON.
    case webhook(HTTPSEndpoint, secret: String)
    /// A Slack incoming webhook (`{"text": …}`).
    case slack(HTTPSEndpoint)
    /// PagerDuty Events API v2: trigger and resolve with one dedup key per rule and subject.
    case pagerDuty(HTTPSEndpoint, routingKey: String)
    /// A message per recipient over SMTP (`smtp://` with STARTTLS when offered, or `smtps://`).
    case email(smtpURL: String, from: String, to: [String], caFile: String?)

    static func read(_ section: ConfigSection) throws(ConfigError) -> AlertDestination {
        let type = try section.requiredString("type", fix: "write one of: webhook, slack, pagerduty, email")
        guard hasClient else {
            throw section.error(
                "type",
                "asks for a `\(type)` destination, but this build has no HTTP or SMTP client (built without the PlatformBridge trait, which needs libcurl)",
                fix: "rebuild with the default traits (`swift build -c release`), or remove alerts.destinations")
        }
        let destination: AlertDestination
        switch type {
        case "webhook":
            let endpoint = try HTTPSEndpoint.read(section, urlKey: "url", purpose: "alerts")
            destination = .webhook(
                endpoint,
                secret: try section.requiredString(
                    "secret", secret: true,
                    fix: "set the shared secret the receiver checks X-Governance-Signature with; alerts are never sent unsigned"))
        case "slack":
            destination = .slack(try HTTPSEndpoint.read(section, urlKey: "url", purpose: "alerts"))
        case "pagerduty":
            destination = .pagerDuty(
                try HTTPSEndpoint.read(section, urlKey: "url", defaultURL: pagerDutyURL, purpose: "alerts"),
                routingKey: try section.requiredString("routing_key", secret: true, fix: "set the integration's routing key (Events API v2)"))
        case "email":
            let url = try section.requiredString("smtp_url", secret: true, fix: "write the mail server's URL, e.g. smtp://mail.example.com:587")
            guard url.hasPrefix("smtp://") || url.hasPrefix("smtps://") else {
                throw section.error("smtp_url", "does not start with smtp:// or smtps://", fix: "write e.g. smtp://mail.example.com:587")
            }
            let from = try section.requiredString("from", fix: "write the sender's address, e.g. alerts@example.com")
            let to = try section.stringList("to") ?? []
            guard !to.isEmpty, (to + [from]).allSatisfy({ $0.contains("@") && !$0.contains(where: { "<>\r\n ".contains($0) }) }) else {
                throw section.error("to", "must list one or more addresses (and `from` be one)", fix: "write e.g. to: [oncall@example.com]")
            }
            destination = .email(smtpURL: url, from: from, to: to, caFile: try section.string("ca_file"))
        default:
            throw section.error("type", "is `\(type)`", fix: "write one of: webhook, slack, pagerduty, email")
        }
        try section.finish()
        return destination
    }

    static let pagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

    /// False in a build without libcurl (the `PlatformBridge` trait off).
    static let hasClient: Bool = {
        #if PlatformBridge
            true
        #else
            false
        #endif
    }()
}

extension AlertEvaluator {
    /// `alerts:`: rules over its pipeline's database, evaluated by one collector per database.
    package static let extensionFactory = ExtensionFactory(section: "alerts") { section, plan throws(ConfigError) in
        guard let config = try AlertsConfig.read(section, pipelines: plan.pipelines, chained: plan.chained) else { return nil }
        return (
            config,
            { context in
                BuiltExtension(
                    service: AlertEvaluator(
                        config: config, database: try context.auditDatabase(of: config.pipeline), pipeline: context.pipelines[config.pipeline],
                        telemetry: context.telemetry, clock: context.clock, logger: context.logger))
            }
        )
    }
}
