import FuzzSupport
import OTLP
import Pipeline

/// The otlp receiver's traces path in OTLP/JSON: decode and map each span to an audit event, alone and as a trace.
@_cdecl("FuzzOTLPTracesJSON_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    if let spans = try? OTLPJSON.decodeTraceRequest(bytes(data, count)) {
        for span in spans { _ = try? OTLPSpanMapping.event(from: span, workflow: "fuzz", keepUnmarked: true, receivedAt: Timestamp(microseconds: 0)) }
        // And as the trace assembler takes them (parent loops, long chains, repeats), twice: the
        // second time with the context the first left, as for late spans.
        let staged = spans.map { TraceRun.Staged(span: $0, keepUnmarked: false) }
        let first = TraceRun(staged, prior: TraceContext(), workflow: "fuzz", receivedAt: Timestamp(microseconds: 0))
        _ = TraceRun(staged, prior: first.context, workflow: "fuzz", receivedAt: Timestamp(microseconds: 0))
    }
    return 0
}
