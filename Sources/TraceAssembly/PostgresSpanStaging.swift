package import AuditStore
package import OTLP
package import Pipeline

/// A pipeline's staged spans in its PostgreSQL (`SpanStaging`): the receiver's answer waits for
/// this commit, so an acknowledged span is durable before its trace is complete.
package final class PostgresSpanStaging: SpanStaging, Sendable {
    private let pool: PGWorkerPool
    private let pipeline: String

    package init(database: AuditDatabase, pipeline: String) {
        pool = database.workerPool(applicationName: "governance-collector span staging", size: 2)
        self.pipeline = pipeline
    }

    package func stage(_ spans: [OTLPSpan], workflow: String, settings: TraceSettings) async throws(PipelineUnavailable) {
        guard !spans.isEmpty else { return }
        let rows = spans.map { span in
            StagedSpans.Row(traceID: span.traceID, spanID: span.spanID, isRoot: span.isRoot, span: OTLPProtobuf.encodeTraceRequest([span]))
        }
        let pipeline = pipeline
        do {
            try await pool.run { connection in
                try StagedSpans.stage(
                    rows, pipeline: pipeline, workflow: workflow, keepUnmarked: settings.keepUnmarked,
                    waitMilliseconds: settings.waitMilliseconds, maxWaitMilliseconds: settings.maxWaitMilliseconds,
                    on: connection)
            }
        } catch {
            throw PipelineUnavailable(reason: "the spans could not be staged in PostgreSQL: \(error)")
        }
    }
}
