import FuzzSupport
import OTLP
import Pipeline

/// The otlp_http receiver's protobuf path: depth scan, protobuf-c unpack, mapping to audit events.
@_cdecl("FuzzOTLPProtobuf_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = bytes(data, count)
    if let records = try? OTLPProtobuf.decodeRequest(bytes) {
        for record in records { _ = try? OTLPMapping.event(from: record, workflow: "fuzz", receivedAt: Timestamp(microseconds: 0)) }
    }
    _ = try? Gzip.decompress(bytes, limit: 1 << 20)
    // The same bytes as a metrics export (the same receiver's /v1/metrics).
    if let metrics = try? OTLPProtobuf.decodeMetricsRequest(bytes) { _ = GenAIMetricPoint.points(of: metrics) }
    return 0
}
