package import AuditStore
package import OTLP
package import Pipeline
import Synchronization

/// A pipeline's GenAI metric points in its PostgreSQL (`GenAIMetricRecording`): the receiver
/// answers the export after they are committed.
package final class PostgresGenAIMetrics: GenAIMetricRecording, Sendable {
    private let pool: PGWorkerPool
    /// When old minutes and series were last pruned (seconds since the epoch): once an hour.
    private let prunedAt = Atomic<Int64>(0)

    package init(database: AuditDatabase) {
        pool = database.workerPool(applicationName: "governance-collector genai metrics", size: 1)
    }

    package func record(_ points: [GenAIMetricPoint], workflow: String) async throws(PipelineUnavailable) {
        guard !points.isEmpty else { return }
        let rows = points.map { p in
            GenAIUsage.Point(
                series: p.series, service: p.service, model: p.model, metric: p.metric, tokenType: p.tokenType,
                timeUnixNano: p.timeUnixNano, cumulative: p.cumulative, count: p.count, sum: p.value)
        }
        let now = Timestamp.now().microseconds / 1_000_000
        let last = prunedAt.load(ordering: .relaxed)
        let prune = now - last >= 3600 && prunedAt.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
        do {
            try await pool.run { connection in
                try GenAIUsage.record(rows, workflow: workflow, prune: prune, on: connection)
            }
        } catch {
            throw PipelineUnavailable(reason: "the GenAI metrics could not be recorded in PostgreSQL: \(error)")
        }
    }
}
