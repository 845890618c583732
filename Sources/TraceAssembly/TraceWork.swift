import AuditStore
import OTLP
package import Pipeline
import ServiceLifecycle

/// What a database does for the pipelines whose receivers take OTLP traces and metrics (they
/// declare `needs: ["traces"]`): each such pipeline's spans and GenAI metric points are kept
/// there, and one assembler turns its complete traces into audit rows.
package enum TraceWork {
    package static let factory = DatabaseWorkFactory(name: "traces") { context in
        let tracing = context.pipelines.filter { $0.needs.contains("traces") }
        guard let database = context.database.auditDatabase, !tracing.isEmpty else { return DatabaseWork() }
        var resources: [String: SharedResources] = [:]
        for pipeline in tracing {
            resources[pipeline.name, default: SharedResources()].provide(
                PostgresSpanStaging(database: database, pipeline: pipeline.name) as any SpanStaging)
            resources[pipeline.name]!.provide(PostgresGenAIMetrics(database: database) as any GenAIMetricRecording)
        }
        let names = Set(tracing.map(\.name))
        return DatabaseWork(pipelineResources: resources) { pipelines in
            [
                TraceAssembler(
                    database: database, pipelines: pipelines.filter { names.contains($0.key) }, telemetry: context.telemetry,
                    clock: context.clock, logger: context.logger)
            ]
        }
    }
}
