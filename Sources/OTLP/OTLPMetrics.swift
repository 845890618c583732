import COTLP
import Pipeline

/// What the collector reads of an OTLP metrics export: each metric's name and point count (for
/// counting), and every sum and histogram data point with what identifies its series.
public struct OTLPMetricsRequest: Equatable, Sendable {
    public var metrics: [OTLPMetricPoints] = []
    public var points: [OTLPMetricPoint] = []

    public init(metrics: [OTLPMetricPoints] = [], points: [OTLPMetricPoint] = []) {
        self.metrics = metrics
        self.points = points
    }
}

/// A metric's name and how many data points it carried.
public struct OTLPMetricPoints: Equatable, Sendable {
    public var name: String
    public var dataPoints: Int

    public init(name: String, dataPoints: Int) {
        self.name = name
        self.dataPoints = dataPoints
    }
}

/// One data point of a sum or a histogram. Gauges, exponential histograms and summaries are
/// only counted.
public struct OTLPMetricPoint: Equatable, Sendable {
    public var name: String
    public var unit = ""
    public var resource: [OTLPAttribute] = []
    public var attributes: [OTLPAttribute] = []
    public var startTimeUnixNano: UInt64 = 0
    public var timeUnixNano: UInt64 = 0
    /// A cumulative point repeats everything since `startTimeUnixNano`; a delta point only what
    /// happened since the series' previous point.
    public var cumulative = false
    /// A histogram's count of measurements; nil for a sum.
    public var count: UInt64?
    /// A histogram's sum of measurements, or a sum's value. Non-finite values read as 0.
    public var value: Double = 0

    public init(name: String) {
        self.name = name
    }

    public func attribute(_ key: String) -> OTLPValue? {
        attributes.last { $0.key == key }?.value
    }

    public func resourceAttribute(_ key: String) -> OTLPValue? {
        resource.last { $0.key == key }?.value
    }

    /// This metric's point with these attributes and times.
    func at(_ attributes: [OTLPAttribute], start: UInt64, time: UInt64) -> OTLPMetricPoint {
        var point = self
        (point.attributes, point.startTimeUnixNano, point.timeUnixNano) = (attributes, start, time)
        return point
    }
}

extension OTLPProtobuf {
    /// Decodes an `ExportMetricsServiceRequest`.
    public static func decodeMetricsRequest(_ bytes: [UInt8]) throws(OTLPDecodingError) -> OTLPMetricsRequest {
        // Resource, scope, metric, data and point levels take 6; the rest is for AnyValue nesting.
        switch bytes.withUnsafeBufferPointer({ cotlp_check_metrics_depth($0.baseAddress, $0.count, Int32(maxDepth + 6)) }) {
        case 0: break
        case 1: throw OTLPDecodingError("values nested deeper than \(maxDepth) levels")
        default: throw OTLPDecodingError("body is not a valid protobuf ExportMetricsServiceRequest")
        }
        guard
            let request = bytes.withUnsafeBufferPointer({
                opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(nil, $0.count, $0.baseAddress)
            })
        else {
            throw OTLPDecodingError("body is not a valid protobuf ExportMetricsServiceRequest")
        }
        defer { opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(request, nil) }
        var result = OTLPMetricsRequest()
        for resourceMetrics in buffer(request.pointee.resource_metrics, request.pointee.n_resource_metrics) {
            let resource = resourceMetrics.pointee.resource.map { attributes($0.pointee.attributes, $0.pointee.n_attributes) } ?? []
            for scopeMetrics in buffer(resourceMetrics.pointee.scope_metrics, resourceMetrics.pointee.n_scope_metrics) {
                for metric in buffer(scopeMetrics.pointee.metrics, scopeMetrics.pointee.n_metrics) {
                    let m = metric.pointee
                    var template = OTLPMetricPoint(name: string(m.name))
                    template.unit = string(m.unit)
                    template.resource = resource
                    let cumulative = OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
                    let points: Int
                    switch m.data_case {
                    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
                        template.cumulative = m.sum.pointee.aggregation_temporality == cumulative
                        let data = buffer(m.sum.pointee.data_points, m.sum.pointee.n_data_points)
                        points = data.count
                        result.points += data.map { p in
                            var point = template.at(
                                attributes(p.pointee.attributes, p.pointee.n_attributes),
                                start: p.pointee.start_time_unix_nano, time: p.pointee.time_unix_nano)
                            point.value =
                                p.pointee.value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT
                                ? Double(p.pointee.as_int) : finite(p.pointee.as_double)
                            return point
                        }
                    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
                        template.cumulative = m.histogram.pointee.aggregation_temporality == cumulative
                        let data = buffer(m.histogram.pointee.data_points, m.histogram.pointee.n_data_points)
                        points = data.count
                        result.points += data.map { p in
                            var point = template.at(
                                attributes(p.pointee.attributes, p.pointee.n_attributes),
                                start: p.pointee.start_time_unix_nano, time: p.pointee.time_unix_nano)
                            point.count = p.pointee.count
                            point.value = finite(p.pointee.sum)
                            return point
                        }
                    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE: points = m.gauge.pointee.n_data_points
                    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM: points = m.exponential_histogram.pointee.n_data_points
                    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY: points = m.summary.pointee.n_data_points
                    default: points = 0
                    }
                    result.metrics.append(OTLPMetricPoints(name: template.name, dataPoints: points))
                }
            }
        }
        return result
    }

    static func finite(_ value: Double) -> Double { value.isFinite ? value : 0 }
}

extension OTLPJSON {
    /// The same from the OTLP/JSON encoding.
    public static func decodeMetricsRequest(_ bytes: [UInt8]) throws(OTLPDecodingError) -> OTLPMetricsRequest {
        let root = try parseRoot(bytes, message: "ExportMetricsServiceRequest")
        var result = OTLPMetricsRequest()
        for (i, resourceMetrics) in try array(root, "resourceMetrics", "").enumerated() {
            let path = "resourceMetrics[\(i)]"
            let resource = try resourceMetrics["resource"].map { r throws(OTLPDecodingError) in try attributes(r, "\(path).resource") } ?? []
            for (j, scopeMetrics) in try array(resourceMetrics, "scopeMetrics", path).enumerated() {
                let scopePath = "\(path).scopeMetrics[\(j)]"
                for (k, metric) in try array(scopeMetrics, "metrics", scopePath).enumerated() {
                    let p = "\(scopePath).metrics[\(k)]"
                    var template = OTLPMetricPoint(name: try string(metric, "name", p))
                    template.unit = try string(metric, "unit", p)
                    template.resource = resource
                    var points = 0
                    for kind in ["gauge", "sum", "histogram", "exponentialHistogram", "summary"] {
                        guard let data = metric[kind] else { continue }
                        let dataPath = "\(p).\(kind)"
                        let dataPoints = try array(data, "dataPoints", dataPath)
                        points += dataPoints.count
                        guard kind == "sum" || kind == "histogram" else { continue }
                        template.cumulative =
                            try enumeration(
                                data, "aggregationTemporality", dataPath, prefix: "AGGREGATION_TEMPORALITY_",
                                names: ["UNSPECIFIED", "DELTA", "CUMULATIVE"]) == 2
                        for (n, dataPoint) in dataPoints.enumerated() {
                            let pointPath = "\(dataPath).dataPoints[\(n)]"
                            var point = template.at(
                                try attributes(dataPoint, pointPath), start: try unsigned(dataPoint, "startTimeUnixNano", pointPath),
                                time: try unsigned(dataPoint, "timeUnixNano", pointPath))
                            if kind == "histogram" {
                                point.count = try unsigned(dataPoint, "count", pointPath)
                                point.value = try double(dataPoint, "sum", pointPath)
                            } else if dataPoint["asInt"] != nil {
                                point.value = Double(try integer(dataPoint, "asInt", pointPath))
                            } else {
                                point.value = try double(dataPoint, "asDouble", pointPath)
                            }
                            result.points.append(point)
                        }
                    }
                    result.metrics.append(OTLPMetricPoints(name: template.name, dataPoints: points))
                }
            }
        }
        return result
    }

    /// A double: a JSON number, or protobuf's JSON spellings as a string ("1.5", "NaN",
    /// "Infinity"). Non-finite values read as 0.
    static func double(_ object: JSONValue, _ key: String, _ path: String) throws(OTLPDecodingError) -> Double {
        switch object[key] {
        case nil, .null?: return 0
        case .number(let text)?, .string(let text)?:
            if ["NaN", "Infinity", "-Infinity"].contains(text) { return 0 }
            guard let value = Double(text) else { throw fail(path, key, "must be a number, got `\(text.prefix(40))`") }
            return OTLPProtobuf.finite(value)
        case let other?: throw fail(path, key, "must be a number, got \(other.typeName)")
        }
    }
}
