import Foundation
import GovernanceTesting
import Hummingbird

/// Single-event load from `wrk` (Debian's package), which costs the shared two cores under a
/// quarter of what the libcurl `LoadDriver` (a thread per connection) costs per request (the
/// bench prints both), so the single-event rows measure the collector rather than the driver. A Lua script gives every
/// request a fresh event_id (prefix, wrk thread, counter) in one of 64 sessions.
struct WrkLoad {
    struct Report {
        var requests: Int
        var seconds: Double
        var non2xx: Int
        var p50: String
        var p99: String
        /// CPU seconds wrk itself used.
        var driverCPU: Double
    }

    static let token = Bench.token

    /// Runs wrk for `seconds` against `url` (the single-event path), events with id prefix `prefix`.
    static func run(url: String, connections: Int, seconds: Int, prefix: Int, clientHMAC: Bool) throws -> Report {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk") else {
            throw BenchFailure("wrk is missing: run `bash scripts/install-deps.sh` (it installs Debian's wrk)")
        }
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("gc-bench-\(UUID()).lua").path
        let output = script + ".out"
        defer { for path in [script, output] { try? FileManager.default.removeItem(atPath: path) } }
        try luaScript.write(toFile: script, atomically: true, encoding: .utf8)
        let threads = min(2, connections)
        var before = rusage(), after = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &before)
        let status = try ChildProcess.spawn(
            [
                "/usr/bin/wrk", "-t\(threads)", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", script,
                url, "--", String(prefix), clientHMAC ? "hmac" : "chain",
            ], outputPath: output
        ).wait()
        getrusage(RUSAGE_CHILDREN.rawValue, &after)
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0, let requests = Self.number(in: text, before: " requests in") else {
            throw BenchFailure("wrk failed (\(status)): \(text.suffix(1000))")
        }
        func cpu(_ u: rusage) -> Double {
            Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
        }
        return Report(
            requests: Int(requests), seconds: Double(seconds), non2xx: Int(Self.number(in: text, after: "Non-2xx or 3xx responses:") ?? 0),
            p50: Self.percentile("50%", in: text) ?? "?", p99: Self.percentile("99%", in: text) ?? "?",
            driverCPU: cpu(after) - cpu(before))
    }

    private static func number(in text: String, before marker: String) -> Double? {
        guard let range = text.range(of: marker) else { return nil }
        return Double(text[..<range.lowerBound].split(whereSeparator: \.isWhitespace).last ?? "")
    }

    private static func number(in text: String, after marker: String) -> Double? {
        word(in: text, after: marker).flatMap(Double.init)
    }

    /// A row of wrk's "Latency Distribution" (`--latency`), e.g. `99%` → `5.91ms`.
    private static func percentile(_ row: String, in text: String) -> String? {
        guard let table = text.range(of: "Latency Distribution") else { return nil }
        return word(in: String(text[table.upperBound...]), after: row)
    }

    private static func word(in text: String, after marker: String) -> String? {
        guard let range = text.range(of: marker) else { return nil }
        return text[range.upperBound...].split(whereSeparator: \.isWhitespace).first.map(String.init)
    }

    /// The bench's wire event (`Bench.wire`), written by Lua. Arguments: id prefix, then `hmac`
    /// for events that carry a client HMAC (pipelines without a chain stage require one).
    static let luaScript = """
        local made = 0
        function setup(thread)
          made = made + 1
          thread:set("tid", made)
        end
        function init(args)
          counter = 0
          prefix = tonumber(args[1])
          hmac = args[2] == "hmac" and ',"client_hmac":"abcdef0123456789"' or ""
          wrk.method = "POST"
          wrk.headers["Authorization"] = "Bearer \(token)"
          wrk.headers["Content-Type"] = "application/json"
        end
        function request()
          counter = counter + 1
          local id = string.format("%08x-%04x-4000-8000-%012x", prefix, tid, counter)
          local session = string.format("%08x-0000-4000-8000-%012x", 255 - prefix % 256, counter % 64)
          local body = '{"event_id":"' .. id .. '","event_type":"tool.call","agent_id":"agent-' .. (counter % 64) ..
            '","seq":' .. counter .. ',"payload":{"session_id":"' .. session ..
            '","kind":"tool.call","created_at":"2026-11-24T12:00:00.000120+00:00","metadata":{"tool":"search","n":' .. counter ..
            '},"signature_status":"unsigned"},"prev_hash":""' .. hmac .. ',"sdk_version":"0.7.3"}'
          return wrk.format(nil, nil, nil, body)
        end
        """
}

/// The single-event rows' floor: a Hummingbird server (the collector's HTTP stack) that reads
/// the body and answers 201 with the collector's answer shape, doing nothing else. Runs as a
/// child process (`governance-bench --serve-bare PORT`), so its CPU is its own.
enum BareServer {
    static func serve(port: Int) async throws {
        let router = Router()
        router.post("/api/v1/ingest/events") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            return Response(
                status: .created, headers: [.contentType: "application/json"],
                body: .init(
                    byteBuffer: ByteBuffer(string: #"{"ok":true,"event_id":"00000000-0000-4000-8000-000000000000","status":"stored"}"# + "\n")))
        }
        router.get("/readyz") { _, _ in "ok" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await app.runService()
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
