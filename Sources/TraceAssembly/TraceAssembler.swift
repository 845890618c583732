public import AuditStore
import Foundation
public import Logging
import OTLP
public import Pipeline
public import ServiceLifecycle
import Synchronization

/// Turns staged traces into audit rows (`TraceRun`), one assembler per database: the collector
/// whose connection holds the assembler lock works, the others stand by and take over when it
/// goes away (as the checkpoint signer does). A trace is taken when its root has arrived and
/// nothing new came for its receiver's `trace_wait`, or after `trace_max_wait`. Its rows are
/// submitted to the pipeline that staged it, then its staged spans are deleted and its context
/// kept, in one transaction: a crash between the two makes the same rows again, which are
/// duplicates, so each span becomes at most one row.
public final class TraceAssembler: Service, Sendable {
    private let worker: PGWorker
    private let pipelines: [String: Pipeline]
    private let logger: Logger
    private let outcomes: CounterFamily
    /// Traces held back by a staged span that does not decode (reported once each).
    private let damaged = Mutex<Set<StagedSpans.TraceKey>>([])
    private let drops: DroppedSpansLog
    private let pollInterval: Duration

    /// `pipelines`: every pipeline that stages spans in this database, by name.
    public init(database: AuditDatabase, pipelines: [String: Pipeline], telemetry: Telemetry, logger: Logger,
                pollInterval: Duration = .milliseconds(100)) {
        worker = database.worker(applicationName: "governance-collector trace assembler")
        self.pipelines = pipelines
        self.logger = logger
        self.pollInterval = pollInterval
        outcomes = telemetry.counterFamily("governance_trace_spans_total", [], varying: "outcome")
        drops = DroppedSpansLog(logger: logger)
    }

    public func run() async throws {
        let names = pipelines.keys.sorted()
        var backoff = 1.0
        var role = ""
        var lastExpiry = ContinuousClock.now - .seconds(3600)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var pause = pollInterval
            do {
                let expire = ContinuousClock.now - lastExpiry > .seconds(3600)
                let ready = try await worker.run { connection -> [StagedSpans.TraceKey]? in
                    guard try StagedSpans.holdsAssemblerLock(connection) else { return nil }
                    if expire { try StagedSpans.expireContexts(on: connection) }
                    return try StagedSpans.ready(pipelines: names, limit: Self.tracesPerStep, on: connection)
                }
                if expire, ready != nil { lastExpiry = .now }
                let now = ready == nil ? "standby" : "assembling"
                if now != role { logger.info("traces.\(now)") }
                role = now
                if let ready {
                    try await assemble(ready.filter { key in !damaged.withLock { $0.contains(key) } })
                    if ready.count == Self.tracesPerStep { pause = .zero }
                } else {
                    pause = .seconds(1)
                }
                backoff = 1
            } catch {
                logger.warning("traces.retrying", metadata: ["error": "\(error)", "retry_in_seconds": "\(backoff)"])
                pause = .seconds(backoff)
                backoff = min(backoff * 2, 30)
            }
            if pause > .zero {
                let wait = pause
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            }
        }
    }

    /// Traces taken in one step: their spans are read in one query, their rows submitted
    /// together (one group commit per pipeline and chunk) and their staging cleared in one
    /// transaction, so a backlog drains at batch speed, not a round trip per trace.
    static let tracesPerStep = 500

    /// Traces' staged spans and earlier contexts in, rows committed, staging cleared.
    func assemble(_ keys: [StagedSpans.TraceKey]) async throws {
        guard !keys.isEmpty else { return }
        let staged = try await worker.run { try StagedSpans.load(keys, on: $0) }
        var events: [String: [AuditEvent]] = [:]
        var finished: [StagedSpans.Finished] = []
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
            finished.append(.init(key: key, ids: trace.ids, context: String(decoding: context, as: UTF8.self)))
        }
        for (name, events) in events {
            for start in stride(from: 0, to: events.count, by: 1000) {
                let chunk = Array(events[start..<min(start + 1000, events.count)])
                let results = try await pipelines[name]!.submit(chunk)
                outcomes.tally(results.lazy.map(\.label))
                for case (let event, .rejected(let rejection)) in zip(chunk, results) {
                    logger.warning("traces.span_rejected", metadata: ["workflow": "\(event.workflow)", "event_id": "\(event.eventID.lowercasedString)",
                                                                     "field": "\(rejection.field)", "reason": "\(rejection.message)"])
                }
            }
        }
        try await worker.run { [finished] in try StagedSpans.finish(finished, on: $0) }
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
    var description: String { "governance_staged_spans row \(id) does not decode as an OTLP span; its trace waits until the row is repaired or removed" }
}
