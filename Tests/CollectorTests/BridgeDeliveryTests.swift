import AuditStore
import Collector
import Config
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Logging
import Pipeline
import Receivers
import Testing

let platformToken = "wf_platform_token_for_bridge_tests_9f3a"

/// A collector whose pipeline has a platform bridge; `bridgeSettings` are extra bridge lines.
func bridgeYAML(dsn: String, url: String, token: String = platformToken, enabled: Bool = true, bridgeSettings: String = "") -> String {
    """
    receivers:
      ingest_http:
        endpoint: 127.0.0.1:0
        tokens:
          - { workflow: wf-test, token_sha256: \(WorkflowTokens.sha256Hex(testToken)) }
    exporters:
      postgres:
        dsn: "\(dsn)"
      platform_bridge:
        platform_bridge_enabled: \(enabled)
        platform_ingest_url: "\(url)"
        platform_ingest_token: "\(token)"
        allow_loopback: true
        max_backoff: 0.05
    \(bridgeSettings)
    service:
      pipelines:
        audit:
          receivers: [ingest_http]
          exporters: [postgres, platform_bridge]
    """
}

extension RunningCollector {
    var bridge: PlatformBridgeExporter { collector.exporters["platform_bridge"] as! PlatformBridgeExporter }
}

@Suite("platform bridge against a real platform peer")
struct BridgeDeliveryTests {
    @Test("delivers committed events in order, seq 1…n, redacted; Postgres keeps the exact record")
    func deliversInOrder() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: bridgeYAML(dsn: dsn, url: peer.url()))
        try await collector.waitUntilReady()
        let secret = "sk-ant-api03-" + String(repeating: "Ab9", count: 30)
        var ids: [UUID] = []
        for i in 0..<40 {
            let id = UUID()
            ids.append(id)
            let metadata = i == 7 ? #"{"prompt":"use \#(secret) please"}"# : #"{"n":\#(i)}"#
            #expect(try await post(collector.eventsURL, wireEvent(id: id, metadata: metadata)).status == 201)
        }
        #expect(try await eventually { peer.accepted.count == 40 })
        let accepted = peer.accepted
        #expect(accepted.map(\.seq) == Array(1...40))
        #expect(accepted.map(\.eventID) == ids.map(\.lowercasedString))
        #expect(!accepted[7].body.contains(secret))
        #expect(accepted[7].body.contains("[REDACTED:anthropic_key]"))
        #expect(
            try await scalar(dsn, "SELECT metadata_json->>'prompt' FROM governance_audit_events WHERE event_id = '\(ids[7])'")?.contains(secret)
                == true)
        #expect(collector.bridge.counters[.sent] == 40)
        try await collector.stop()
        #expect(try await scalar(dsn, "SELECT last_seq FROM governance_bridge_state") == "40")
        await peer.stop()
    }

    @Test(
        "the pipeline's redaction processor is the copies' one redaction: its allowlist and extra pattern hold on the bridge",
        arguments: [false, true])
    func pipelineRedactionOnBridge(local: Bool) async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        let dsn = try await newDatabase()
        let allowed = "sk-ant-api03-" + String(repeating: "Al1", count: 30)
        let other = "sk-ant-api03-" + String(repeating: "Ot2", count: 30)
        let yaml = bridgeYAML(dsn: dsn, url: peer.url())
            .replacingOccurrences(
                of: "service:",
                with: """
                    processors:
                      redaction:
                        local: \(local)
                        allowlist: ["\(allowed)"]
                        extra_patterns: [{ name: employee_id, regex: 'EMP-[0-9]{6}' }]
                    service:
                    """
            )
            .replacingOccurrences(
                of: "      exporters: [postgres, platform_bridge]",
                with: "      processors: [redaction]\n      exporters: [postgres, platform_bridge]")
        let collector = try await RunningCollector.start(yaml: yaml)
        try await collector.waitUntilReady()
        // A client-chained event: `local` leaves its stored metadata alone, so only the copy is redacted.
        let metadata = #"{"allowed":"\#(allowed)","other":"\#(other)","employee":"EMP-123456"}"#
        #expect(try await post(collector.eventsURL, wireEvent(metadata: metadata)).status == 201)
        #expect(try await eventually { peer.accepted.count == 1 })
        let body = try #require(peer.accepted.first?.body)
        #expect(body.contains(#""allowed":"\#(allowed)""#), "the allowlisted value left as it is")
        #expect(body.contains(#""other":"[REDACTED:anthropic_key]""#))
        #expect(body.contains(#""employee":"[REDACTED:employee_id]""#))
        #expect(try await scalar(dsn, "SELECT metadata_json->>'other' FROM governance_audit_events") == other, "PostgreSQL keeps the exact record")
        try await collector.stop()
        await peer.stop()
    }

    @Test("outgoing metadata above 64 KiB is replaced by a marker; Postgres keeps all of it")
    func metadataCap() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: bridgeYAML(dsn: dsn, url: peer.url()))
        try await collector.waitUntilReady()
        let big = String(repeating: "a", count: 70_000)
        #expect(try await post(collector.eventsURL, wireEvent(metadata: #"{"blob":"\#(big)"}"#)).status == 201)
        #expect(try await eventually { peer.accepted.count == 1 })
        let body = try #require(peer.accepted.first?.body)
        #expect(body.contains(#""metadata":{"_governance_truncated":true,"original_bytes":70011}"#))
        #expect(try await scalar(dsn, "SELECT length(metadata_json->>'blob') FROM governance_audit_events") == "70000")
        try await collector.stop()
        await peer.stop()
    }

    @Test("HTTPS with a private CA: HTTP/2 when offered, delivered with ca_file, refused without it (verification stays on)")
    func httpsPrivateCA() async throws {
        let ca = try TestCA()
        defer { ca.remove() }
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"], certFile: ca.certFile, keyFile: ca.keyFile)
        _ = try await peer.start()
        let dsn = try await newDatabase()
        let trusting = try await RunningCollector.start(yaml: bridgeYAML(dsn: dsn, url: peer.url(), bridgeSettings: "    ca_file: \(ca.caFile)"))
        try await trusting.waitUntilReady()
        #expect(try await post(trusting.eventsURL, wireEvent()).status == 201)
        #expect(try await eventually { peer.accepted.count == 1 })
        #expect(peer.httpVersions == ["HTTP/2.0"], "the bridge should use the HTTP/2 the server offers")
        try await trusting.stop()

        let other = try await newDatabase()
        let untrusting = try await RunningCollector.start(yaml: bridgeYAML(dsn: other, url: peer.url(), bridgeSettings: "    retry_budget: 0.3"))
        try await untrusting.waitUntilReady()
        #expect(try await post(untrusting.eventsURL, wireEvent()).status == 201)
        #expect(try await eventually { untrusting.bridge.counters[.dropped5xx] == 1 })
        #expect(peer.accepted.count == 1)
        #expect(untrusting.bridge.counters[.sent] == 0)
        try await untrusting.stop()
        await peer.stop()
    }

    @Test("every row of the response table, in one delivery stream")
    func responseTable() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        let elsewhere = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await elsewhere.start()
        let dsn = try await newDatabase()
        let logs = LogCapture()
        let collector = try await RunningCollector.start(
            yaml: bridgeYAML(dsn: dsn, url: peer.url(), bridgeSettings: "    retry_budget: 2"),
            logger: logs.logger)
        try await collector.waitUntilReady()
        let counters = collector.bridge.counters
        func send() async throws -> String {
            let id = UUID()
            #expect(try await post(collector.eventsURL, wireEvent(id: id)).status == 201)
            return id.lowercasedString
        }

        // 2xx
        _ = try await send()
        #expect(try await eventually { counters[.sent] == 1 })

        // 5xx twice, then accepted: retried silently.
        var faults = PlatformPeer.Faults()
        faults.failNext = 2
        peer.setFaults(faults)
        _ = try await send()
        #expect(try await eventually { counters[.sent] == 2 })
        #expect(counters[.retries] == 2)

        // 429 with Retry-After: 1 waits at least a second.
        faults = .init()
        faults.rateLimitNext = 1
        peer.setFaults(faults)
        let before429 = Date()
        _ = try await send()
        #expect(try await eventually { counters[.sent] == 3 })
        #expect(Date().timeIntervalSince(before429) >= 1)

        // 413: dropped, and the next event reuses the seq the dropped one did not consume.
        faults = .init()
        faults.failNext = 1
        faults.failStatus = 413
        peer.setFaults(faults)
        _ = try await send()
        #expect(try await eventually { counters[.dropped4xx] == 1 })
        _ = try await send()
        #expect(try await eventually { counters[.sent] == 4 })
        #expect(peer.accepted.map(\.seq) == [1, 2, 3, 4])
        #expect(logs.lines("platform.bridge.dropped_4xx").first?.metadata["status"] == "413")

        // 409 seq_out_of_order: the platform's counter moved on; retried once with its seq.
        peer.setLastSeq(100, workflow: "wf-platform")
        let moved = try await send()
        #expect(try await eventually { counters[.sent] == 5 })
        #expect(peer.accepted.last == peer.accepted.first { $0.eventID == moved })
        #expect(peer.accepted.last?.seq == 101)

        // A redirect is never followed.
        faults = .init()
        faults.redirectTo = elsewhere.url()
        peer.setFaults(faults)
        _ = try await send()
        #expect(try await eventually { counters[.dropped4xx] == 2 })
        #expect(elsewhere.requestCount == 0)
        peer.setFaults(.init())

        // 401: the token was revoked; the bridge disables itself and sends nothing more.
        peer.revoke(platformToken)
        _ = try await send()
        #expect(try await eventually { counters[.disabled] == 1 })
        let requestsWhenDisabled = peer.requestCount
        _ = try await send()
        _ = try await send()
        // A disabled bridge takes nothing: both were answered after the bridge's export returned,
        // and nothing was queued for the sender to send later.
        #expect(collector.bridge.queueSize == 0)
        #expect(peer.requestCount == requestsWhenDisabled)
        let disabledLines = logs.lines("platform.bridge.self_disabled")
        #expect(disabledLines.count == 1)
        #expect(disabledLines.first?.metadata["token"] == ConfigSection.fingerprint(platformToken))
        #expect(!logs.lines.contains { $0.text.contains(platformToken) }, "the token appeared in a log line")
        #expect(counters[.sent] == 5)
        try await collector.stop()
        await peer.stop()
        await elsewhere.stop()
    }

    @Test("a 429's Retry-After is waited on the collector's clock: the retry comes when the clock passes it, not before")
    func retryAfterOnTheClock() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        let dsn = try await newDatabase()
        let clock = TestClock()
        try await RunningCollector.with(yaml: bridgeYAML(dsn: dsn, url: peer.url(), bridgeSettings: "    retry_budget: 600"), clock: clock) {
            collector in
            try await collector.waitUntilReady()
            let counters = collector.bridge.counters
            var faults = PlatformPeer.Faults()
            (faults.rateLimitNext, faults.retryAfter) = (1, "30")
            peer.setFaults(faults)
            #expect(try await post(collector.eventsURL, wireEvent()).status == 201)
            // Refused once; the sender now waits 30 s on the test clock (no other timer of the collector is that long).
            #expect(try await eventually { counters[.retries] == 1 && clock.sleepers(dueAt: .seconds(30)) == 1 })
            clock.advance(by: .seconds(29))
            #expect(clock.sleepers(dueAt: .seconds(30)) == 1 && counters[.sent] == 0 && peer.accepted.isEmpty, "not before Retry-After")
            clock.advance(by: .seconds(1))
            #expect(try await eventually { counters[.sent] == 1 })
            #expect(peer.accepted.map(\.seq) == [1] && counters[.retries] == 1)
        }
        await peer.stop()
    }

    @Test(
        "5xx beyond retry_budget: dropped after the budget's worth of backoff on the clock, and a wait that resumes late does not spend it"
    )
    func retryBudgetOnTheClock() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        var faults = PlatformPeer.Faults()
        faults.failNext = 1000
        peer.setFaults(faults)
        let dsn = try await newDatabase()
        let clock = TestClock()
        // max_backoff 0.05: four waits (0.20 s) fit the budget, a fifth would not.
        try await RunningCollector.with(yaml: bridgeYAML(dsn: dsn, url: peer.url(), bridgeSettings: "    retry_budget: 0.22"), clock: clock) {
            collector in
            try await collector.waitUntilReady()
            let counters = collector.bridge.counters
            #expect(try await post(collector.eventsURL, wireEvent()).status == 201)
            for retry in 1...4 {
                // Each wait asks for 0.05 s; the clock then jumps a whole second, as a busy collector resumes late.
                let due = Duration.seconds(retry - 1) + .seconds(0.05)
                #expect(try await eventually { counters[.retries] == retry && clock.sleepers(dueAt: due) == 1 })
                #expect(counters[.dropped5xx] == 0, "still within the budget after \(retry - 1) late waits")
                clock.advance(by: .seconds(1))
            }
            #expect(try await eventually { counters[.dropped5xx] == 1 })
            #expect(counters[.retries] == 4 && counters[.sent] == 0)
            #expect(peer.requestCount == 5)
        }
        await peer.stop()
    }

    @Test("402 disables the bridge like 401")
    func paymentRequired() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        var faults = PlatformPeer.Faults()
        faults.failNext = 1
        faults.failStatus = 402
        peer.setFaults(faults)
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: bridgeYAML(dsn: dsn, url: peer.url()))
        try await collector.waitUntilReady()
        #expect(try await post(collector.eventsURL, wireEvent()).status == 201)
        #expect(try await eventually { collector.bridge.counters[.disabled] == 1 })
        #expect(collector.bridge.counters.disabledReason?.contains("402") == true)
        try await collector.stop()
        await peer.stop()
    }

    @Test("relay_batch_events against the platform (no batch endpoint, 404) disables the bridge naming why, instead of dropping every batch")
    func relayAgainstThePlatform() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: bridgeYAML(dsn: dsn, url: peer.url(), bridgeSettings: "    relay_batch_events: 100"))
        try await collector.waitUntilReady()
        #expect(try await post(collector.eventsURL, wireEvent()).status == 201)
        #expect(try await eventually { collector.bridge.counters[.disabled] == 1 })
        #expect(collector.bridge.counters.disabledReason?.contains("404") == true)
        #expect(collector.bridge.counters.disabledReason?.contains("relay_batch_events") == true)
        #expect(collector.bridge.counters[.sent] == 0)
        try await collector.stop()
        await peer.stop()
    }

    @Test("a restarted collector continues the platform's seq without a 409 round trip")
    func restartKeepsSeq() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        let dsn = try await newDatabase()
        for round in 1...2 {
            let collector = try await RunningCollector.start(yaml: bridgeYAML(dsn: dsn, url: peer.url()))
            try await collector.waitUntilReady()
            for _ in 0..<5 { #expect(try await post(collector.eventsURL, wireEvent()).status == 201) }
            #expect(try await eventually { peer.accepted.count == 5 * round })
            #expect(collector.bridge.counters[.retries] == 0)
            try await collector.stop()
        }
        #expect(peer.accepted.map(\.seq) == Array(1...10))
        #expect(peer.requestCount == 10, "a 409 round trip happened")
        await peer.stop()
    }

    @Test("SSRF guard at connect time: names pinned to loopback are refused; the literal dev hosts are allowed")
    func ssrfAtConnect() async throws {
        let ca = try TestCA(names: ["platform.example.com"])
        defer { ca.remove() }
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"], certFile: ca.certFile, keyFile: ca.keyFile)
        let port = try await peer.start()
        for address in ["127.0.0.1", "[::1]"] {
            let dsn = try await newDatabase()
            let logs = LogCapture()
            let collector = try await RunningCollector.start(
                yaml: bridgeYAML(
                    dsn: dsn, url: "https://platform.example.com:\(port)/api/v1/ingest/events",
                    bridgeSettings: "    ca_file: \(ca.caFile)\n    retry_budget: 0.2\n    resolve: [\"platform.example.com:\(port):\(address)\"]"),
                logger: logs.logger)
            try await collector.waitUntilReady()
            #expect(try await post(collector.eventsURL, wireEvent()).status == 201)
            #expect(try await eventually { collector.bridge.counters[.dropped5xx] == 1 })
            let refused = logs.lines("platform.bridge.address_refused")
            #expect(refused.count == 1)
            #expect(refused.first?.metadata["reason"]?.contains("loopback") == true)
            try await collector.stop()
        }
        #expect(peer.requestCount == 0, "the guard let a connection through")

        // Positive control: the same peer is reachable through the literal development host.
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(
            yaml: bridgeYAML(
                dsn: dsn, url: "https://localhost:\(port)/api/v1/ingest/events",
                bridgeSettings: "    ca_file: \(ca.caFile)"))
        try await collector.waitUntilReady()
        #expect(try await post(collector.eventsURL, wireEvent()).status == 201)
        #expect(try await eventually { peer.accepted.count == 1 })
        try await collector.stop()
        await peer.stop()
    }

    @Test("start-up: one INFO when credentials lack the flag, one WARN naming the URL when active, never the token")
    func startupLines() async throws {
        let url = "http://127.0.0.1:9/api/v1/ingest/events"
        let dsn = try await newDatabase()
        let off = LogCapture()
        let idle = try await RunningCollector.start(yaml: bridgeYAML(dsn: dsn, url: url, enabled: false), logger: off.logger)
        try await idle.waitUntilReady()
        try await idle.stop()
        #expect(off.lines("platform.bridge_disabled").count == 1)
        #expect(off.lines("platform.bridge_disabled").first?.level == .info)
        #expect(off.lines("platform.bridge_enabled").isEmpty)

        let on = LogCapture()
        let active = try await RunningCollector.start(yaml: bridgeYAML(dsn: dsn, url: url), logger: on.logger)
        try await active.waitUntilReady()
        try await active.stop()
        let warnings = on.lines("platform.bridge_enabled")
        #expect(warnings.count == 1)
        #expect(warnings.first?.level == .warning)
        #expect(warnings.first?.metadata["url"] == "http://127.0.0.1:9/api/v1/ingest/events")
        #expect(warnings.first?.metadata["data_residency"]?.contains("64 KiB") == true)
        #expect(on.lines("platform.bridge_disabled").isEmpty)
        #expect(!(off.lines + on.lines).contains { $0.text.contains(platformToken) })
    }

    @Test("ingest is unaffected while the platform is down or slow: every event stored, bridge drops counted")
    func ingestUnaffected() async throws {
        let slow = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await slow.start()
        var faults = PlatformPeer.Faults()
        faults.delay = .seconds(2)
        slow.setFaults(faults)
        for url in ["http://127.0.0.1:9/api/v1/ingest/events", slow.url()] {
            let dsn = try await newDatabase()
            let logs = LogCapture()
            let collector = try await RunningCollector.start(
                yaml: bridgeYAML(dsn: dsn, url: url, bridgeSettings: "    max_queue_size: 100\n    shutdown_timeout: 0.5"),
                logger: logs.logger)
            try await collector.waitUntilReady()
            for _ in 0..<4 {
                let batch = "[" + (0..<500).map { _ in wireEvent() }.joined(separator: ",") + "]"
                #expect(try await post(collector.batchURL, batch).status == 200)
            }
            #expect(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") == "2000")
            #expect(collector.bridge.counters[.droppedQueueFull] >= 1800)
            #expect(collector.bridge.queueSize <= 100)
            try await collector.stop()
            // Delivering the queued events would take 2 s each at the slow peer: events left unsent
            // prove the flush deadline ended the shutdown. (At the dead port there is nothing to
            // wait for: every attempt fails at once.)
            if url == slow.url() {
                let stopped = try #require(logs.lines("platform.bridge.stopped").first)
                #expect(Int(stopped.metadata["unsent_at_shutdown"] ?? "") ?? 0 >= 1, "shutdown must respect the bridge's flush deadline")
            }
        }
        await slow.stop()
    }
}
