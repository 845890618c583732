import FuzzSupport
import Pipeline

/// The ingest receiver's path for one request body: parse (strict JSON, number text kept), then
/// the wire-format decoder, plus NDJSON. A parsed value must survive a serialize/parse round trip.
@_cdecl("FuzzIngestJSON_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = bytes(data, count)
    if let value = try? JSONParser.parse(bytes) {
        let again = try? JSONParser.parse(Array(value.serialized().utf8))
        precondition(again == value, "JSON round trip changed the value")
        _ = try? WireFormat.decode(value, workflow: "fuzz", receivedAt: Timestamp(microseconds: 0))
        _ = value.pythonNormalized().serialized(.pythonCanonical)
    }
    _ = try? JSONParser.parseLines(bytes)
    return 0
}
