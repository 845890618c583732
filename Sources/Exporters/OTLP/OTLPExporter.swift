#if PlatformBridge
import Config
import CurlHTTP
import Foundation
import Logging
import OTLP
import Pipeline
import ServiceLifecycle

/// `otlp_http`: committed audit events as OTLP log records to an OpenTelemetry backend or
/// collector (`POST …/v1/logs`), batched, protobuf or JSON, gzip. A secondary: a bounded queue
/// in front (oldest dropped when full, counted), one sending thread, so it never slows the
/// PostgreSQL path. Retries only what OTLP calls retryable (429, 502, 503, 504, connection
/// errors), honouring `Retry-After`. Outgoing metadata is redacted by default. The destination
/// is the operator's own backend, usually on a private network, so the bridge's SSRF guard does
/// not apply; TLS verification is always on, proxies are ignored, redirects never followed.
public final class OTLPExporter: SecondaryExporter, QueuedExporter, Sendable {
    public let config: OTLPExporterConfig
    public let counters: DeliveryCounters
    let logger: Logger
    let queue: ExportQueue

    public init(config: OTLPExporterConfig, context: BuildContext) {
        self.config = config
        logger = context.logger
        counters = DeliveryCounters(telemetry: context.telemetry, prefix: "governance_otlp_exporter", exporter: context.id)
        queue = ExportQueue(capacity: config.maxQueueSize, counters: counters)
    }

    public var queueSize: Int { queue.count }

    public func export(_ events: [AuditEvent]) {
        guard config.endpoint != nil else { return }
        queue.enqueue(events, counters: counters, logger: logger, warning: "otlp_exporter.queue_full",
                      hint: "the OTLP backend is slower than ingest; raise max_queue_size")
    }

    public func run() async throws {
        guard let endpoint = config.endpoint else {
            try? await gracefulShutdown()
            return
        }
        logger.info("otlp_exporter.started", metadata: ["endpoint": "\(endpoint)", "encoding": "\(config.encoding)", "gzip": "\(config.gzip)"])
        await queue.runSender(named: "otlp_exporter", shutdownTimeout: config.shutdownTimeout) { [self] in
            OTLPSender(exporter: self, endpoint: endpoint).run()
        }
    }
}

/// The exporter's sending thread.
final class OTLPSender {
    let exporter: OTLPExporter
    let poster: GuardedPoster
    let redactor = Redactor()
    let warnings = CoalescedLog()

    init(exporter: OTLPExporter, endpoint: String) {
        self.exporter = exporter
        let config = exporter.config
        var headers = ["Content-Type: \(config.encoding.contentType)", "User-Agent: governance-collector"]
        if config.gzip { headers.append("Content-Encoding: gzip") }
        headers += config.headers.map { "\($0.0): \($0.1)" }
        var options = GuardedPoster.Options(url: endpoint, headers: headers, caFile: config.caFile, allowAddress: { _ in true })
        options.timeoutMilliseconds = Int(config.timeout * 1000)
        options.shouldAbort = { [queue = exporter.queue] in queue.isPastDeadline }
        poster = GuardedPoster(options)
    }

    func run() {
        let config = exporter.config, queue = exporter.queue
        while !queue.isPastDeadline {
            let batch = queue.popBatch(max: config.maxBatchSize, timeout: 0.25, linger: config.batchTimeout)
            if batch.isEmpty {
                if queue.isFlushing { break }
                continue
            }
            send(batch)
        }
        let unsent = queue.drain()
        exporter.logger.info("otlp_exporter.stopped", metadata: ["sent": "\(exporter.counters[.sent])", "unsent_at_shutdown": "\(unsent)"])
    }

    func send(_ events: [AuditEvent]) {
        let config = exporter.config, counters = exporter.counters
        let records = events.map { event -> OTLPLogRecord in
            var event = event
            if config.redact {
                var counts: [String: Int] = [:]
                redactor.redact(&event, counts: &counts)
            }
            var record = OTLPMapping.record(from: event)
            record.resource = [OTLPAttribute("service.name", .string("governance-collector"))]
            return record
        }
        var body = config.encoding == .json ? OTLPJSON.encodeRequest(records) : OTLPProtobuf.encodeRequest(records)
        if config.gzip { body = Gzip.compress(body) }
        var retries = RetrySchedule(maxBackoff: config.maxBackoff, budget: config.retryBudget)
        while true {
            let timeLeft = exporter.queue.flushTimeLeft.map { Int(max(0.001, $0) * 1000) }
            var retryAfter: Double?
            switch poster.post(body, timeoutMilliseconds: timeLeft) {
            case .success(let response) where (200..<300).contains(response.status):
                counters.add(.sent, events.count)
                return
            case .success(let response) where [429, 502, 503, 504].contains(response.status):
                retryAfter = response.headers["retry-after"].flatMap { BridgeVerdict.retryAfterSeconds($0, now: Date()) }
            case .success(let response):
                counters.add(.dropped4xx, events.count)
                warn("rejected", ["status": "\(response.status)", "records": "\(events.count)",
                                  "body": "\(BridgeVerdict.preview(response.body, scrubbing: config.headers.map(\.1)))"])
                return
            case .failure(let error):
                warn("transport", ["error": "\(error)"], level: .debug)
            }
            switch retries.wait(retryAfter: retryAfter, queue: exporter.queue, counters: counters) {
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
#endif
