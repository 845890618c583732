import OTLP
import Pipeline

/// What every OTLP transport does with an authenticated, fully read export request: decode it,
/// map each log record to an audit event and submit them; stage each span for its trace's
/// assembly (the reference SDK's audit spans, already complete events, are submitted at once);
/// keep what the GenAI metrics add (others are counted and dropped); and say what was refused.
/// HTTP and gRPC differ only in how they read the request and spell the answer.
struct OTLPExport: Sendable {
    let pipeline: Pipeline
    let metrics: ReceiverMetrics
    let traces: TraceSettings
    /// Where spans wait for their trace: the pipeline's PostgreSQL. Without one (a pipeline whose
    /// store is not PostgreSQL) each span is mapped alone as it arrives.
    let staging: (any SpanStaging)?
    /// Where GenAI metric points are kept: the pipeline's PostgreSQL. Without one they are
    /// counted and dropped like other metrics.
    let genAIMetrics: (any GenAIMetricRecording)?
    let drops: DroppedSpansLog

    /// The export was taken: `rejected` items refused, with the reasons (or a warning) in `message`.
    struct Accepted: Equatable {
        var rejected = 0
        var message = ""
    }

    /// The most log records or spans one request may carry. Each becomes an event of one
    /// group commit, whose sessions are locked until it commits; OpenTelemetry's batch
    /// processors export 512 at a time. A larger request is refused whole, not retried.
    static let maxItemsPerRequest = 10_000

    enum Failure: Error {
        /// The request cannot be decoded at all (HTTP 400, gRPC INVALID_ARGUMENT).
        case invalid(String)
        /// More records or spans than `maxItemsPerRequest` (HTTP 413, gRPC RESOURCE_EXHAUSTED
        /// without RetryInfo: the OTLP specification's "do not retry as is").
        case tooLarge(String)
        /// Nothing was committed; the client should retry (HTTP 503, gRPC UNAVAILABLE).
        case unavailable(String, retryAfterSeconds: Int)
    }

    func handle(_ signal: OTLPSignal, _ body: [UInt8], encoding: OTLPEncoding, workflow: String) async throws(Failure) -> Accepted {
        let now = Timestamp.now()
        var events: [AuditEvent] = []
        var reasons: [String] = []
        var unmarked = 0
        var droppedServices: Set<String> = []
        var waiting: [OTLPSpan] = []
        var genAIPoints: [GenAIMetricPoint] = []
        do {
            switch signal {
            case .logs:
                let records = encoding == .json ? try OTLPJSON.decodeRequest(body) : try OTLPProtobuf.decodeRequest(body)
                try Self.checkCount(records.count, of: "log records")
                for (index, record) in records.enumerated() {
                    do {
                        events.append(try OTLPMapping.event(from: record, workflow: workflow, receivedAt: now))
                    } catch {
                        reasons.append("record \(index): \(error.field) \(error.message)")
                    }
                }
            case .metrics:
                // Not audit events: an agent stack's exporter sends them beside its traces (a 404
                // makes it log an error on every flush). Counted by family; the GenAI sums and
                // histograms are kept for the dashboard, the rest dropped.
                let request = encoding == .json ? try OTLPJSON.decodeMetricsRequest(body) : try OTLPProtobuf.decodeMetricsRequest(body)
                for metric in request.metrics {
                    self.metrics.metricPoints.increment(metric.name.hasPrefix("gen_ai.") ? "gen_ai" : "other", by: metric.dataPoints)
                }
                if genAIMetrics != nil { genAIPoints = GenAIMetricPoint.points(of: request) }
            case .traces:
                let spans = encoding == .json ? try OTLPJSON.decodeTraceRequest(body) : try OTLPProtobuf.decodeTraceRequest(body)
                try Self.checkCount(spans.count, of: "spans")
                for (index, span) in spans.enumerated() {
                    do throws(EventRejection) {
                        if staging != nil, span.attribute("gen_ai.audit.event_id") == nil {
                            _ = try OTLPSpanMapping.identified(span)
                            // Refused now, not when its trace is assembled, so the exporter hears it.
                            guard pipeline.assignsHMAC else {
                                throw EventRejection(
                                    field: "client_hmac",
                                    message:
                                        "is required: this pipeline has no chain processor to compute it, and an OpenTelemetry span carries none (add `chain` to its processors)"
                                )
                            }
                            waiting.append(span)
                        } else if let event = try OTLPSpanMapping.event(
                            from: span, workflow: workflow, keepUnmarked: traces.keepUnmarked, receivedAt: now)
                        {
                            events.append(event)
                        } else {
                            unmarked += 1
                            if case .string(let service)? = span.resourceAttribute("service.name") {
                                droppedServices.insert(service)
                            } else {
                                droppedServices.insert("")
                            }
                        }
                    } catch {
                        reasons.append("span \(index): \(error.field) \(error.message)")
                    }
                }
            }
        } catch let error as Failure {
            throw error
        } catch let error as OTLPDecodingError {
            throw .invalid(error.message)
        } catch {
            throw .invalid("\(error)")
        }
        var rejected = reasons.count
        metrics.events.increment("rejected", by: rejected)
        metrics.events.increment("dropped_unmarked", by: unmarked)
        if let staging, !waiting.isEmpty {
            do {
                try await staging.stage(waiting, workflow: workflow, settings: traces)
            } catch {
                throw .unavailable(error.reason, retryAfterSeconds: error.retryAfterSeconds)
            }
            metrics.events.increment("staged", by: waiting.count)
        }
        if let genAIMetrics, !genAIPoints.isEmpty {
            do {
                try await genAIMetrics.record(genAIPoints, workflow: workflow)
            } catch {
                throw .unavailable(error.reason, retryAfterSeconds: error.retryAfterSeconds)
            }
        }
        if !events.isEmpty {
            let outcomes: [EventOutcome]
            do {
                outcomes = try await pipeline.submit(events)
            } catch {
                throw .unavailable(error.reason, retryAfterSeconds: error.retryAfterSeconds)
            }
            metrics.record(outcomes)
            for outcome in outcomes {
                if case .rejected(let r) = outcome {
                    rejected += 1
                    if reasons.count < 10 { reasons.append("\(r.field) \(r.message)") }
                }
            }
        }
        if unmarked > 0 {
            reasons.append(
                "\(unmarked) span(s) carried no agent, model or tool marker (audit, GenAI, OpenInference, Traceloop or Langfuse attributes) and were dropped (keep_unmarked_spans: true keeps them)"
            )
            drops.note(services: droppedServices, workflow: workflow, count: unmarked)
        }
        let message = reasons.prefix(10).joined(separator: "; ") + (reasons.count > 10 ? "; …" : "")
        return Accepted(rejected: rejected, message: message)
    }

    static func checkCount(_ count: Int, of items: String) throws(Failure) {
        guard count <= maxItemsPerRequest else {
            throw .tooLarge(
                "the request carries \(count) \(items); at most \(maxItemsPerRequest) are taken in one request: export in smaller batches (e.g. the batch processor's max_export_batch_size)"
            )
        }
    }
}
