import AuditStore
import Collector
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Pipeline
import Receivers
import Testing

@Suite("platform bridge: durable mode and relays")
struct BridgeDurableTests {
    @Test("durable mode follows the table: nothing dropped while the platform fails, all delivered once it recovers")
    func durableOutlastsOutage() async throws {
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        let dsn = try await newDatabase()
        let collector = try await RunningCollector.start(yaml: bridgeYAML(dsn: dsn, url: peer.url(), bridgeSettings: "    durable: true"))
        try await collector.waitUntilReady()
        var ids: [String] = []
        for _ in 0..<20 {
            let id = UUID()
            ids.append(id.lowercasedString)
            #expect(try await post(collector.eventsURL, wireEvent(id: id)).status == 201)
        }
        #expect(try await eventually { peer.accepted.count == 20 })

        // The platform fails for a while; the default memory budget (15 s) would not matter here.
        var faults = PlatformPeer.Faults()
        faults.failNext = 40
        peer.setFaults(faults)
        let batch = (0..<100).map { _ in UUID() }
        ids += batch.map(\.lowercasedString)
        #expect(try await post(collector.batchURL, "[" + batch.map { wireEvent(id: $0) }.joined(separator: ",") + "]").status == 200)
        #expect(try await eventually(60) { peer.accepted.count == 120 })
        #expect(peer.accepted.map(\.eventID) == ids, "durable delivery follows commit order here")
        #expect(peer.accepted.map(\.seq) == Array(1...120))
        let counters = collector.bridge.counters
        #expect(counters[.dropped5xx] == 0 && counters[.droppedQueueFull] == 0)
        #expect(counters[.retries] >= 40)
        // Caught up: the follower's next look finds nothing new and reports no lag.
        #expect(try await eventually { counters.lagSeconds == 0 })
        try await collector.stop()
        #expect(try await scalar(dsn, "SELECT last_seq FROM governance_bridge_state") == "120")
        await peer.stop()
    }

    @Test("durable mode survives kill -9: every acknowledged event reaches the platform after a restart")
    func durableSurvivesKill() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: BinaryTests.binary), "build the executable first: swift build")
        let peer = try PlatformPeer(tokens: [platformToken: "wf-platform"])
        _ = try await peer.start()
        var faults = PlatformPeer.Faults()
        faults.delay = .milliseconds(2)  // delivery lags ingest, so the kill cuts it off mid-stream
        peer.setFaults(faults)
        let dsn = try await newDatabase()
        let port = try LocalPostgres.freePort()
        let configFile = FileManager.default.temporaryDirectory.appendingPathComponent("gc-durable-\(UUID()).yaml").path
        try bridgeYAML(dsn: dsn, url: peer.url(), bridgeSettings: "    durable: true")
            .replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(port)")
            .write(toFile: configFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: configFile) }

        let first = try spawnCollector(config: configFile)
        let url = "http://127.0.0.1:\(port)"
        try await waitForReady(url)
        let ids = (0..<3000).map { _ in UUID() }
        let report = await LoadDriver.run(connections: 8, total: ids.count, stopOnTransportError: true) { i in
            LoadDriver.Request(
                url: url + IngestHTTPReceiver.eventsPath,
                headers: ["Authorization: Bearer \(testToken)", "Content-Type: application/json"],
                body: Array(wireEvent(id: ids[i]).utf8))
        }
        let acknowledged = Set(report.outcomes.filter { (200..<300).contains($0.status) }.map { ids[$0.index].lowercasedString })
        #expect(acknowledged.count == ids.count)
        #expect(try await eventually { peer.accepted.count >= 200 })
        #expect(first.stop(SIGKILL) == 128 + SIGKILL)
        let deliveredBeforeKill = peer.accepted.count
        #expect(deliveredBeforeKill < ids.count, "the kill should have cut delivery off")

        peer.setFaults(.init())
        let second = try spawnCollector(config: configFile)
        defer { second.stop(SIGTERM) }
        #expect(
            try await eventually(60) { Set(peer.accepted.map(\.eventID)).isSuperset(of: acknowledged) },
            "missing on the platform: \(acknowledged.subtracting(peer.accepted.map(\.eventID)).count) of \(acknowledged.count), before kill \(deliveredBeforeKill), now \(peer.accepted.count), requests \(peer.requestCount)"
        )
        #expect(peer.accepted.map(\.seq) == Array(1...Int64(peer.accepted.count)), "the platform's seq has no gap")
    }

    @Test("relay: collector A's bridge into collector B's ingest_http; B stores the same events with their chain fields")
    func relay() async throws {
        let downstreamDSN = try await newDatabase()
        let downstream = try await RunningCollector.start(yaml: collectorYAML(dsn: downstreamDSN))
        try await downstream.waitUntilReady()
        let upstreamDSN = try await newDatabase()
        let upstream = try await RunningCollector.start(yaml: bridgeYAML(dsn: upstreamDSN, url: downstream.eventsURL, token: testToken))
        try await upstream.waitUntilReady()
        let ids = (0..<25).map { _ in UUID() }
        for id in ids { #expect(try await post(upstream.eventsURL, wireEvent(id: id)).status == 201) }
        #expect(try await eventually { upstream.bridge.counters[.sent] == 25 })
        #expect(try await storedIDs(downstreamDSN) == Set(ids))
        let columns = "event_id, session_id, agent_id, kind, metadata_json::text, prev_hash, hmac_value, created_at"
        let query = "SELECT string_agg(concat_ws('|', \(columns)), E'\\n' ORDER BY event_id) FROM governance_audit_events"
        #expect(try await scalar(downstreamDSN, query) == (try await scalar(upstreamDSN, query)))
        try await upstream.stop()
        try await downstream.stop()
    }

    @Test(
        "relay in batches (relay_batch_events), memory and durable: every event once, client seq 1…n in order, a 413 split in halves, nothing dropped",
        arguments: [false, true])
    func relayBatches(durable: Bool) async throws {
        let downstreamDSN = try await newDatabase()
        // The receiver takes at most 150 events per batch: the bridge's 500 are split until they fit.
        let downstream = try await RunningCollector.start(
            yaml: collectorYAML(dsn: downstreamDSN).replacingOccurrences(of: "max_batch_events: 1000", with: "max_batch_events: 150"))
        try await downstream.waitUntilReady()
        let upstreamDSN = try await newDatabase()
        let settings = "    relay_batch_events: 500\n    max_queue_size: 10000\n    durable: \(durable)"
        let upstream = try await RunningCollector.start(
            yaml: bridgeYAML(dsn: upstreamDSN, url: downstream.eventsURL, token: testToken, bridgeSettings: settings))
        try await upstream.waitUntilReady()
        var ids: [UUID] = []
        for _ in 0..<3 {
            let batch = (0..<1000).map { _ in UUID() }
            ids += batch
            let body = "[" + batch.map { wireEvent(id: $0) }.joined(separator: ",") + "]"
            #expect(try await post(upstream.batchURL, body).status == 200)
        }
        #expect(try await eventually(120) { upstream.bridge.counters[.sent] == ids.count })
        #expect(try await storedIDs(downstreamDSN) == Set(ids))
        // The bridge numbers what it sends in commit order, as the single-event protocol does.
        let order = "SELECT string_agg(event_id::text, ',' ORDER BY client_seq) FROM governance_audit_events"
        #expect(
            try await scalar(
                downstreamDSN,
                "SELECT count(DISTINCT client_seq)::text || ' ' || min(client_seq) || ' ' || max(client_seq) FROM governance_audit_events")
                == "3000 1 3000")
        #expect(
            try await scalar(downstreamDSN, order)
                == (try await scalar(upstreamDSN, "SELECT string_agg(event_id::text, ',' ORDER BY chain_seq) FROM governance_audit_events")))
        for counter in [DeliveryCounters.Name.droppedQueueFull, .dropped4xx, .dropped5xx, .droppedSeqConflict, .duplicates] {
            #expect(upstream.bridge.counters[counter] == 0, "\(counter)")
        }
        // The receiver refused the bridge's 500-event batches (413) before the halves fit.
        let (_, samples) = try await scrape(try await downstream.telemetryURL())
        #expect((samples.value("governance_receiver_requests_total", ["receiver": "ingest_http", "status": "413"]) ?? 0) > 0)
        try await upstream.stop()
        try await downstream.stop()
    }
}
