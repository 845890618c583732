public import Config
import Foundation
public import Pipeline
import Synchronization

/// Settings of the `redaction` processor.
public struct RedactionConfig: Sendable {
    /// Extra patterns (`extra_patterns: [{name, regex}]`) and exact strings never redacted
    /// (`allowlist`). Default: none.
    public var redactor = Redactor.Config()
    /// `local: true` also redacts what PostgreSQL stores (stage `ingest`), for events the
    /// collector chains itself. Default false: only the copies sent to secondary exporters
    /// (platform bridge, OTLP) are redacted, and the local record stays exact.
    public var local = false

    public init() {}

    public static func read(_ section: ConfigSection) throws(ConfigError) -> RedactionConfig {
        var c = RedactionConfig()
        c.local = try section.bool("local", default: c.local)
        for item in try section.sections("extra_patterns") {
            let name = try item.requiredString("name", fix: "name the pattern, e.g. `name: employee_id`; it appears as [REDACTED:<name>]")
            guard
                name.utf8.allSatisfy({
                    ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D
                })
            else {
                throw item.error("name", "is `\(name)`", fix: "use letters, digits, `_`, `.` or `-`")
            }
            // Read verbatim (not trimmed): spaces can be part of a regular expression.
            guard let (regex, source, detail) = try item.text("regex"), !regex.isEmpty else {
                throw item.error("regex", "is required", fix: "write a regular expression (ICU syntax), e.g. `regex: 'EMP-[0-9]{6}'`")
            }
            item.record("regex", regex, source, detail)
            do {
                c.redactor.extraPatterns.append(try Redactor.Pattern(name: name, regex: regex))
            } catch {
                throw item.error(
                    "regex", "is not a valid regular expression (`\(regex)`)",
                    fix: "correct it (ICU syntax, as NSRegularExpression reads it)")
            }
            try item.finish()
        }
        c.redactor.allowlist = Set(try section.stringList("allowlist") ?? [])
        try section.finish()
        return c
    }
}

/// How many secrets the redaction processor replaced, per kind, since start-up. Thread-safe;
/// also `governance_processor_redactions_total{processor,kind}`.
public final class RedactionCounters: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    private let metric: CounterFamily

    public init(telemetry: Telemetry = .disabled, processor: String = "redaction") {
        metric = telemetry.counterFamily("governance_processor_redactions_total", [("processor", processor)], varying: "kind")
    }

    public func add(_ delta: [String: Int]) {
        guard !delta.isEmpty else { return }
        counts.withLock { counts in
            for (kind, n) in delta { counts[kind, default: 0] += n }
        }
        for (kind, n) in delta { metric.increment(kind, by: n) }
    }

    /// Counts per kind (`Redactor.Kind` names and extra pattern names).
    public var snapshot: [String: Int] { counts.withLock { $0 } }
    public var total: Int { counts.withLock { $0.values.reduce(0, +) } }
}

/// The `redaction` processor: replaces secrets in metadata string values and in `model` with
/// `[REDACTED:<kind>]`. Ids and hashes are never touched.
///
/// By default it runs at the `egress` stage: on the copies of committed events sent to secondary
/// exporters, never on the PostgreSQL record (which may carry a client HMAC over the original
/// metadata). With `local: true` it runs at `ingest`, so PostgreSQL stores the redacted form too,
/// but only for events without a client HMAC: the collector chains those after redaction, while
/// an event its client already chained keeps its metadata, or its HMAC would no longer verify.
public struct RedactionProcessor: EventProcessor {
    public let redactor: Redactor
    public let local: Bool
    public let counters: RedactionCounters

    public init(config: RedactionConfig = .init(), counters: RedactionCounters = RedactionCounters()) {
        redactor = Redactor(config.redactor)
        local = config.local
        self.counters = counters
    }

    public var stage: ProcessorStage { local ? .ingest : .egress }

    /// The pipeline's redaction: at the egress stage it redacts every copy itself; with `local`
    /// the exporters apply it to theirs (copies of events it left alone, a client's chained ones).
    public var resources: SharedResources {
        var shared = SharedResources()
        shared.provide(PipelineRedaction(redactor: redactor, appliedByEgress: !local))
        return shared
    }

    public func process(_ event: AuditEvent) throws(EventRejection) -> AuditEvent {
        if local, event.hmac != nil { return event }
        var counts: [String: Int] = [:]
        var event = event
        redactor.redact(&event, counts: &counts)
        counters.add(counts)
        return event
    }

    public static let factory = ProcessorFactory(type: "redaction") { section throws(ConfigError) in
        let config = try RedactionConfig.read(section)
        return { context in RedactionProcessor(config: config, counters: RedactionCounters(telemetry: context.telemetry, processor: context.id)) }
    }
}
