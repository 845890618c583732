package import AuditStore
import Foundation
package import Logging
import OTLP
package import Pipeline
import ServiceLifecycle
import Synchronization

/// Turns staged traces into audit rows (`TraceRun`), one assembler per database: the collector
/// whose connection holds the assembler lock works, the others stand by and take over when it
/// goes away (as the checkpoint signer does). A trace is taken when its root has arrived and
/// nothing new came for its receiver's `trace_wait`, or after `trace_max_wait`. Its rows are
/// submitted to the pipeline that staged it, then its staged spans are deleted and its context
/// kept, in one transaction: a crash between the two makes the same rows again, which are
/// duplicates, so each span becomes at most one row.
package final class TraceAssembler: Service, Sendable {
    private let worker: PGWorker
    private let pipelines: [String: Pipeline]
    private let logger: Logger
    private let outcomes: CounterFamily
    /// Traces held back by a staged span that does not decode (reported once each).
    private let damaged = Mutex<Set<StagedSpans.TraceKey>>([])
    private let drops: DroppedSpansLog
    /// How often the elected assembler looks for ready traces (a span's delay past its `trace_wait`).
    static let pollSeconds = 0.1
    /// What the polls and the hourly expiry are timed by (the collector's clock).
    private let clock: any Clock<Duration>

    /// `pipelines`: every pipeline that stages spans in this database, by name.
    package init(database: AuditDatabase, pipelines: [String: Pipeline], telemetry: Telemetry, clock: any Clock<Duration>, logger: Logger) {
        worker = database.worker(applicationName: "governance-collector trace assembler")
        self.clock = clock
        self.pipelines = pipelines
        self.logger = logger
        outcomes = telemetry.counterFamily("governance_trace_spans_total", [], varying: "outcome")
        drops = DroppedSpansLog(logger: logger)
    }

    package func run() async throws {
        let names = pipelines.keys.sorted()
        var role = ""
        // Expired trace contexts are deleted at takeover and then hourly.
        var sinceExpiry: Stopwatch?
        await RepeatingStep.run(on: clock, logger: logger, failure: "traces.retrying", maxBackoff: 30) {
            let expire = sinceExpiry.map { $0.elapsed > .seconds(3600) } ?? true
            let ready = try await worker.run { connection -> [StagedSpans.TraceKey]? in
                guard try StagedSpans.holdsAssemblerLock(connection) else { return nil }
                if expire { try StagedSpans.expireContexts(on: connection) }
                return try StagedSpans.ready(pipelines: names, limit: Self.tracesPerRead, on: connection)
            }
            if expire, ready != nil { sinceExpiry = Stopwatch(on: clock) }
            let now = ready == nil ? "standby" : "assembling"
            if now != role { logger.info("traces.\(now)") }
            role = now
            guard let ready else { return 1 }
            try await assemble(ready.filter { key in !damaged.withLock { $0.contains(key) } })
            return ready.count == Self.tracesPerRead ? 0 : Self.pollSeconds
        }
    }

    /// Traces taken in one step: their spans are read in one query, their rows submitted
    /// together (chunks of 1000 committed concurrently, so the commit queue groups them) and
    /// their staging cleared in one transaction, so a backlog drains at batch speed, not a
    /// round trip per trace.
    static let tracesPerStep = 500
    /// Ready traces found by one query (which aggregates the whole staging table), taken a step at a time.
    static let tracesPerRead = 5000

    /// Traces made into rows, not yet committed.
    struct Step: Sendable {
        var events: [(pipeline: Pipeline, events: [AuditEvent])] = []
        var finished: [StagedSpans.Finished] = []
    }

    /// Ready traces a step at a time, each step's reading and mapping overlapping the previous
    /// step's commit (one core maps while PostgreSQL and the other commit).
    func assemble(_ keys: [StagedSpans.TraceKey]) async throws {
        var committing: Task<Void, any Error>?
        defer { committing?.cancel() }
        for start in stride(from: 0, to: keys.count, by: Self.tracesPerStep) {
            let step = try await prepare(Array(keys[start..<min(start + Self.tracesPerStep, keys.count)]))
            try await committing?.value
            committing = Task { try await self.commit(step) }
        }
        try await committing?.value
    }

    /// The traces' staged spans and earlier contexts in, their rows and contexts out.
    func prepare(_ keys: [StagedSpans.TraceKey]) async throws -> Step {
        let staged = try await worker.run { try StagedSpans.load(keys, on: $0) }
        var events: [String: [AuditEvent]] = [:]
        var step = Step()
        for key in keys {
            guard let trace = staged[key], pipelines[key.pipeline] != nil else { continue }
            let run: TraceRun
            do {
                run = try Self.run(trace, workflow: key.workflow)
            } catch {
                damaged.withLock { _ = $0.insert(key) }
                outcomes.increment("unreadable")
                logger.error("traces.unreadable_span", metadata: ["workflow": "\(key.workflow)", "error": "\(error)"])
                continue
            }
            events[key.pipeline, default: []] += run.events
            let dropped = run.dropped.values.reduce(0, +)
            outcomes.increment("dropped_unmarked", by: dropped)
            outcomes.increment("repeated", by: run.repeated)
            if dropped > 0 { drops.note(services: Set(run.dropped.keys), workflow: key.workflow, count: dropped) }
            var context: [UInt8] = []
            run.context.json.write(into: &context)
            step.finished.append(.init(key: key, ids: trace.ids, context: String(decoding: context, as: UTF8.self)))
        }
        step.events = events.flatMap { name, events in
            stride(from: 0, to: events.count, by: 1000).map { (pipelines[name]!, Array(events[$0..<min($0 + 1000, events.count)])) }
        }
        return step
    }

    /// The step's rows committed (chunks concurrently, so the commit queue groups them), then
    /// its staged spans deleted and contexts kept.
    func commit(_ step: Step) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (pipeline, chunk) in step.events {
                group.addTask {
                    let results = try await pipeline.submit(chunk)
                    self.outcomes.tally(results.lazy.map(\.label))
                    // The exporter was answered already: the log says what a processor refused (one line per chunk).
                    let refused = zip(chunk, results).compactMap { event, result -> (AuditEvent, EventRejection)? in
                        if case .rejected(let rejection) = result { return (event, rejection) } else { return nil }
                    }
                    if let (event, rejection) = refused.first {
                        self.logger.warning(
                            "traces.spans_rejected",
                            metadata: [
                                "spans": "\(refused.count)", "workflow": "\(event.workflow)", "first_event_id": "\(event.eventID.lowercasedString)",
                                "field": "\(rejection.field)", "reason": "\(rejection.message)",
                            ])
                    }
                }
            }
            try await group.waitForAll()
        }
        try await worker.run { [finished = step.finished] in try StagedSpans.finish(finished, on: $0) }
    }

    /// One trace's rows from its staged spans and its earlier context.
    static func run(_ trace: StagedSpans.Staged, workflow: String) throws -> TraceRun {
        var spans: [TraceRun.Staged] = []
        for (id, row) in zip(trace.ids, trace.spans) {
            // Written by a collector, so unreadable means damaged: reported, and kept for a person to look at.
            guard let span = try? OTLPProtobuf.decodeTraceRequest(row.span).first else { throw UnreadableStagedSpan(id: id) }
            spans.append(.init(span: span, keepUnmarked: row.keepUnmarked))
        }
        let prior = try trace.context.map { try TraceContext(json: JSONParser.parse(Array($0.utf8))) } ?? TraceContext()
        return TraceRun(spans, prior: prior, workflow: workflow)
    }
}

/// A staged span that does not decode: the trace waits, and the error names the row.
struct UnreadableStagedSpan: Error, CustomStringConvertible {
    var id: Int64
    var description: String {
        "governance_staged_spans row \(id) does not decode as an OTLP span; its trace waits until the row is repaired or removed"
    }
}
