import FuzzSupport
import OTLP
import Pipeline

/// The otlp_http receiver's OTLP/JSON path: decode and map to audit events.
@_cdecl("FuzzOTLPJSON_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = bytes(data, count)
    if let records = try? OTLPJSON.decodeRequest(bytes) {
        for record in records { _ = try? OTLPMapping.event(from: record, workflow: "fuzz", receivedAt: Timestamp(microseconds: 0)) }
    }
    // The same bytes as a metrics export (the same receiver's /v1/metrics).
    if let metrics = try? OTLPJSON.decodeMetricsRequest(bytes) { _ = GenAIMetricPoint.points(of: metrics) }
    return 0
}
