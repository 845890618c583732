public import Pipeline

/// A GenAI metric's data point (`gen_ai.*`: the OpenTelemetry GenAI semantic conventions'
/// `gen_ai.client.token.usage` and `gen_ai.client.operation.duration`, which the GenAI
/// instrumentations and OpenLLMetry emit) as the collector keeps it: the service and model it
/// measures, and its series, so a cumulative point can be turned into what it added.
public struct GenAIMetricPoint: Equatable, Sendable {
    /// Names one series for the life of the process that reports it: the metric, every resource
    /// and point attribute (sorted), and the point's start time. A process that restarts starts
    /// a new series, and two processes with the same attributes never share one.
    public var series: String
    public var metric: String
    public var service: String
    /// `gen_ai.request.model`, else `gen_ai.response.model`, else "".
    public var model: String
    /// `gen_ai.token.type` (`input` / `output`; the older `prompt` / `completion` read as those), else "".
    public var tokenType: String
    public var timeUnixNano: UInt64
    public var cumulative: Bool
    /// Measurements counted (a histogram's count; 0 for a sum).
    public var count: Int64
    /// A histogram's sum, or a sum's value.
    public var value: Double

    /// The GenAI points of an export; other metrics are only counted.
    public static func points(of request: OTLPMetricsRequest) -> [GenAIMetricPoint] {
        request.points.compactMap { point in
            guard point.name.hasPrefix("gen_ai.") else { return nil }
            let tokenType =
                switch point.attribute("gen_ai.token.type")?.nonEmptyString ?? "" {
                case "prompt": "input"
                case "completion": "output"
                case let other: other
                }
            return GenAIMetricPoint(
                series: seriesKey(point),
                metric: point.name,
                service: point.resourceAttribute("service.name")?.nonEmptyString ?? "unknown_service",
                model: point.attribute("gen_ai.request.model")?.nonEmptyString ?? point.attribute("gen_ai.response.model")?.nonEmptyString ?? "",
                tokenType: tokenType,
                timeUnixNano: point.timeUnixNano,
                cumulative: point.cumulative,
                count: Int64(clamping: point.count ?? 0),
                value: point.value)
        }
    }

    static func seriesKey(_ point: OTLPMetricPoint) -> String {
        func canonical(_ attributes: [OTLPAttribute]) -> String {
            attributes.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "\u{1F}")
        }
        return [point.name, canonical(point.resource), canonical(point.attributes), String(point.startTimeUnixNano)].joined(separator: "\u{1E}")
    }
}

/// Where a receiver keeps the GenAI metric points of an export: in its pipeline's PostgreSQL.
public protocol GenAIMetricRecording: Sendable {
    /// Returns once what `points` add is committed.
    func record(_ points: [GenAIMetricPoint], workflow: String) async throws(PipelineUnavailable)
}
