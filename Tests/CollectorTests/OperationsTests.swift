import AuditStore
import Collector
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Pipeline
import Receivers
import Testing

/// One sample of a Prometheus text exposition: `name{label="value",…} number`.
struct MetricSample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// Parses the Prometheus text format (what a scraper reads); fails on a line it cannot read.
func parsePrometheus(_ text: String) throws -> [MetricSample] {
    var samples: [MetricSample] = []
    for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
        let (head, valueText) = (line[..<line.lastIndex(of: " ")!], line[line.index(after: line.lastIndex(of: " ")!)...])
        guard let value = Double(valueText) else { throw LocalPostgres.Failure(description: "bad sample value: \(line)") }
        var labels: [String: String] = [:]
        var name = String(head)
        if let open = head.firstIndex(of: "{") {
            name = String(head[..<open])
            let body = head[head.index(after: open)..<head.index(before: head.endIndex)]
            for pair in body.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
        }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }) else {
            throw LocalPostgres.Failure(description: "bad metric name: \(line)")
        }
        samples.append(MetricSample(name: name, labels: labels, value: value))
    }
    return samples
}

extension [MetricSample] {
    /// The value of the one sample with this name whose labels include `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matching = filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
        return matching.count == 1 ? matching[0].value : nil
    }
}

func scrape(_ telemetryURL: String) async throws -> (text: String, samples: [MetricSample]) {
    let response = try await TestHTTP.request("GET", telemetryURL + "/metrics")
    #expect(response.status == 200)
    #expect(response.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
    let text = String(decoding: response.body, as: UTF8.self)
    Transcript.shared?.append("metrics \(text)")
    return (text, try parsePrometheus(text))
}

@Suite("operations: metrics, health, graceful shutdown")
struct OperationsTests {
    @Test("after traffic, /metrics counts requests by status, events by outcome, processor refusals, redactions and commits; no token in it")
    func metricsAfterTraffic() async throws {
        let dsn = try await newDatabase()
        let yaml = collectorYAML(dsn: dsn).replacingOccurrences(
            of: "exporters:\n",
            with: """
                processors:
                  size_cap: { agent_id: 16 }
                  redaction: { local: true }
                  chain: { secret: "\(auditSecret)" }
                exporters:

                """
        ).replacingOccurrences(of: "      exporters: [postgres]", with: "      processors: [size_cap, redaction, chain]\n      exporters: [postgres]")
        try await RunningCollector.with(yaml: yaml) { collector in
            // Readiness is polled on the telemetry server, so the receiver counts only the requests below.
            let telemetry = try await collector.telemetryURL()
            #expect(try await waitForReady(telemetry, seconds: 60))

            let repeated = UUID()
            #expect(try await post(collector.eventsURL, wireEvent(id: repeated)).status == 201)
            #expect(try await post(collector.eventsURL, wireEvent(id: repeated)).status == 200)
            let dsnSecret = #"{"db":"postgresql://app:hunter2@db.internal:5432/prod"}"#
            let unchained = wireEvent(metadata: dsnSecret, clientHMAC: false)
            #expect(try await post(collector.eventsURL, unchained).status == 201)
            #expect(try await post(collector.eventsURL, wireEvent(agent: String(repeating: "a", count: 40))).status == 413)
            #expect(try await post(collector.eventsURL, wireEvent(), token: "wf_not_a_known_token").status == 401)
            #expect(try await post(collector.eventsURL, "{not json").status == 400)
            let batch = "[" + (0..<3).map { _ in wireEvent() }.joined(separator: ",") + "]"
            #expect(try await post(collector.batchURL, batch).status == 200)

            let (text, samples) = try await scrape(telemetry)
            let receiver = ["receiver": "ingest_http"]
            #expect(samples.value("governance_receiver_requests_total", receiver.merging(["status": "201"]) { a, _ in a }) == 2)
            #expect(samples.value("governance_receiver_requests_total", receiver.merging(["status": "200"]) { a, _ in a }) == 2)
            for status in ["413", "401", "400"] {
                #expect(samples.value("governance_receiver_requests_total", receiver.merging(["status": status]) { a, _ in a }) == 1, "\(status)")
            }
            #expect(samples.value("governance_receiver_events_total", receiver.merging(["outcome": "stored"]) { a, _ in a }) == 5)
            #expect(samples.value("governance_receiver_events_total", receiver.merging(["outcome": "duplicate"]) { a, _ in a }) == 1)
            #expect(samples.value("governance_receiver_events_total", receiver.merging(["outcome": "rejected"]) { a, _ in a }) == 1)
            #expect(samples.value("governance_processor_rejected_events_total", ["pipeline": "audit", "processor": "size_cap"]) == 1)
            #expect(samples.value("governance_processor_rejected_events_total", ["pipeline": "audit", "processor": "redaction"]) == 0)
            #expect(samples.value("governance_processor_redactions_total", ["processor": "redaction", "kind": "dsn"]) == 1)
            #expect(samples.value("governance_postgres_events_total", ["exporter": "postgres", "result": "stored"]) == 5)
            #expect(samples.value("governance_postgres_events_total", ["exporter": "postgres", "result": "duplicate"]) == 1)
            // Four commits carried 1 + 1 + 1 + 3 events (the rejected event never reached PostgreSQL).
            #expect(samples.value("governance_postgres_commit_batch_events_count") == 4)
            #expect(samples.value("governance_postgres_commit_batch_events_sum") == 6)
            #expect(samples.value("governance_postgres_commit_duration_seconds_count") == 4)
            #expect((samples.value("governance_postgres_commit_duration_seconds_sum") ?? 0) > 0)
            #expect(samples.value("governance_postgres_connected_writers") == 2)
            #expect((samples.value("process_resident_memory_bytes") ?? 0) > 1_000_000)
            #expect((samples.value("process_cpu_seconds_total") ?? 0) > 0)
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "5")
            #expect(!text.contains(testToken) && !text.contains("hunter2") && !text.contains("wf_not_a_known_token"))
            // Every family is typed and explained, as Prometheus expects.
            for name in Set(samples.map(\.name)) {
                let family = name.replacingOccurrences(of: "_bucket", with: "").replacingOccurrences(of: "_count", with: "").replacingOccurrences(
                    of: "_sum", with: "")
                let declared = text.contains("# TYPE \(family) ") ? family : name
                #expect(text.contains("# TYPE \(declared) "), "\(name) has no TYPE line")
                #expect(text.contains("# HELP \(declared) "), "\(name) has no HELP line")
            }
        }
    }

    @Test("the bridge's counters appear under the SDK's names, with its queue and a 402 disabling it")
    func bridgeMetrics() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: bridgeYAML(dsn: dsn, url: peer.url(), bridgeSettings: "    max_queue_size: 250")) { collector in
            try await collector.waitUntilReady()
            for _ in 0..<7 { #expect(try await post(collector.eventsURL, wireEvent()).status == 201) }
            #expect(try await eventually { peer.accepted.count == 7 })
            var faults = PlatformPeer.Faults()
            faults.failNext = 1
            faults.failStatus = 402
            peer.setFaults(faults)
            #expect(try await post(collector.eventsURL, wireEvent()).status == 201)
            #expect(try await eventually { collector.bridge.counters[.disabled] == 1 })

            let (text, samples) = try await scrape(try await collector.telemetryURL())
            let bridge = ["exporter": "platform_bridge"]
            #expect(samples.value("governance_platform_bridge_sent_total", bridge) == 7)
            #expect(samples.value("governance_platform_bridge_disabled", bridge) == 1)
            #expect(samples.value("governance_platform_bridge_queue_capacity", bridge) == 250)
            #expect(samples.value("governance_platform_bridge_queue_size", bridge) == 0)
            // The event the 402 answered is dropped as a 4xx, as the SDK counts it.
            #expect(samples.value("governance_platform_bridge_dropped_4xx_total", bridge) == 1)
            for name in ["dropped_queue_full", "dropped_5xx", "dropped_seq_conflict", "retries", "duplicates"] {
                #expect(samples.value("governance_platform_bridge_\(name)_total", bridge) == 0, "\(name)")
            }
            #expect(!text.contains(platformToken))
            for line in text.split(separator: "\n") where line.hasPrefix("# TYPE governance_") {
                let name = line.split(separator: " ")[2]
                #expect(text.contains("# HELP \(name) "), "\(name) has no HELP line")
            }
            await peer.stop()
        }
    }

    @Test("/healthz answers while /readyz follows PostgreSQL: 200, 503 while it is down, 200 again")
    func readinessFollowsPostgres() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        try await RunningCollector.with(yaml: collectorYAML(dsn: cluster.dsn)) { collector in
            let telemetry = try await collector.telemetryURL()
            #expect(try await waitForReady(telemetry, seconds: 60))
            let ready = try parseJSON(try await TestHTTP.request("GET", telemetry + "/readyz"))
            #expect(ready["checks"]?["pipeline.audit.postgres"] == .string("ready"))
            #expect(ready["checks"]?["receiver.ingest_http"] == .string("listening"))

            try cluster.stop()
            var down: HTTPResult?
            for _ in 0..<300 where down?.status != 503 {
                down = try? await TestHTTP.request("GET", telemetry + "/readyz")
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(down?.status == 503)
            #expect(try down.map(parseJSON)?["checks"]?["pipeline.audit.postgres"] == .string("unavailable"))
            #expect(try await TestHTTP.request("GET", telemetry + "/healthz").status == 200)

            try cluster.start()
            #expect(try await waitForReady(telemetry, seconds: 60))
        }
    }

    @Test("graceful shutdown drains: an accepted request still commits, new ones get 503 shutting_down, /readyz says so")
    func drainAnswers503() async throws {
        // A cluster of its own: the open transaction below would hold back other tests' durable bridges.
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let dsn = cluster.dsn
        // The blocked request must wait for the lock however long this busy machine takes to get
        // there, not be answered 503 by commit_timeout (its 10 s default) first.
        let yaml = collectorYAML(dsn: dsn).replacingOccurrences(
            of: "    max_reconnect_backoff: 0.2\n", with: "    max_reconnect_backoff: 0.2\n    commit_timeout: 600\n")
        let collector = try await RunningCollector.start(yaml: yaml)
        try await collector.waitUntilReady()
        let telemetry = try await collector.telemetryURL()
        #expect(try await post(collector.eventsURL, wireEvent()).status == 201)

        // Hold the table so the next commit waits, and wait until that request is stuck on it.
        let blocker = try PGConnection(dsn: dsn)
        try blocker.exec("BEGIN")
        try blocker.exec("LOCK TABLE governance_audit_events IN ACCESS EXCLUSIVE MODE")
        let inFlight = UUID()
        // Held up on purpose until the lock is released below, however slow the machine is meanwhile.
        let accepted = Task { try await post(collector.eventsURL, wireEvent(id: inFlight), timeoutSeconds: 600) }
        #expect(
            try await eventually {
                try blocker.exec("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'governance_audit_events'::regclass").rows.first?
                    .first == "1"
            })
        let stopping = Task { try await collector.stop() }
        let receiver = try #require(collector.collector.receivers["ingest_http"])
        #expect(try await eventually { !receiver.isListening })

        let refused: HTTPResult? = try await post(collector.eventsURL, wireEvent())
        #expect(refused?.status == 503)
        #expect(refused?.headers["retry-after"] == "1")
        #expect(try refused.map(parseJSON)?["error"] == .string("shutting_down"))
        let readiness = try await TestHTTP.request("GET", telemetry + "/readyz")
        #expect(readiness.status == 503)
        #expect(try parseJSON(readiness)["checks"]?["collector"] == .string("shutting_down"))

        try blocker.exec("COMMIT")
        #expect(try await accepted.value.status == 201)
        try await stopping.value
        #expect(try await storedIDs(dsn).contains(inFlight))
        #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "2")
    }
}

@Suite("the governance-collector binary on SIGTERM")
struct ShutdownSignalTests {
    /// Writes a config for the binary: ingest on `port`, a platform bridge to `peerURL`.
    func config(dsn: String, port: Int, peerURL: String, shutdownTimeout: Double) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gc-sigterm-\(UUID()).yaml").path
        try bridgeYAML(dsn: dsn, url: peerURL, bridgeSettings: "    shutdown_timeout: \(shutdownTimeout)")
            .replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(port)")
            .write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test("SIGTERM under load: exit 0 within the bridge's flush deadline, and every event that got a 2xx is stored")
    func sigtermUnderLoad() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        var faults = PlatformPeer.Faults()
        faults.delay = .seconds(60)
        peer.setFaults(faults)
        let dsn = try await newDatabase()
        let port = try LocalPostgres.freePort()
        let file = try config(dsn: dsn, port: port, peerURL: peer.url(), shutdownTimeout: 1)
        let log = file + ".log"
        defer { try? FileManager.default.removeItem(atPath: file); try? FileManager.default.removeItem(atPath: log) }
        let process = try spawnCollector(config: file, environment: ["GOVERNANCE_LOG_FORMAT": "json"], outputPath: log)
        let url = "http://127.0.0.1:\(port)"
        #expect(try await waitForReady(url, seconds: 60))

        let ids = (0..<400_000).map { _ in UUID() }
        let load = Task {
            await LoadDriver.run(connections: 16, total: ids.count, stopOnTransportError: true) { i in
                LoadDriver.Request(
                    url: url + IngestHTTPReceiver.eventsPath,
                    headers: ["Authorization: Bearer \(testToken)", "Content-Type: application/json"],
                    body: Array(wireEvent(id: ids[i]).utf8))
            }
        }
        // Under load means events are being committed when the signal comes; how many is the
        // machine's speed (a busy CI machine stored 1,756 in 30 s), not the behaviour under test.
        #expect(try await eventually(120) { (Int(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") ?? "0") ?? 0) >= 200 })
        process.kill(SIGTERM)
        // The bridge is stuck on a 60 s answer; its 1 s flush deadline cuts it. Waiting 30 s
        // leaves a slow machine 29 s for the drain and the last commits, and still tells a cut
        // request from one waited out.
        let exit = await process.exit(within: 30)
        let status = exit?.status
        let report = await load.value

        #expect(status == 0, "not stopped within 30 s: the flush deadline did not cut the 60 s answer")
        if exit == nil { process.stop(SIGKILL) }
        let acknowledged = Set(report.outcomes.filter { (200..<300).contains($0.status) }.map { ids[$0.index] })
        let stored = try await storedIDs(dsn)
        #expect(acknowledged.count >= 200)
        #expect(acknowledged.isSubset(of: stored), "\(acknowledged.subtracting(stored).count) acknowledged events are missing")
        // Every answer was a commit, a drain refusal, or a connection closed by the stopping server.
        #expect(report.outcomes.allSatisfy { [201, 503, 0].contains($0.status) }, "\(Set(report.outcomes.map(\.status)))")
        let output = try String(contentsOfFile: log, encoding: .utf8)
        Transcript.shared?.append(output)
        let lines = output.split(separator: "\n")
        #expect(lines.contains { $0.contains(#""event":"collector.shutting_down""#) })
        #expect(lines.contains { $0.contains(#""event":"platform.bridge.stopped""#) && $0.contains("unsent_at_shutdown") })
        #expect(lines.contains { $0.contains(#""event":"collector.stopped""#) })
        await peer.stop()
    }

    @Test("a second SIGTERM during the flush exits at once, naming what was left")
    func secondSignal() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        var faults = PlatformPeer.Faults()
        faults.delay = .seconds(30)
        peer.setFaults(faults)
        let dsn = try await newDatabase()
        let port = try LocalPostgres.freePort()
        let file = try config(dsn: dsn, port: port, peerURL: peer.url(), shutdownTimeout: 20)
        let log = file + ".log"
        defer { try? FileManager.default.removeItem(atPath: file); try? FileManager.default.removeItem(atPath: log) }
        let process = try spawnCollector(config: file, environment: ["GOVERNANCE_LOG_FORMAT": "json"], outputPath: log)
        let url = "http://127.0.0.1:\(port)"
        #expect(try await waitForReady(url, seconds: 60))
        for _ in 0..<5 { #expect(try await post(url + IngestHTTPReceiver.eventsPath, wireEvent()).status == 201) }
        #expect(try await eventually { peer.requestCount >= 1 })

        process.kill(SIGTERM)
        #expect(await process.exitStatus(within: 1) == nil, "the first signal waits for the bridge's 20 s flush")
        process.kill(SIGTERM)
        // Without the second signal the flush would go on for its remaining 19 s (the peer takes
        // 30 s): an exit within 10 s is the second signal's, with half that time as margin.
        let exit = await process.exit(within: 10)
        let status = exit?.status
        #expect(status == 1, "no forced exit within 10 s of the second signal")
        let output = try String(contentsOfFile: log, encoding: .utf8)
        Transcript.shared?.append(output)
        let lines = output.split(separator: "\n")
        let forced = lines.first { $0.contains(#""event":"collector.forced_exit""#) }
        #expect(forced?.contains("platform_bridge") == true, "\(forced ?? "no collector.forced_exit line")")
        if status == nil { process.stop(SIGKILL) }
        await peer.stop()
    }
}

@Suite("governance-collector tail")
struct TailTests {
    @Test("new events are those committed after tail starts, even while an older transaction still runs")
    func startsAfterCommittedRows() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            // A transaction with an id, still running: the horizon tail reads below stays before it.
            let older = try PGConnection(dsn: dsn)
            try older.exec("BEGIN")
            try older.exec("SELECT pg_current_xact_id()")
            let before = UUID(), after = UUID()
            #expect(try await post(collector.eventsURL, wireEvent(id: before)).status == 201)

            let output = FileManager.default.temporaryDirectory.appendingPathComponent("gc-tail-\(UUID()).out").path
            defer { try? FileManager.default.removeItem(atPath: output) }
            let tail = try ChildProcess.spawn([BinaryTests.binary, "tail", "--dsn", dsn, "--limit", "1", "--json"], outputPath: output)
            #expect(try await eventually { (try? String(contentsOfFile: output, encoding: .utf8))?.contains("tail: following") == true })
            #expect(try await post(collector.eventsURL, wireEvent(id: after)).status == 201)
            try older.exec("COMMIT")
            let status = await tail.exit(within: 60)?.status
            if status == nil { tail.kill(SIGKILL) }
            let printed = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("{") }
                .map { try JSONParser.parse(Array($0.utf8))["event_id"] }
            #expect(status == 0 && printed == [.string(after.lowercasedString)], "\(printed)")
        }
    }

    @Test("follows new events live with agent, kind and workflow filters; --since replays; control characters are escaped")
    func followsLive() async throws {
        let dsn = try await newDatabase()
        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            #expect(try await post(collector.eventsURL, wireEvent(agent: "agent-x", kind: "tool.before")).status == 201)

            let output = FileManager.default.temporaryDirectory.appendingPathComponent("gc-tail-\(UUID()).out").path
            defer { try? FileManager.default.removeItem(atPath: output) }
            let tail = try ChildProcess.spawn(
                [
                    BinaryTests.binary, "tail", "--dsn", dsn, "--agent", "agent-x", "--kind", "tool.*",
                    "--workflow", "wf-test", "--limit", "2", "--json",
                ], outputPath: output)
            #expect(try await eventually { (try? String(contentsOfFile: output, encoding: .utf8))?.contains("tail: following") == true })

            let shown = [UUID(), UUID()]
            #expect(try await post(collector.eventsURL, wireEvent(agent: "agent-y", kind: "tool.call")).status == 201)
            #expect(try await post(collector.eventsURL, wireEvent(agent: "agent-x", kind: "llm.call")).status == 201)
            #expect(try await post(collector.eventsURL, wireEvent(agent: "agent-x", kind: "tool.call"), token: otherToken).status == 201)
            #expect(try await post(collector.eventsURL, wireEvent(id: shown[0], agent: "agent-x", kind: "tool.call")).status == 201)
            #expect(try await post(collector.eventsURL, wireEvent(id: shown[1], agent: "agent-x", kind: "tool.result")).status == 201)
            // Started before these were posted, tail must see them as they commit; it polls every
            // 0.1 s (`--interval`), so 10 s is a wide margin for a busy machine, not the measure.
            let exit = await tail.exit(within: 10)
            let status = exit?.status
            #expect(status == 0, "tail did not print the two new events within 10 s")
            let events = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("{") }
                .map { try JSONParser.parse(Array($0.utf8)) }
            #expect(events.map { $0["event_id"] } == shown.map { .string($0.lowercasedString) })
            #expect(events.map { $0["workflow"] } == [.string("wf-test"), .string("wf-test")])
            if status == nil { tail.kill(SIGKILL) }

            // From a time in the past, text lines: the earlier event too, hostile text escaped.
            #expect(try await post(collector.eventsURL, wireEvent(agent: #"agent-\u001b[31mred"#, kind: "tool.call")).status == 201)
            let replay = FileManager.default.temporaryDirectory.appendingPathComponent("gc-tail-\(UUID()).out").path
            defer { try? FileManager.default.removeItem(atPath: replay) }
            let since = try ChildProcess.spawn(
                [BinaryTests.binary, "tail", "--dsn", dsn, "--since", "2026-11-24T00:00:00Z", "--limit", "7"], outputPath: replay)
            #expect(await since.exitStatus(within: 10) == 0)
            let lines = try String(contentsOfFile: replay, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("2026-") }
            #expect(lines.count == 7)
            #expect(lines.first?.contains("agent-x\ttool.before") == true)
            #expect(lines.last?.contains("agent-\\u{1b}[31mred") == true)
            #expect(!lines.contains { $0.contains("\u{1b}") })
        }
    }
}
