import FuzzSupport
import OTLP
import Pipeline

/// The otlp receiver's traces path in protobuf (HTTP and gRPC): depth scan, protobuf-c unpack,
/// mapping each span to an audit event (unmarked spans kept, so every mapping path runs).
@_cdecl("FuzzOTLPTracesProtobuf_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    if let spans = try? OTLPProtobuf.decodeTraceRequest(bytes(data, count)) {
        for span in spans { _ = try? OTLPSpanMapping.event(from: span, workflow: "fuzz", keepUnmarked: true, receivedAt: Timestamp(microseconds: 0)) }
    }
    return 0
}
