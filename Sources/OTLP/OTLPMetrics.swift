import COTLP
import Pipeline

/// What the collector reads of an OTLP metrics export today: each metric's name and how many
/// data points it carried (for counting; values, resources and attributes are not read).
public struct OTLPMetricPoints: Equatable, Sendable {
    public var name: String
    public var dataPoints: Int

    public init(name: String, dataPoints: Int) {
        self.name = name
        self.dataPoints = dataPoints
    }
}

extension OTLPProtobuf {
    /// Decodes an `ExportMetricsServiceRequest` down to its metrics' names and point counts.
    /// The messages it reads do not nest (attributes are skipped unread), so no depth check.
    public static func decodeMetricsRequest(_ bytes: [UInt8]) throws(OTLPDecodingError) -> [OTLPMetricPoints] {
        guard let request = bytes.withUnsafeBufferPointer({
            opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(nil, $0.count, $0.baseAddress)
        }) else {
            throw OTLPDecodingError("body is not a valid protobuf ExportMetricsServiceRequest")
        }
        defer { opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(request, nil) }
        var metrics: [OTLPMetricPoints] = []
        for resourceMetrics in buffer(request.pointee.resource_metrics, request.pointee.n_resource_metrics) {
            for scopeMetrics in buffer(resourceMetrics.pointee.scope_metrics, resourceMetrics.pointee.n_scope_metrics) {
                for metric in buffer(scopeMetrics.pointee.metrics, scopeMetrics.pointee.n_metrics) {
                    let m = metric.pointee
                    let points = switch m.data_case {
                    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE: m.gauge.pointee.n_data_points
                    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM: m.sum.pointee.n_data_points
                    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM: m.histogram.pointee.n_data_points
                    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM: m.exponential_histogram.pointee.n_data_points
                    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY: m.summary.pointee.n_data_points
                    default: 0
                    }
                    metrics.append(OTLPMetricPoints(name: string(m.name), dataPoints: points))
                }
            }
        }
        return metrics
    }
}

extension OTLPJSON {
    /// The same from the OTLP/JSON encoding.
    public static func decodeMetricsRequest(_ bytes: [UInt8]) throws(OTLPDecodingError) -> [OTLPMetricPoints] {
        let root = try parseRoot(bytes, message: "ExportMetricsServiceRequest")
        var metrics: [OTLPMetricPoints] = []
        for (i, resourceMetrics) in try array(root, "resourceMetrics", "").enumerated() {
            let path = "resourceMetrics[\(i)]"
            for (j, scopeMetrics) in try array(resourceMetrics, "scopeMetrics", path).enumerated() {
                let scopePath = "\(path).scopeMetrics[\(j)]"
                for (k, metric) in try array(scopeMetrics, "metrics", scopePath).enumerated() {
                    let p = "\(scopePath).metrics[\(k)]"
                    var points = 0
                    for kind in ["gauge", "sum", "histogram", "exponentialHistogram", "summary"] {
                        if let data = metric[kind] { points += try array(data, "dataPoints", "\(p).\(kind)").count }
                    }
                    metrics.append(OTLPMetricPoints(name: try string(metric, "name", p), dataPoints: points))
                }
            }
        }
        return metrics
    }
}
