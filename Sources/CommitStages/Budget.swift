public import Config
import CoreMetrics
import Crypto
public import Foundation
public import Logging
public import Pipeline

/// Settings of the `budget` processor: per-agent daily USD caps (the SDK's
/// `BudgetPolicy.per_agent_usd_daily` and `alert_threshold_pct`).
public struct BudgetConfig: Sendable, Equatable {
    /// `cost_field`: the metadata key holding an event's cost in USD (a JSON number, or a string
    /// of one). Default `cost_usd`.
    public var costField = "cost_usd"
    /// `threshold_percent`: alert when an agent's spend for the UTC day reaches this share of
    /// its cap. Default 80, as the SDK.
    public var thresholdPercent = 80
    /// `daily_usd`: caps by agent id; the key `"*"` caps every agent not listed.
    public var dailyUSD: [String: Decimal] = [:]
    /// `prices`: USD per million tokens by model (`input`, `output`, and optionally `cache_read`
    /// and `cache_write` for input tokens read from or written to the provider's prompt cache);
    /// the key `"*"` prices every model not listed. An event without `cost_field` is costed from
    /// its token usage and model.
    public var prices: [String: TokenPrice] = [:]

    public struct TokenPrice: Sendable, Equatable {
        public var inputPerMillion: Decimal
        public var outputPerMillion: Decimal
        /// Nil: cached input tokens cost as input.
        public var cacheReadPerMillion: Decimal?
        public var cacheWritePerMillion: Decimal?
    }

    public init() {}

    public func cap(for agent: String) -> Decimal? { dailyUSD[agent] ?? dailyUSD["*"] }

    /// The price of a call: the request model's, else the response model's, else that model's
    /// without its release date (`gpt-4o-2024-08-06` → `gpt-4o`, `claude-3-5-sonnet-20241022` →
    /// `claude-3-5-sonnet`), else the longest key one of them starts with (`gpt-4o-mini` for
    /// `gpt-4o-mini-audio`), else `"*"`. A provider answers with a dated model, so matching
    /// only the response model would price every call at `"*"`.
    public func price(request: String?, response: String?) -> TokenPrice? {
        priceKey(request: request, response: response).flatMap { prices[$0] }
    }

    /// The `prices` key that prices a call (see `price(request:response:)`), or nil.
    public func priceKey(request: String?, response: String?) -> String? {
        let models = [request, response, response.flatMap(Self.withoutReleaseDate)].compactMap { $0 }.filter { !$0.isEmpty }
        if let exact = models.first(where: { prices[$0] != nil }) { return exact }
        let prefixes = prices.keys.filter { key in key != "*" && models.contains { $0.hasPrefix(key) } }
        if let longest = prefixes.max(by: { ($0.count, $1) < ($1.count, $0) }) { return longest }
        return prices["*"] != nil ? "*" : nil
    }

    /// A model name without a trailing release date (`-YYYY-MM-DD` or `-YYYYMMDD`), or nil when it has none.
    static func withoutReleaseDate(_ model: String) -> String? {
        let digits = { (s: Substring) in !s.isEmpty && s.allSatisfy(\.isASCII) && s.allSatisfy(\.isNumber) }
        let parts = model.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count > 3, parts.suffix(3).map(\.count) == [4, 2, 2], parts.suffix(3).allSatisfy(digits) {
            return parts.dropLast(3).joined(separator: "-")
        }
        if parts.count > 1, let last = parts.last, last.count == 8, digits(last) {
            return parts.dropLast().joined(separator: "-")
        }
        return nil
    }

    public static func read(_ section: ConfigSection) throws(ConfigError) -> BudgetConfig {
        var c = BudgetConfig()
        c.costField = try section.string("cost_field", default: c.costField)!
        c.thresholdPercent = try section.int("threshold_percent", default: c.thresholdPercent, range: 1...100)
        let caps = try section.section("daily_usd")
        for agent in caps.keys {
            let value = try caps.double(agent, default: 0, range: 0.000001...1e12)
            c.dailyUSD[agent] = Decimal(string: "\(value)") ?? Decimal(value)
        }
        try caps.finish()
        let prices = try section.section("prices")
        for model in prices.keys {
            let price = try prices.section(model)
            func perMillion(_ key: String) throws(ConfigError) -> Decimal {
                let value = try price.double(key, default: 0, range: 0...1e9)
                return Decimal(string: "\(value)") ?? Decimal(value)
            }
            // Absent cache prices are not 0 (free) but unset: cached tokens then cost as input.
            func cachePerMillion(_ key: String) throws(ConfigError) -> Decimal? {
                try price.text(key) == nil ? nil : try perMillion(key)
            }
            c.prices[model] = TokenPrice(
                inputPerMillion: try perMillion("input"), outputPerMillion: try perMillion("output"),
                cacheReadPerMillion: try cachePerMillion("cache_read"), cacheWritePerMillion: try cachePerMillion("cache_write"))
            try price.finish()
        }
        try prices.finish()
        if c.dailyUSD.isEmpty {
            throw section.error(
                "daily_usd", "sets no cap", fix: "map agent ids to daily USD caps, e.g. `daily_usd: { billing-agent: 50, \"*\": 200 }`")
        }
        try section.finish()
        return c
    }
}

/// `budget`: adds up each event's cost per agent and UTC day (of the event's `created_at`) in
/// PostgreSQL, inside the commit, and when an agent's spend reaches the alert threshold of its
/// cap, records the crossing exactly once: a row in `governance_budget_alerts` (unique per agent,
/// cap and day; the `budget_webhook` exporter delivers it) and a `budget.threshold_crossed`
/// audit event in the same session, right after the event that crossed it. Spend, alert and
/// event commit together with the events, so restarts and concurrent collectors can neither
/// repeat nor lose an alert. It must run before `seq` and `chain`, which number and chain the
/// alert event like any other.
public struct BudgetStage: CommitStage {
    public static let alertKind = "budget.threshold_crossed"
    public static let capID = "per_agent_usd_daily"
    /// Costs are JSON numbers: a '.' decimal point, whatever the host's locale. Made once, not per event.
    static let posix = Locale(identifier: "en_US_POSIX")
    public let config: BudgetConfig
    let telemetry: BudgetMetrics
    let logger: Logger

    public init(config: BudgetConfig, telemetry: Telemetry = .disabled, id: String = "budget", logger: Logger = Logger(label: "budget")) {
        self.config = config
        self.telemetry = BudgetMetrics(telemetry, processor: id)
        self.logger = logger
    }

    /// Token counts as OpenTelemetry's GenAI conventions and OpenInference name them, and as
    /// the reference SDK's `llm.result` events carry them in `token_usage` (OpenAI's names,
    /// or Anthropic's).
    static let inputTokenKeys = ["gen_ai.usage.input_tokens", "llm.token_count.prompt"]
    static let outputTokenKeys = ["gen_ai.usage.output_tokens", "llm.token_count.completion"]
    static let sdkInputTokenKeys = ["prompt_tokens", "input_tokens"]
    static let sdkOutputTokenKeys = ["completion_tokens", "output_tokens"]
    /// Langfuse's usage, a JSON object in a string attribute.
    static let langfuseUsageKey = "langfuse.observation.usage_details"
    static let langfuseInputTokenKeys = ["input", "prompt_tokens", "input_tokens"]
    static let langfuseOutputTokenKeys = ["output", "completion_tokens", "output_tokens"]
    /// Input tokens read from and written to the prompt cache, counted within the input tokens:
    /// GenAI's (2026 names, and Traceloop's older ones) and OpenInference's.
    static let cacheReadTokenKeys = [
        "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ]
    static let cacheWriteTokenKeys = [
        "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ]
    /// Anthropic's, in the SDK's `token_usage`: not counted within its `input_tokens`.
    static let anthropicCacheReadKey = "cache_read_input_tokens"
    static let anthropicCacheWriteKey = "cache_creation_input_tokens"

    /// The event's cost, or nil when it has none: `cost_field`, else its token usage at the
    /// model's price. A cost that is not a non-negative number is ignored and counted: a typo in
    /// a cost must not cost the audit record.
    func cost(of event: AuditEvent) -> Decimal? {
        guard let value = event.metadata[config.costField] else { return tokenCost(of: event) }
        let text: String?
        switch value {
        case .number(let n): text = n
        case .string(let s): text = s
        default: text = nil
        }
        guard let text, let cost = Decimal(string: text, locale: Self.posix), cost >= 0, cost.isFinite else {
            telemetry.invalidCosts.increment()
            logger.debug("budget.invalid_cost", metadata: ["event_id": "\(event.eventID.lowercasedString)", "field": "\(config.costField)"])
            return nil
        }
        return cost
    }

    /// Input and output tokens at the model's price per million; nil without a price or usage.
    func tokenCost(of event: AuditEvent) -> Decimal? {
        if case .priced(let cost, _, _, _) = costing(of: event) { return cost }
        return nil
    }

    /// How a model call is costed from its tokens, or why it is not.
    enum Costing: Equatable {
        /// `cacheRead` / `cacheWrite`: the input tokens priced at the cache prices (0 when none is set).
        case priced(Decimal, priceKey: String, cacheRead: Decimal = 0, cacheWrite: Decimal = 0)
        case usageMissing
        case noPrice
    }

    /// The request model is the span's `gen_ai.request.model`; the event's model is the
    /// response's (or the only one known).
    func costing(of event: AuditEvent) -> Costing {
        guard let key = config.priceKey(request: event.metadata["gen_ai.request.model"]?.stringValue, response: event.model),
            let price = config.prices[key]
        else { return .noPrice }
        func tokens(_ keys: [String], in object: JSONValue?) -> Decimal? {
            for key in keys {
                if case .number(let text)? = object?[key], let n = Int64(text), n >= 0 { return Decimal(n) }
            }
            return nil
        }
        let usage = event.metadata["token_usage"]
        let langfuse = event.metadata[Self.langfuseUsageKey]?.stringValue.flatMap { try? JSONParser.parse($0) }
        let reportedInput =
            tokens(Self.inputTokenKeys, in: event.metadata) ?? tokens(Self.sdkInputTokenKeys, in: usage)
            ?? tokens(Self.langfuseInputTokenKeys, in: langfuse)
        let output =
            tokens(Self.outputTokenKeys, in: event.metadata) ?? tokens(Self.sdkOutputTokenKeys, in: usage)
            ?? tokens(Self.langfuseOutputTokenKeys, in: langfuse)
        guard reportedInput != nil || output != nil else { return .usageMissing }
        var input = reportedInput ?? 0
        // Cached input tokens, within `input`; OpenAI's are in `prompt_tokens_details.cached_tokens`.
        var cacheRead =
            tokens(Self.cacheReadTokenKeys, in: event.metadata) ?? tokens(["cached_tokens"], in: usage?["prompt_tokens_details"])
            ?? tokens(["cached_tokens"], in: langfuse?["prompt_tokens_details"]) ?? 0
        var cacheWrite = tokens(Self.cacheWriteTokenKeys, in: event.metadata) ?? 0
        if let read = tokens([Self.anthropicCacheReadKey], in: usage) { (cacheRead, input) = (read, input + read) }
        if let write = tokens([Self.anthropicCacheWriteKey], in: usage) { (cacheWrite, input) = (write, input + write) }
        // A cache count larger than the input is not believed: all of it is input then.
        let readPrice = cacheRead > 0 && cacheRead + cacheWrite <= input ? price.cacheReadPerMillion : nil
        let writePrice = cacheWrite > 0 && cacheRead + cacheWrite <= input ? price.cacheWritePerMillion : nil
        let atRead = readPrice == nil ? 0 : cacheRead, atWrite = writePrice == nil ? 0 : cacheWrite
        let perMillion =
            (input - atRead - atWrite) * price.inputPerMillion + atRead * (readPrice ?? 0) + atWrite * (writePrice ?? 0)
            + (output ?? 0) * price.outputPerMillion
        return .priced(perMillion / 1_000_000, priceKey: key, cacheRead: atRead, cacheWrite: atWrite)
    }

    /// Writes what a model call cost into its row, so the row says what the budget counted:
    /// `cost_field` (the USD) and `cost_basis` (`{"price": key}`, with `"fallback": true` for
    /// `"*"`), or only `cost_basis` saying why not (`{"usage": "missing"}`, `{"price": "none"}`).
    /// Only for rows the collector chains: a client's HMAC covers its metadata as sent. A row
    /// that already has a cost, or is not a model call (no model), is left as it is.
    func recordCost(in event: inout AuditEvent) {
        guard event.hmac == nil, event.model != nil, event.metadata[config.costField] == nil,
            case .object(var members) = event.metadata, !members.contains(where: { $0.key == Self.costBasisKey })
        else { return }
        switch costing(of: event) {
        case .priced(let cost, let key, let cacheRead, let cacheWrite):
            members.append(.init(config.costField, .number("\(cost)")))
            var basis: [JSONValue.Member] = [.init("price", .string(key))]
            if key == "*" { basis.append(.init("fallback", .bool(true))) }
            if cacheRead > 0 { basis.append(.init("cache_read_tokens", .number("\(cacheRead)"))) }
            if cacheWrite > 0 { basis.append(.init("cache_write_tokens", .number("\(cacheWrite)"))) }
            members.append(.init(Self.costBasisKey, .object(basis)))
        case .usageMissing:
            members.append(.init(Self.costBasisKey, .object([.init("usage", .string("missing"))])))
        case .noPrice:
            members.append(.init(Self.costBasisKey, .object([.init("price", .string("none"))])))
        }
        event.metadata = .object(members)
    }

    static let costBasisKey = "cost_basis"

    public func apply(_ events: inout [AuditEvent], in transaction: any CommitTransaction) throws {
        struct Key: Hashable, Comparable {
            var agent: String, day: String
            static func < (a: Key, b: Key) -> Bool { (a.agent, a.day) < (b.agent, b.day) }
        }
        var costs: [(index: Int, key: Key, cost: Decimal)] = []
        var totals: [Key: Decimal] = [:]
        for index in events.indices { recordCost(in: &events[index]) }
        for (index, event) in events.enumerated() {
            guard config.cap(for: event.agentID) != nil, let cost = cost(of: event), cost > 0 else { continue }
            let key = Key(agent: event.agentID, day: String(event.createdAt.pythonISOFormat.prefix(10)))
            costs.append((index, key, cost))
            totals[key, default: 0] += cost
        }
        guard !totals.isEmpty else { return }
        // Sorted, so concurrent collectors lock spend rows in one order.
        let keys = totals.keys.sorted()
        let after = try transaction.addSpend(keys.map { BudgetSpend(agentID: $0.agent, day: $0.day, usd: totals[$0]!) }, alertCap: Self.capID)
        var usedBefore: [Key: Decimal] = [:]
        // Agents already alerted today need no more checks.
        for total in after where !total.alerted {
            let key = Key(agent: total.spend.agentID, day: total.spend.day)
            usedBefore[key] = total.spend.usd - (totals[key] ?? 0)
        }
        // Walk the batch in order: the event that takes its agent past the threshold triggers the alert.
        var running = usedBefore
        var inserts: [(after: Int, event: AuditEvent)] = []
        for (index, key, cost) in costs {
            guard let before = running[key], let cap = config.cap(for: key.agent) else { continue }
            let after = before + cost
            running[key] = after
            guard after >= cap * Decimal(config.thresholdPercent) / 100 else { continue }
            // One attempt per agent and day in a transaction; the unique key settles races.
            running[key] = nil
            let alert = BudgetAlert(
                agentID: key.agent, capValue: cap, usedValue: after, thresholdPercent: config.thresholdPercent,
                periodBucket: key.day, crossedBy: events[index])
            // The alert event exists already when an operator deleted the alert row to send it again.
            let record = BudgetAlertRecord(agentID: key.agent, capID: Self.capID, day: key.day, payload: alert.payloadJSON, eventID: alert.eventID)
            guard let eventIsNew = try transaction.recordAlert(record) else { continue }
            telemetry.alerts.increment()
            logger.warning(
                "budget.threshold_crossed",
                metadata: [
                    "agent_id": "\(key.agent)", "period_bucket": "\(key.day)", "cap_usd": "\(cap)", "used_usd": "\(after)",
                    "threshold_percent": "\(config.thresholdPercent)",
                ])
            if eventIsNew { inserts.append((index, alert.auditEvent)) }
        }
        for insert in inserts.reversed() { events.insert(insert.event, at: insert.after + 1) }
    }

    /// The alert event it adds must be numbered and chained like any other.
    public static let placement = CommitStagePlacement(
        before: ["seq", "chain"], requires: ["chain"],
        reason: "the alert event budget adds must be numbered and chained")

    public static let factory = CommitStageFactory(type: "budget", placement: placement) { section throws(ConfigError) in
        let config = try BudgetConfig.read(section)
        return { context in BudgetStage(config: config, telemetry: context.telemetry, id: context.id, logger: context.logger) }
    }
}

/// One threshold crossing: the SDK's webhook payload (`governance.cost.budget_alert/v1`, with its
/// nonce and timestamp fixed when the crossing is recorded, so a retried delivery is the same
/// message) and the audit event that records it.
struct BudgetAlert {
    let agentID: String
    let capValue: Decimal
    let usedValue: Decimal
    let thresholdPercent: Int
    let periodBucket: String
    let crossedBy: AuditEvent
    let createdAt = Timestamp.now()
    let nonce: String = {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }()

    /// Derived from agent, cap and day: the one alert event of that crossing.
    var eventID: UUID {
        let digest = Array(SHA256.hash(data: Data("budget.threshold_crossed|\(agentID)|\(BudgetStage.capID)|\(periodBucket)".utf8)))
        var b = Array(digest.prefix(16))
        b[6] = (b[6] & 0x0F) | 0x50
        b[8] = (b[8] & 0x3F) | 0x80
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }

    var usedPercent: Double {
        guard capValue > 0 else { return 0 }
        let percent = NSDecimalNumber(decimal: usedValue * 100 / capValue).doubleValue
        return (percent * 100).rounded() / 100
    }

    /// The webhook payload without its signature, in the SDK's canonical form (sorted keys,
    /// no spaces, ASCII only, floats as Python prints them): the exact bytes that are signed.
    var payloadJSON: String {
        func float(_ d: Decimal) -> JSONValue { .number(JSONValue.pythonFloat(NSDecimalNumber(decimal: d).doubleValue)) }
        return JSONValue.object([
            .init("schema", .string("governance.cost.budget_alert/v1")),
            .init("event", .string(BudgetStage.alertKind)),
            .init("agent_id", .string(agentID)),
            .init("cap_id", .string(BudgetStage.capID)),
            .init("cap_type", .string(BudgetStage.capID)),
            .init("cap_value", float(capValue)),
            .init("used_value", float(usedValue)),
            .init("used_pct", .number(JSONValue.pythonFloat(usedPercent))),
            .init("threshold_pct", .number(String(thresholdPercent))),
            .init("period_bucket", .string(periodBucket)),
            .init("nonce", .string(nonce)),
            .init("timestamp", .string(createdAt.pythonISOFormat)),
        ]).serialized(.pythonCanonical)
    }

    var auditEvent: AuditEvent {
        AuditEvent(
            eventID: eventID, sessionID: crossedBy.sessionID, agentID: agentID, kind: BudgetStage.alertKind,
            parentEventID: crossedBy.eventID,
            // As Python prints the numbers, so the HMAC the chain computes verifies in the SDK.
            metadata: JSONValue.object([
                .init("cap_id", .string(BudgetStage.capID)),
                .init("cap_usd", .number("\(capValue)")),
                .init("used_usd", .number("\(usedValue)")),
                .init("threshold_percent", .number(String(thresholdPercent))),
                .init("period_bucket", .string(periodBucket)),
            ]).pythonNormalized(),
            createdAt: createdAt, workflow: crossedBy.workflow, sdkVersion: "governance-collector")
    }
}

struct BudgetMetrics: Sendable {
    /// `governance_budget_alerts_total`: threshold crossings recorded by this collector.
    let alerts: Counter
    /// `governance_budget_invalid_costs_total`: cost fields that were not a non-negative number.
    let invalidCosts: Counter

    init(_ telemetry: Telemetry, processor: String) {
        alerts = telemetry.counter("governance_budget_alerts_total", [("processor", processor)])
        invalidCosts = telemetry.counter("governance_budget_invalid_costs_total", [("processor", processor)])
    }
}
