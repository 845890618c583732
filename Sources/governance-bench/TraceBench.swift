import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import OTLP
import Pipeline
import Synchronization

/// The rows of GenAI traces through staging and assembly: spans in, audit rows out, beside
/// COPY; and how long after its acknowledgement a span's trace becomes rows.
struct TraceBench {
    let collector: Bench.RunningCollector
    let token: String

    /// One agent run of 8 spans, children first (as exporters send them): the app's request
    /// (unmarked), the agent, 3 chats with token usage and 3 tool calls.
    static func run(_ trace: Int) -> [OTLPSpan] {
        var traceID = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: UInt64(trace + 1).bigEndian) { traceID.replaceSubrange(8..<16, with: $0) }
        traceID[0] = 0x7E
        func span(_ n: UInt8, parent: UInt8?, _ name: String, _ attributes: [OTLPAttribute]) -> OTLPSpan {
            var s = OTLPSpan()
            s.resource = [.init("service.name", .string("bench-app"))]
            s.traceID = traceID
            s.spanID = [0, 0, 0, 0, 0, 0, 1, n]
            if let parent { s.parentSpanID = [0, 0, 0, 0, 0, 0, 1, parent] }
            s.name = name
            s.startTimeUnixNano = 1_764_590_000_000_000_000 + UInt64(trace) * 1000 + UInt64(n)
            s.endTimeUnixNano = s.startTimeUnixNano + 500
            s.attributes = attributes
            return s
        }
        var spans: [OTLPSpan] = []
        for call in 0..<3 {
            spans.append(
                span(
                    UInt8(3 + call), parent: 2, "chat gpt-4o",
                    [
                        .init("gen_ai.operation.name", .string("chat")), .init("gen_ai.request.model", .string("gpt-4o")),
                        .init("gen_ai.response.model", .string("gpt-4o-2024-08-06")),
                        .init("gen_ai.usage.input_tokens", .int(100)), .init("gen_ai.usage.output_tokens", .int(20)),
                    ]))
            spans.append(
                span(
                    UInt8(6 + call), parent: 2, "execute_tool search",
                    [
                        .init("gen_ai.operation.name", .string("execute_tool")), .init("gen_ai.tool.name", .string("search")),
                    ]))
        }
        spans.append(
            span(
                2, parent: 1, "invoke_agent planner",
                [
                    .init("gen_ai.operation.name", .string("invoke_agent")), .init("gen_ai.agent.name", .string("planner")),
                    .init("gen_ai.conversation.id", .string("conv-\(trace)")),
                ]))
        spans.append(span(1, parent: nil, "POST /plan", []))
        return spans
    }

    static let spansPerRun = 8

    var headers: [String] { ["Authorization: Bearer \(token)", "Content-Type: application/x-protobuf", "Content-Encoding: gzip"] }

    func storedCount() throws -> Int {
        Int(try PGConnection(dsn: collector.dsn).exec("SELECT count(*) FROM governance_audit_events").rows.first?.first.flatMap { $0 } ?? "0") ?? 0
    }

    /// `spans` spans in runs of 8, 512 per request (64 runs), over `connections`: the rate
    /// at which they are acknowledged (staged) and at which they become rows.
    func throughput(spans total: Int, connections: Int, copyRate: Double, firstRun: Int) async throws -> [(String, String, String)] {
        let runs = total / Self.spansPerRun
        let bodies = stride(from: 0, to: runs, by: 64).map { start in
            Gzip.compress(OTLPProtobuf.encodeTraceRequest((start..<min(start + 64, runs)).flatMap { Self.run(firstRun + $0) }))
        }
        let before = try storedCount()
        let started = Date()
        let report = await LoadDriver.run(connections: connections, total: bodies.count, keepBodies: true) { b in
            .init(url: collector.otlpURL + "/v1/traces", headers: headers, body: bodies[b])
        }
        let spans = runs * Self.spansPerRun
        while try storedCount() < before + spans, Date().timeIntervalSince(started) < 600 {
            try await Task.sleep(for: .milliseconds(20))
        }
        let rowsSeconds = Date().timeIntervalSince(started)
        let stored = try storedCount() - before
        let ok = report.outcomes.allSatisfy { $0.status == 200 && $0.body.isEmpty } && stored == spans
        func rate(_ seconds: Double) -> String {
            "\(Int(Double(spans) / seconds)) spans/s = \(String(format: "%.2f", Double(spans) / seconds / copyRate))× COPY"
        }
        return [
            (
                "OTLP/HTTP GenAI traces, staged (8-span runs, 512 spans/request, \(connections) conns): acknowledged",
                "\(spans) spans\(ok ? "" : " (errors, partial success or missing rows: \(stored) rows!)")", rate(report.seconds)
            ),
            ("  … the same spans to audit rows (staging + assembly, incl. the last trace's trace_wait)", "\(stored) rows", rate(rowsSeconds)),
        ]
    }

    /// `runs` runs sent one request each, one every `spacing`: for each, the time from its
    /// acknowledgement to its rows (the root's row is in the trace's commit).
    func latency(runs: Int, spacing: Duration, firstRun: Int, traceWait: Double) async throws -> (String, String, String) {
        let pending = Mutex<[UUID: Date]>([:])
        let delays = Mutex<[Double]>([])
        let sending = Atomic<Bool>(true)
        let dsn = collector.dsn
        let watcher = Task {
            let connection = try PGConnection(dsn: dsn)
            var giveUpAt = Date.distantFuture
            while sending.load(ordering: .relaxed) || (!pending.withLock({ $0.isEmpty }) && Date() < giveUpAt) {
                if !sending.load(ordering: .relaxed), giveUpAt == .distantFuture { giveUpAt = Date().addingTimeInterval(60) }
                let ids = pending.withLock { Array($0.keys) }
                if !ids.isEmpty {
                    let found = try connection.exec(
                        "SELECT event_id::text FROM governance_audit_events WHERE event_id = ANY($1::uuid[])",
                        ["{" + ids.map(\.lowercasedString).joined(separator: ",") + "}"]
                    ).rows
                    let now = Date()
                    for row in found {
                        guard let id = row[0].flatMap({ UUID(uuidString: $0) }), let acked = pending.withLock({ $0.removeValue(forKey: id) }) else {
                            continue
                        }
                        delays.withLock { $0.append(now.timeIntervalSince(acked)) }
                    }
                }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        var failures = 0
        for n in 0..<runs {
            let spans = Self.run(firstRun + n)
            let root = OTLPSpanMapping.spanUUID(workflow: "bench", spans.last!.traceID, spans.last!.spanID)
            let answer = try await TestHTTP.request(
                "POST", collector.otlpURL + "/v1/traces", headers: headers,
                body: Gzip.compress(OTLPProtobuf.encodeTraceRequest(spans)))
            if answer.status == 200 { pending.withLock { $0[root] = Date() } } else { failures += 1 }
            try await Task.sleep(for: spacing)
        }
        sending.store(false, ordering: .relaxed)
        try await withTaskCancellationHandler {
            try await watcher.value
        } onCancel: {
            watcher.cancel()
        }
        let sorted = delays.withLock { $0.sorted() }
        func percentile(_ p: Double) -> String {
            sorted.isEmpty ? "-" : String(format: "%.2f s", sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
        }
        let missing = pending.withLock { $0.count }
        return (
            "span acknowledged → its trace's rows (trace_wait \(traceWait) s, one run per request every \(spacing))",
            "\(sorted.count) runs\(failures == 0 ? "" : " (\(failures) refused!)")\(missing == 0 ? "" : " (\(missing) never became rows!)")",
            "p50 \(percentile(0.5)), p99 \(percentile(0.99)), max \(sorted.last.map { String(format: "%.2f s", $0) } ?? "-")"
        )
    }
}
