import Config
import Foundation
import Logging
import OTLP
public import Pipeline
import ServiceLifecycle

/// `otlp_http` and `otlp_grpc`: committed audit events as OTLP log records or spans to an
/// OpenTelemetry backend or collector, batched. A secondary: a bounded queue in front (oldest
/// dropped when full, counted), one sender (an actor on a thread of its own), so it never slows
/// the PostgreSQL path.
/// Retries only what OTLP calls retryable, honouring `Retry-After` / `RetryInfo`. Outgoing
/// metadata is redacted by default. The destination is the operator's own backend, usually on a
/// private network, so the bridge's SSRF guard does not apply; TLS verification is always on.
public final class OTLPExporter: SecondaryExporter, QueuedExporter, Sendable {
    public let config: OTLPExporterConfig
    public let counters: DeliveryCounters
    let logger: Logger
    let queue: ExportQueue
    /// The pipeline's redaction, applied to what leaves unless `redact: false`.
    let egress: Egress

    public init(config: OTLPExporterConfig, context: BuildContext) {
        self.config = config
        logger = context.logger
        egress = context.egress
        counters = DeliveryCounters(telemetry: context.telemetry, prefix: "governance_otlp_exporter", exporter: context.id)
        queue = ExportQueue(capacity: config.maxQueueSize, counters: counters, clock: context.clock)
    }

    public var queueSize: Int { queue.count }

    public func export(_ events: [AuditEvent]) {
        guard config.endpoint != nil else { return }
        queue.enqueue(
            events, counters: counters, logger: logger, warning: "otlp_exporter.queue_full",
            hint: "the OTLP backend is slower than ingest; raise max_queue_size")
    }

    public func run() async throws {
        guard let endpoint = config.endpoint else {
            try? await gracefulShutdown()
            return
        }
        let transport: any OTLPTransport
        do {
            transport = try makeTransport(endpoint)
        } catch {
            logger.error("otlp_exporter.failed", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
            throw error
        }
        logger.info(
            "otlp_exporter.started",
            metadata: [
                "endpoint": "\(endpoint)", "protocol": "\(config.transport)",
                "signal": "\(config.signal)", "encoding": "\(config.encoding)", "gzip": "\(config.gzip)",
            ])
        await queue.run(OTLPSender(exporter: self, transport: transport), shutdownTimeout: config.shutdownTimeout)
        transport.close()
    }

    private func makeTransport(_ endpoint: String) throws -> any OTLPTransport {
        switch config.transport {
        case .grpc:
            return try OTLPGRPCTransport(config: config, endpoint: endpoint)
        case .http:
            #if PlatformBridge
                return OTLPHTTPTransport(config: config, endpoint: endpoint, abort: { [queue] in queue.isPastDeadline })
            #else
                preconditionFailure("the factory refuses otlp_http in a build without the PlatformBridge trait")
            #endif
        }
    }
}

/// What one attempt to deliver a batch came to.
enum OTLPDelivery {
    case sent
    /// Retryable per OTLP; `after` is the server's `Retry-After` or `RetryInfo`, in seconds.
    case retryable(after: Double?, reason: String)
    /// Refused for good (any other answer): the batch is dropped.
    case rejected(status: String, detail: String)
}

/// How the sender reaches the backend: OTLP/HTTP through libcurl, or OTLP/gRPC.
protocol OTLPTransport: Sendable {
    /// Sends one encoded request, cut at `timeLeftMilliseconds`. It runs on the caller's executor
    /// (`nonisolated(nonsending)`): libcurl's blocking call stays on the sender's own thread,
    /// and gRPC's call is awaited where it is.
    nonisolated(nonsending) func deliver(_ body: [UInt8], timeLeftMilliseconds: Int?) async -> OTLPDelivery
    func close()
}

/// The exporter's sender: batches, encodes, retries. An actor on a thread of its own, so a
/// blocking libcurl post blocks only that thread; its waits are on the queue's clock.
actor OTLPSender: QueueSender {
    nonisolated let executor = BlockingExecutor(name: "otlp_exporter")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    let exporter: OTLPExporter
    let transport: any OTLPTransport
    let warnings = CoalescedLog()

    init(exporter: OTLPExporter, transport: any OTLPTransport) {
        self.exporter = exporter
        self.transport = transport
    }

    func run() async {
        let config = exporter.config, queue = exporter.queue
        while !queue.isPastDeadline {
            let batch = await queue.popBatch(max: config.maxBatchSize, timeout: 0.25, linger: config.batchTimeout)
            if batch.isEmpty {
                if queue.isFlushing { break }
                continue
            }
            await send(batch)
        }
        let unsent = queue.drain()
        exporter.logger.info("otlp_exporter.stopped", metadata: ["sent": "\(exporter.counters[.sent])", "unsent_at_shutdown": "\(unsent)"])
    }

    func encode(_ events: [AuditEvent]) -> [UInt8] {
        let config = exporter.config
        let resource = [OTLPAttribute("service.name", .string("governance-collector"))]
        let redacted = config.redact ? events.map(exporter.egress.redact) : events
        var body: [UInt8]
        switch config.signal {
        case .logs:
            let records = redacted.map { e -> OTLPLogRecord in
                var r = OTLPMapping.record(from: e)
                r.resource = resource
                return r
            }
            body = config.encoding == .json ? OTLPJSON.encodeRequest(records) : OTLPProtobuf.encodeRequest(records)
        case .traces:
            let spans = redacted.map { e -> OTLPSpan in
                var s = OTLPSpanMapping.span(from: e)
                s.resource = resource
                return s
            }
            body = config.encoding == .json ? OTLPJSON.encodeTraceRequest(spans) : OTLPProtobuf.encodeTraceRequest(spans)
        case .metrics:
            preconditionFailure("an audit event is exported as a log record or a span; OTLPExporterConfig.read sets no other signal")
        }
        // gRPC compresses per message itself; OTLP/HTTP compresses the body.
        if config.gzip, config.transport == .http { body = Gzip.compress(body) }
        return body
    }

    func send(_ events: [AuditEvent]) async {
        let config = exporter.config, counters = exporter.counters
        let body = encode(events)
        var retries = RetrySchedule(maxBackoff: config.maxBackoff, budget: config.retryBudget, clock: exporter.queue.clock)
        while true {
            let timeLeft = exporter.queue.flushTimeLeft.map { Int(max(0.001, $0) * 1000) }
            var retryAfter: Double?
            switch await transport.deliver(body, timeLeftMilliseconds: timeLeft) {
            case .sent:
                counters.add(.sent, events.count)
                return
            case .retryable(let after, let reason):
                retryAfter = after
                warn("transport", ["reason": "\(reason)"], level: .debug)
            case .rejected(let status, let detail):
                counters.add(.dropped4xx, events.count)
                warn("rejected", ["status": "\(status)", "records": "\(events.count)", "body": "\(detail)"])
                return
            }
            switch await retries.wait(retryAfter: retryAfter, queue: exporter.queue, counters: counters) {
            case .retry: continue
            case .interrupted: return
            case .outOfBudget, .noTimeBeforeShutdown:
                counters.add(.dropped5xx, events.count)
                warn("gave_up", ["records": "\(events.count)", "retry_budget": "\(config.retryBudget)"])
                return
            }
        }
    }

    private func warn(_ key: String, _ metadata: Logger.Metadata, level: Logger.Level = .warning) {
        guard let suppressed = warnings.shouldLog(key) else { return }
        var metadata = metadata
        metadata["similar_warnings_suppressed"] = "\(suppressed)"
        exporter.logger.log(level: level, "otlp_exporter.\(key)", metadata: metadata)
    }
}
