import AuditStore
import Collector
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import OTLP
import Pipeline
import Receivers
import Testing

/// A chaining collector (OTLP records carry no client HMAC) with `otlp_http` next to
/// `ingest_http`, whose /readyz the tests wait on.
func otlpYAML(dsn: String, otlpSettings: String = "") -> String {
    chainedYAML(dsn: dsn)
        .replacingOccurrences(
            of: "processors:\n  seq:",
            with: """
                  otlp_http:
                    endpoint: 127.0.0.1:0
                \(otlpSettings)
                    tokens:
                      - { workflow: wf-otel, token_sha256: \(WorkflowTokens.sha256Hex(testToken)) }
                processors:
                  seq:
                """
        )
        .replacingOccurrences(of: "receivers: [ingest_http]", with: "receivers: [ingest_http, otlp_http]")
}

extension RunningCollector {
    var otlpURL: String {
        "http://127.0.0.1:\((collector.receivers["otlp_http"] as! OTLPHTTPReceiver).boundPort ?? 0)\(OTLPHTTPReceiver.logsPath)"
    }
}

func postOTLP(
    _ url: String, _ body: [UInt8], contentType: String = "application/x-protobuf", gzip: Bool = false,
    token: String? = testToken
) async throws -> HTTPResult {
    var headers = ["Content-Type: \(contentType)"]
    if gzip { headers.append("Content-Encoding: gzip") }
    if let token { headers.append("Authorization: Bearer \(token)") }
    return try await TestHTTP.request("POST", url, headers: headers, body: body)
}

/// Protobuf wire-format writing, for hostile bodies the real encoders would never produce.
enum Wire {
    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        repeat { out.append(UInt8(v & 0x7F) | (v > 0x7F ? 0x80 : 0)); v >>= 7 } while v > 0
        return out
    }
    static func field(_ number: UInt64, _ payload: [UInt8]) -> [UInt8] { varint(number << 3 | 2) + varint(UInt64(payload.count)) + payload }
    static func string(_ number: UInt64, _ s: String) -> [UInt8] { field(number, Array(s.utf8)) }
    /// ExportLogsServiceRequest{resource_logs{scope_logs{log_records: [records]}}}.
    static func request(_ records: [[UInt8]]) -> [UInt8] { field(1, field(2, records.flatMap { field(2, $0) })) }
    static func attribute(_ key: String, _ value: String) -> [UInt8] { field(6, string(1, key) + field(2, string(1, value))) }
}

@Suite("otlp_http receiver")
struct OTLPTests {
    @Test("OpenTelemetry's Python OTLPLogExporter (protobuf, gzip) → rows with the documented mapping")
    func pythonExporter() async throws {
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: otlpYAML(dsn: dsn))
        try await collector.waitUntilReady()
        let base = String(collector.otlpURL.dropLast(OTLPHTTPReceiver.logsPath.count))
        let (status, lines) = try await runSDK(["sdk", base, testToken, "12"], script: "otel_interop.py")
        #expect(status == 0, "\(lines.joined(separator: "\n"))")
        let sent = try JSONParser.parse(try #require(lines.last))
        guard case .array(let ids)? = sent["ids"], case .string(let session)? = sent["session"] else { Issue.record("no ids"); return }
        #expect(try await storedIDs(dsn) == Set(ids.compactMap { $0.stringValue.flatMap(UUID.init(uuidString:)) }))
        let row = try PGConnection(dsn: dsn).exec(
            """
            SELECT kind, agent_id, session_id::text, workflow, decision, metadata_json->>'tool', metadata_json->>'n',
                   metadata_json#>>'{otel,body}', metadata_json#>>'{otel,severity_text}', metadata_json#>>'{otel,resource,service.name}', sdk_version
            FROM governance_audit_events WHERE event_id = '\(ids[5].stringValue!)'
            """
        ).rows.first
        #expect(
            row == ["tool.call", "agent-2", session, "wf-otel", nil, "search", "5", "tool call 5", "INFO", "billing-agent", "opentelemetry/1.45.2"])
        try await collector.stop()
    }

    @Test("OTLP/JSON from opentelemetry-proto: stored, and an unmappable record reported in partial_success")
    func pythonJSON() async throws {
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: otlpYAML(dsn: dsn))
        try await collector.waitUntilReady()
        let base = String(collector.otlpURL.dropLast(OTLPHTTPReceiver.logsPath.count))
        let (status, lines) = try await runSDK(["json", base, testToken, "4"], script: "otel_interop.py")
        #expect(status == 0, "\(lines.joined(separator: "\n"))")
        #expect(lines.count == 3)
        let sent = try JSONParser.parse(lines[0])
        guard case .array(let ids)? = sent["ids"] else { Issue.record("no ids"); return }
        #expect(lines[1] == "200", "\(lines.dropFirst().joined(separator: "\n"))")
        let response = try JSONParser.parse(lines[2])
        #expect(response["partialSuccess"]?["rejectedLogRecords"] == .string("1"))
        #expect(response["partialSuccess"]?["errorMessage"]?.stringValue?.contains("record 4: attributes.gen_ai.agent.id is required") == true)
        #expect(try await storedIDs(dsn) == Set(ids.compactMap { $0.stringValue.flatMap(UUID.init(uuidString:)) }))
        #expect(
            try await scalar(
                dsn, "SELECT DISTINCT decision || ' ' || kind || ' ' || (metadata_json#>>'{otel,trace_id}') FROM governance_audit_events")
                == "deny policy.denied 000102030405060708090a0b0c0d0e0f")
        try await collector.stop()
    }

    @Test("a retried export stores each record once (ids derived from the record)")
    func retriedExportIsIdempotent() async throws {
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: otlpYAML(dsn: dsn))
        try await collector.waitUntilReady()
        let record = Wire.string(12, "tool.call") + Wire.attribute("gen_ai.agent.id", "a") + Wire.attribute("session.id", "chat-42")
        let body = Wire.request([record, record + Wire.attribute("n", "2")])
        for _ in 0..<2 { #expect(try await postOTLP(collector.otlpURL, body).status == 200) }
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "2")
        try await collector.stop()
    }

    @Test("out-of-range enum values from the wire are kept, never trapped on (the fuzzer's severity_number = -2)")
    func outOfRangeEnums() async throws {
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: otlpYAML(dsn: dsn))
        try await collector.waitUntilReady()
        let negative = Wire.varint(2 << 3) + Wire.varint(UInt64(bitPattern: -2))  // severity_number = -2, sign-extended
        let record = Wire.string(12, "tool.call") + Wire.attribute("gen_ai.agent.id", "a") + Wire.attribute("session.id", "s") + negative
        #expect(try await postOTLP(collector.otlpURL, Wire.request([record])).status == 200)
        let big = #"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"eventName":"x","severityNumber":4294967296}]}]}]}"#
        let refused = try await postOTLP(collector.otlpURL, Array(big.utf8), contentType: "application/json")
        #expect(refused.status == 400)
        #expect(refused.text.contains("severityNumber must fit in 32 bits"))
        #expect(try await scalar(dsn, "SELECT metadata_json#>>'{otel,severity_number}' FROM governance_audit_events") == "-2")
        try await collector.stop()
    }

    @Test("hostile input gets a precise 4xx in the request's encoding, and the collector keeps serving")
    func hostileInput() async throws {
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: otlpYAML(dsn: dsn, otlpSettings: "    max_body_bytes: 1MiB"))
        try await collector.waitUntilReady()
        let url = collector.otlpURL
        let valid = Wire.request([Wire.string(12, "tool.call") + Wire.attribute("gen_ai.agent.id", "a") + Wire.attribute("session.id", "s")])

        // Garbage and truncated protobuf.
        #expect(try await postOTLP(url, Array("not protobuf at all \u{1}\u{2}".utf8)).status == 400)
        #expect(try await postOTLP(url, Array(valid.dropLast(3))).status == 400)
        // Deep nesting (AnyValue in AnyValue, 2,000 levels): refused before protobuf-c recurses.
        var nested = Wire.string(1, "x")  // AnyValue{string_value}
        for _ in 0..<2_000 { nested = Wire.field(5, Wire.field(1, nested)) }  // AnyValue{array_value{values}}
        let deep = try await postOTLP(url, Wire.request([Wire.field(5, nested)]))
        #expect(deep.status == 400)
        #expect(deep.text.contains("nested deeper than"))
        // A zip bomb: 50 MiB of zeros, about 50 KiB compressed; the limit applies after inflating.
        let bomb = Gzip.compress([UInt8](repeating: 0, count: 50 << 20))
        #expect(bomb.count < 100_000)
        #expect(try await postOTLP(url, bomb, gzip: true).status == 413)
        #expect(try await postOTLP(url, Array("plain".utf8), gzip: true).status == 400)
        // JSON with wrong types names the field; errors come back as JSON google.rpc.Status.
        let wrong = try await postOTLP(
            url, Array(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":true}]}]}]}"#.utf8), contentType: "application/json")
        #expect(wrong.status == 400)
        #expect(
            try JSONParser.parse(wrong.body)["message"]?.stringValue
                == "resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano must be an integer, got boolean")
        #expect(try JSONParser.parse(wrong.body)["code"] == .number("3"))
        let deepJSON = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(try await postOTLP(url, Array(deepJSON.utf8), contentType: "application/json").status == 400)
        // Wrong media type, encoding, and missing or unknown tokens.
        #expect(try await postOTLP(url, valid, contentType: "text/plain").status == 415)
        var brotli = ["Content-Type: application/x-protobuf", "Content-Encoding: br", "Authorization: Bearer \(testToken)"]
        #expect(try await TestHTTP.request("POST", url, headers: brotli, body: valid).status == 415)
        brotli.removeLast()
        #expect(try await postOTLP(url, valid, token: nil).status == 401)
        #expect(try await postOTLP(url, valid, token: "wf_wrong").status == 401)
        // Still serving: the valid request is stored.
        #expect(try await postOTLP(url, Gzip.compress(valid), gzip: true).status == 200)
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "1")
        try await collector.stop()
    }

    @Test("503 with Retry-After while PostgreSQL is unavailable (OTLP clients retry it)")
    func unavailable() async throws {
        let collector = try await RunningCollector.start(yaml: otlpYAML(dsn: "postgresql://postgres@127.0.0.1:9/none?connect_timeout=1"))
        let body = Wire.request([Wire.string(12, "tool.call") + Wire.attribute("gen_ai.agent.id", "a") + Wire.attribute("session.id", "s")])
        let answer = try await postOTLP(collector.otlpURL, body)
        #expect(answer.status == 503)
        #expect(answer.headers["retry-after"] != nil)
        try await collector.stop()
    }
}

/// `collectorYAML` with an `otlp_http` exporter in the pipeline; `settings` are extra exporter lines.
func otlpExporterYAML(dsn: String, endpoint: String, settings: String = "", type: String = "otlp_http") -> String {
    collectorYAML(dsn: dsn)
        .replacingOccurrences(
            of: "service:\n",
            with: """
                  \(type):
                    endpoint: "\(endpoint)"
                    headers: { Authorization: "Bearer \(testToken)" }
                    batch_timeout: 0.05
                    max_backoff: 0.2
                    allow_loopback: true
                \(settings)
                service:

                """
        )
        .replacingOccurrences(of: "exporters: [postgres]", with: "exporters: [postgres, \(type)]")
}

@Suite("otlp_http exporter")
struct OTLPExporterTests {
    @Test("its output is valid OTLP for OpenTelemetry's own decoder; 503 is retried after Retry-After; metadata redacted")
    func decodedByOpenTelemetry() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gc-otlp-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "interop/otel_interop.py"
        ).path
        let receiver = try ChildProcess.spawn([try sdkPython(), script, "receive", directory + "/port", "-", "0"], outputPath: directory + "/out")
        #expect(try await eventually { FileManager.default.fileExists(atPath: directory + "/port") })
        let port = try String(contentsOfFile: directory + "/port", encoding: .utf8)
        let dsn = try await newDatabase()
        let a = try await RunningCollector.start(yaml: otlpExporterYAML(dsn: dsn, endpoint: "http://127.0.0.1:\(port)/v1/logs"))
        try await a.waitUntilReady()
        let secret = "sk-ant-api03-" + String(repeating: "Zq7", count: 30)
        let ids = (0..<3).map { _ in UUID() }
        // One batch request: committed together, so they reach the exporter (and the one-shot receiver) together.
        let batch = ids.enumerated().map { wireEvent(id: $1, agent: "agent-\($0)", metadata: #"{"prompt":"key \#(secret)"}"#) }
        #expect(try await post(a.batchURL, "[" + batch.joined(separator: ",") + "]").status == 200)
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            receiver.kill(SIGKILL)
        }
        let exited = await withCheckedContinuation { done in Thread { done.resume(returning: receiver.wait()) }.start() }
        watchdog.cancel()
        #expect(exited == 0)
        let output = try JSONParser.parse(try String(contentsOfFile: directory + "/out", encoding: .utf8))
        #expect(output["requests"] == .number("2"), "the 503 should have been retried once")
        #expect(output["path"] == .string("/v1/logs"))
        #expect(output["content_type"] == .string("application/x-protobuf"))
        guard case .array(let records)? = output["request"]?["resourceLogs"]?[0]?["scopeLogs"]?[0]?["logRecords"] else {
            Issue.record("no log records in \(output)"); return
        }
        #expect(records.count == 3)
        let text = String(
            decoding: {
                var b: [UInt8] = []; output.write(into: &b); return b
            }(), as: UTF8.self)
        for id in ids { #expect(text.contains(id.lowercasedString)) }
        #expect(records.first?["eventName"] == .string("tool.call"))
        #expect(!text.contains(secret))
        #expect(text.contains("[REDACTED:anthropic_key]"))
        #expect(a.otlpExporter.counters[.sent] == 3)
        try await a.stop()
    }
}

extension OTLPExporterTests {
    @Test("a non-retryable answer (401) drops the batch at once, counted; nothing is retried")
    func nonRetryableDropped() async throws {
        let dsnB = try await newDatabase()
        let b = try await RunningCollector.start(yaml: otlpYAML(dsn: dsnB))
        try await b.waitUntilReady()
        let dsnA = try await newDatabase()
        let a = try await RunningCollector.start(
            yaml: otlpExporterYAML(dsn: dsnA, endpoint: b.otlpURL)
                .replacingOccurrences(of: "Bearer \(testToken)", with: "Bearer wf_not_a_known_token"))
        try await a.waitUntilReady()
        #expect(try await post(a.eventsURL, wireEvent()).status == 201)
        #expect(try await eventually { a.otlpExporter.counters[.dropped4xx] == 1 })
        #expect(a.otlpExporter.counters[.retries] == 0)
        #expect(try await scalar(dsnB, "SELECT count(*) FROM governance_audit_events") == "0")
        try await a.stop()
        try await b.stop()
    }
}

extension RunningCollector {
    var otlpExporter: OTLPExporter { collector.exporters["otlp_http"] as! OTLPExporter }
}

extension JSONValue {
    subscript(index: Int) -> JSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }
}
