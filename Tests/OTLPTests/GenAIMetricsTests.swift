import Foundation
import OTLP
import Pipeline
import Testing

/// OTLP metrics as the collector reads them: the GenAI points, their series and their values.
@Suite("OTLP metrics: GenAI points")
struct GenAIMetricsTests {
    static let export = #"""
        {"resourceMetrics": [{
          "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "weather-app"}}]},
          "scopeMetrics": [{"metrics": [
            {"name": "gen_ai.client.token.usage", "unit": "{token}", "histogram": {"aggregationTemporality": 2, "dataPoints": [
              {"attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                              {"key": "gen_ai.token.type", "value": {"stringValue": "prompt"}}],
               "startTimeUnixNano": "100", "timeUnixNano": "200", "count": "2", "sum": 250, "bucketCounts": ["2"]},
              {"attributes": [{"key": "gen_ai.response.model", "value": {"stringValue": "gpt-4o-2024-08-06"}},
                              {"key": "gen_ai.token.type", "value": {"stringValue": "output"}}],
               "startTimeUnixNano": "101", "timeUnixNano": "200", "count": 2, "sum": "50"}]}},
            {"name": "gen_ai.client.operation.duration", "sum": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
              "dataPoints": [{"startTimeUnixNano": "100", "timeUnixNano": "200", "asInt": "3"}]}},
            {"name": "http.client.duration", "histogram": {"aggregationTemporality": 2, "dataPoints": [{"count": "1", "sum": 0.1}]}},
            {"name": "gen_ai.queue", "gauge": {"dataPoints": [{"asDouble": 1}]}}
          ]}]
        }]}
        """#

    @Test(
        "sum and histogram points of gen_ai.* metrics, with service, model (request, else response), token type, temporality, count and value; other metrics only counted"
    )
    func points() throws {
        let request = try OTLPJSON.decodeMetricsRequest(Array(Self.export.utf8))
        #expect(
            request.metrics == [
                OTLPMetricPoints(name: "gen_ai.client.token.usage", dataPoints: 2),
                OTLPMetricPoints(name: "gen_ai.client.operation.duration", dataPoints: 1),
                OTLPMetricPoints(name: "http.client.duration", dataPoints: 1),
                OTLPMetricPoints(name: "gen_ai.queue", dataPoints: 1),
            ])
        let points = GenAIMetricPoint.points(of: request)
        #expect(points.map(\.metric) == ["gen_ai.client.token.usage", "gen_ai.client.token.usage", "gen_ai.client.operation.duration"])
        #expect(points.map(\.service) == ["weather-app", "weather-app", "weather-app"])
        #expect(points.map(\.model) == ["gpt-4o", "gpt-4o-2024-08-06", ""])
        #expect(points.map(\.tokenType) == ["input", "output", ""])
        #expect(points.map(\.cumulative) == [true, true, false])
        #expect(points.map(\.count) == [2, 2, 0])
        #expect(points.map(\.value) == [250, 50, 3])
        #expect(points.map(\.timeUnixNano) == [200, 200, 200])
        // A series is its metric, resource, attributes and start: the same point later is the same series.
        #expect(Set(points.map(\.series)).count == 3)
        var later = request
        later.points[0].timeUnixNano = 300
        later.points[0].count = 3
        #expect(GenAIMetricPoint.points(of: later)[0].series == points[0].series)
        later.points[0].startTimeUnixNano = 250
        #expect(GenAIMetricPoint.points(of: later)[0].series != points[0].series, "a restarted process starts a new series")
    }

    @Test("a value that is not a number is refused, naming the field")
    func badValue() {
        let body = Self.export.replacingOccurrences(of: #""sum": "50""#, with: #""sum": "fifty""#)
        #expect(throws: OTLPDecodingError("resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[1].sum must be a number, got `fifty`"))
        {
            try OTLPJSON.decodeMetricsRequest(Array(body.utf8))
        }
    }

    /// Protobuf's wire format, by hand: a length-delimited field.
    func field(_ number: Int, _ body: [UInt8]) -> [UInt8] {
        var out = varint(UInt64(number << 3 | 2))
        out += varint(UInt64(body.count)) + body
        return out
    }

    func varint(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        return out + [UInt8(v)]
    }

    @Test("a histogram point's attribute nested 100 levels deep is refused before protobuf-c unpacks it")
    func nestedAttributeRefused() {
        var value = field(1, Array("leaf".utf8))  // AnyValue.string_value
        for _ in 0..<100 {
            value = field(6, field(1, field(1, Array("k".utf8)) + field(2, value)))  // AnyValue.kvlist_value{values: KeyValue{key, value}}
        }
        let point = field(9, field(1, Array("deep".utf8)) + field(2, value))  // HistogramDataPoint.attributes
        let metric = field(1, Array("gen_ai.client.token.usage".utf8)) + field(9, field(1, point))  // Metric{name, histogram{data_points}}
        let request = field(1, field(2, field(2, metric)))  // Request{resource_metrics{scope_metrics{metrics}}}
        #expect(throws: OTLPDecodingError("values nested deeper than \(OTLPProtobuf.maxDepth) levels")) {
            try OTLPProtobuf.decodeMetricsRequest(request)
        }
        // The same point nested 10 levels is read.
        var shallow = field(1, Array("leaf".utf8))
        for _ in 0..<10 { shallow = field(6, field(1, field(1, Array("k".utf8)) + field(2, shallow))) }
        let ok = field(
            1, field(2, field(2, field(1, Array("gen_ai.x".utf8)) + field(9, field(1, field(9, field(1, Array("deep".utf8)) + field(2, shallow)))))))
        #expect((try? OTLPProtobuf.decodeMetricsRequest(ok))?.points.count == 1)
    }
}
