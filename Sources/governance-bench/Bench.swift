import ArgumentParser
import AuditStore
import Collector
import Crypto
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import OTLP
import Pipeline
import Processors
import Receivers

/// Measures the collector against a baseline taken in the same run, on the same machine:
/// raw binary `COPY` of the same rows into the same table. Prints a Markdown table.
/// Starts its own PostgreSQL cluster (fsync on) and the real collector binary as a child
/// process, so RSS is the collector's alone.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "governance-bench",
        abstract: "Benchmark ingest throughput and latency against a raw COPY baseline.")

    @Option(help: "Events for the COPY baseline and for batch ingest.")
    var events = 200_000
    @Option(help: "Events per batch request.")
    var batchSize = 1000
    @Option(help: "Concurrent connections for batch ingest.")
    var batchConnections = 4
    @Option(help: "Single-event POSTs per concurrency level.")
    var singleEvents = 40_000
    @Option(help: "Concurrency levels for single-event POSTs (comma-separated).")
    var concurrency = "1,16,64"
    @Flag(help: "Measure only the platform bridge rows.")
    var bridgeOnly = false
    @Flag(help: "Run the fault suite (kill -9, PostgreSQL restarted and frozen, platform faults) instead of the benchmark.")
    var faults = false
    @Flag(
        help:
            "Run the hostile-client suite (slow headers and bodies, idle connections, maximum bodies, malformed framing, fuzz inputs, a flooding token holder, gRPC gzip bombs and preface-only connections, many-session OTLP requests, slow telemetry headers) beside a paced honest client of another workflow."
    )
    var hostile = false
    @Option(help: "Seconds each hostile attack runs.")
    var hostileSeconds = 20.0
    @Option(help: "Run only the hostile attacks whose name contains this text (the baseline always runs).")
    var hostileOnly: String?
    @Option(help: "Run a soak test of this many seconds (e.g. 600) instead of the benchmark: steady load at half of capacity, RSS and CPU over time.")
    var soak: Double?
    @Flag(help: "Also run the reference Python SDK (code-atelier-governance 0.7.3 from PyPI, in .build/interop-venv) on the same work.")
    var referenceSDK = false
    @Option(help: "Events in the table for the timeline UI's page-load rows.")
    var timelineEvents = 1_000_000
    @Flag(help: "Measure only the timeline UI's page loads.")
    var timelineOnly = false
    @Option(help: "Rows in the table for the signed-checkpoint rows.")
    var checkpointEvents = 1_000_000
    @Flag(help: "Measure only the signed-checkpoint rows.")
    var checkpointOnly = false
    @Flag(help: "Only the COPY baseline and the GenAI trace rows (staging, assembly, latency).")
    var tracesOnly = false
    @Option(help: "The governance-collector binary (default: next to this one).")
    var collector: String?
    @Option(help: "Seconds of wrk load per single-event row.")
    var singleSeconds = 10
    @Option(help: .hidden)
    var serveBare: Int?

    static let token = "wf_benchmark_token_not_secret_000"

    var binary: String {
        collector ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("governance-collector").path
    }

    func run() async throws {
        if let serveBare { return try await BareServer.serve(port: serveBare) }
        if faults { return try await FaultSuite(binary: binary).run() }
        if hostile { return try await HostileSuite(binary: binary, seconds: hostileSeconds, only: hostileOnly).run() }
        if let soak { return try await Soak(binary: binary, seconds: soak).run() }
        let cluster = try LocalPostgres(fsync: true)
        defer { cluster.destroy() }
        var rows: [(String, String, String)] = []
        if timelineOnly {
            rows += try await TimelineBench(binary: binary, events: timelineEvents).run(cluster: cluster)
            return Self.print(rows)
        }
        if checkpointOnly {
            rows += try await CheckpointBench(binary: binary, events: checkpointEvents).run(cluster: cluster)
            return Self.print(rows)
        }

        // 1. Baseline: raw binary COPY into the same (empty, indexed, migrated) table.
        let copyDSN = try cluster.createDatabase("bench_copy")
        let connection = try PGConnection(dsn: copyDSN)
        try AuditSchema.migrate(connection)
        let generated = (0..<events).map { Self.event($0) }
        let t0 = Date()
        try connection.exec("BEGIN")
        for chunk in stride(from: 0, to: generated.count, by: 50_000) {
            try connection.copyIn(AuditRow.copyStatement, data: AuditRow.encode(Array(generated[chunk..<min(chunk + 50_000, generated.count)])))
        }
        try connection.exec("COMMIT")
        let copyRate = Double(events) / Date().timeIntervalSince(t0)
        rows.append(("raw binary COPY (baseline)", "\(events) rows", "\(Int(copyRate)) rows/s"))

        if tracesOnly {
            let collector = try startCollector(cluster: cluster, database: "bench_traces", processors: ["size_cap", "sanitize", "seq", "chain"])
            defer { collector.stop() }
            rows += try await traceRows(collector, copyRate: copyRate)
            return Self.print(rows)
        }

        let headers = ["Authorization: Bearer \(Self.token)", "Content-Type: application/json"]
        // Request bodies are built before the clock starts, as the COPY rows were.
        func batchBodies(prefix: Int, chained: Bool) -> [[UInt8]] {
            stride(from: 0, to: events, by: batchSize).map { start in
                Array(
                    ("[" + (start..<min(start + batchSize, events)).map { Self.wire($0, prefix: prefix, clientHMAC: chained) }.joined(separator: ",")
                        + "]").utf8)
            }
        }
        func measureBatches(_ collector: RunningCollector, _ bodies: [[UInt8]], label: String) async {
            let cpuBefore = Self.cpuSeconds(collector.child.pid)
            let report = await LoadDriver.run(connections: batchConnections, total: bodies.count) { b in
                .init(url: collector.url + IngestHTTPReceiver.batchPath, headers: headers, body: bodies[b])
            }
            let ok = report.outcomes.allSatisfy { $0.status == 200 }
            let rate = Double(events) / report.seconds
            rows.append(
                (
                    label, "\(events) events\(ok ? "" : " (errors!)")",
                    "\(Int(rate)) events/s = \(String(format: "%.2f", rate / copyRate))× COPY; "
                        + Self.cpuPer10k(Self.cpuSeconds(collector.child.pid) - cpuBefore, events: events)
                ))
        }
        var singleRates: [Int: Double] = [:]
        var bridgeCapacity = 0.0

        if !bridgeOnly {
            // 2. The collector as a child process: plain, and with the full processor chain
            //    (size_cap, sanitize, seq, chain) on events it must chain itself.
            let plain = try startCollector(cluster: cluster, database: "bench_ingest", processors: [])
            defer { plain.stop() }

            // 3. Batch endpoint.
            await measureBatches(
                plain, batchBodies(prefix: 1, chained: true), label: "batch ingest (\(batchSize)/request, \(batchConnections) conns)")

            // 3b. OTLP/HTTP protobuf, as an OpenTelemetry SDK or collector sends it (gzip, 1000 records
            //     per request), each record carrying a client HMAC like the batch rows. An empty
            //     protobuf answer means every record was stored (no partial_success).
            /// Events as protobuf OTLP bodies of `perRequest` items (gzip), each with its own id prefix.
            func otlpBodies(perRequest: Int, prefix: Int, gzip: Bool = true, _ encode: ([AuditEvent]) -> [UInt8]) -> [[UInt8]] {
                stride(from: 0, to: events, by: perRequest).map { start in
                    let body = encode(
                        (start..<min(start + perRequest, events)).map { i in
                            var event = Self.event(i)
                            event.eventID = UUID(uuidString: Self.id(i, prefix: prefix))!
                            return event
                        })
                    return gzip ? Gzip.compress(body) : body
                }
            }
            let resource = [OTLPAttribute("service.name", .string("bench"))]
            /// One OTLP/HTTP row: the bodies posted to `path`, rated against COPY.
            func otlpHTTPRow(_ label: String, unit: String, path: String, _ bodies: [[UInt8]]) async {
                let report = await LoadDriver.run(connections: batchConnections, total: bodies.count, keepBodies: true) { b in
                    .init(
                        url: plain.otlpURL + path,
                        headers: ["Authorization: Bearer \(Self.token)", "Content-Type: application/x-protobuf", "Content-Encoding: gzip"],
                        body: bodies[b])
                }
                let rate = Double(events) / report.seconds
                rows.append(
                    (
                        label,
                        "\(events) \(unit)\(report.outcomes.allSatisfy { $0.status == 200 && $0.body.isEmpty } ? "" : " (errors or partial success!)")",
                        "\(Int(rate)) events/s = \(String(format: "%.2f", rate / copyRate))× COPY"
                    ))
            }
            await otlpHTTPRow(
                "OTLP/HTTP protobuf ingest (gzip, \(batchSize) records/request, \(batchConnections) conns)", unit: "records", path: "/v1/logs",
                otlpBodies(perRequest: batchSize, prefix: 0x0B) { events in
                    OTLPProtobuf.encodeRequest(
                        events.map {
                            var r = OTLPMapping.record(from: $0); r.resource = resource; return r
                        })
                })

            // 3c. OTLP/HTTP traces: the same events as spans (the SDK exporter's shape, with the
            //     exact metadata and client HMAC, so no chaining), 512 per request.
            await otlpHTTPRow(
                "OTLP/HTTP traces ingest (protobuf, gzip, 512 spans/request, \(batchConnections) conns)", unit: "spans", path: "/v1/traces",
                otlpBodies(perRequest: 512, prefix: 0x0C) { events in
                    OTLPProtobuf.encodeTraceRequest(
                        events.map {
                            var s = OTLPSpanMapping.span(from: $0); s.resource = resource; return s
                        })
                })

            // 3d. OTLP/gRPC logs, as an OpenTelemetry SDK's gRPC exporter sends them (gzip per message).
            //     Two calls at a time: a gzip message may inflate to the transport's ceiling, so each
            //     holds 16 MiB of the budget, and one workflow's share (a quarter) holds two.
            let grpcBodies = otlpBodies(perRequest: batchSize, prefix: 0x0D, gzip: false) { events in
                OTLPProtobuf.encodeRequest(
                    events.map {
                        var r = OTLPMapping.record(from: $0); r.resource = resource; return r
                    })
            }
            let grpcCalls = 2
            let grpcReport = try await GRPCLoad.run(port: plain.grpcPort, token: Self.token, bodies: grpcBodies, connections: grpcCalls)
            let grpcRate = Double(events) / grpcReport.seconds
            rows.append(
                (
                    "OTLP/gRPC logs ingest (gzip, \(batchSize) records/request, \(grpcCalls) concurrent calls)",
                    "\(events) records\(grpcReport.allAccepted ? "" : " (errors or partial success!)")",
                    "\(Int(grpcRate)) events/s = \(String(format: "%.2f", grpcRate / copyRate))× COPY"
                ))

            // 4. Single-event POSTs, as the SDK bridge sends them, driven by wrk and set beside the
            //    floor: the same load against a bare server of the same HTTP stack.
            let floor = try await measureFloor(&rows)
            for (offset, level) in concurrencyLevels.enumerated() {
                singleRates[level] = try singleEventRow(
                    &rows, plain, label: "single-event POST, \(level) conns", connections: level,
                    prefix: 2 + offset, clientHMAC: true, floor: floor)
            }
            rows.append(("collector peak RSS (after all of the above)", "", peakRSS(plain.child.pid)))

            // 5. The full processor chain: the collector sanitizes, numbers and HMAC-chains every event.
            let chained = try startCollector(cluster: cluster, database: "bench_chain", processors: ["size_cap", "sanitize", "seq", "chain"])
            defer { chained.stop() }
            await measureBatches(chained, batchBodies(prefix: 9, chained: false), label: "batch ingest, full chain (size_cap, sanitize, seq, chain)")
            // 5b. GenAI traces, which the collector chains: staging, assembly, and the delay to rows.
            rows += try await traceRows(chained, copyRate: copyRate)
            for (offset, level) in concurrencyLevels.enumerated() {
                _ = try singleEventRow(
                    &rows, chained, label: "single-event POST, full chain, \(level) conns", connections: level,
                    prefix: 0x30 + offset, clientHMAC: false, floor: floor)
            }
            // Two collector processes on one database, full chain, one workflow: their seq counter
            // row and session chains are shared, so this is the cost of staying gapless and fork-free.
            do {
                let second = try startCollector(
                    cluster: cluster, database: "bench_chain", processors: ["size_cap", "sanitize", "seq", "chain"], createDatabase: false)
                defer { second.stop() }
                let before = try storedCount(chained)
                let cpuBefore = Self.cpuSeconds(chained.child.pid) + Self.cpuSeconds(second.child.pid)
                // wrk blocks its thread while it runs: one run on a detached task, the other here.
                let first = Task.detached { [singleSeconds] in
                    try WrkLoad.run(
                        url: chained.url + IngestHTTPReceiver.eventsPath, connections: 32, seconds: singleSeconds, prefix: 0x38, clientHMAC: false)
                }
                let other = try WrkLoad.run(
                    url: second.url + IngestHTTPReceiver.eventsPath, connections: 32, seconds: singleSeconds, prefix: 0x39, clientHMAC: false)
                let one = try await first.value
                let stored = try storedCount(chained) - before
                let cpu = Self.cpuSeconds(chained.child.pid) + Self.cpuSeconds(second.child.pid) - cpuBefore
                let rate = Double(stored) / Double(singleSeconds)
                rows.append(
                    (
                        "two collectors, one database, full chain, 32 conns each",
                        "\(stored) stored\(one.non2xx + other.non2xx > 0 ? " (\(one.non2xx + other.non2xx) non-2xx!)" : "")",
                        "\(Int(rate)) events/s together; collectors' CPU \(Self.microseconds(cpu, per: stored)) µs/event"
                    ))
            }

        }

        // 6. The platform bridge: delivery to a local platform peer, one workflow (one request
        //    in flight), under single-event ingest at 16 connections; then batch ingest while
        //    the platform is down or slow, against the bridge-off figure above.
        let peer = try PlatformPeer(tokens: Dictionary(uniqueKeysWithValues: (0..<6).map { ("wf_bench_platform_\($0)", "platform-\($0)") }))
        _ = try await peer.start()
        func waitForDelivery(_ expected: Int, since before: Int) async throws -> (delivered: Int, at: Date) {
            // Done when every expected event arrived or nothing arrived for 3 s.
            var delivered = peer.accepted.count - before, lastChange = Date()
            while delivered < expected, Date().timeIntervalSince(lastChange) < 3 {
                try await Task.sleep(for: .milliseconds(2))
                let now = peer.accepted.count - before
                if now != delivered { (delivered, lastChange) = (now, Date()) }
            }
            return (delivered, lastChange)
        }
        // Capacity: events committed by batch ingest with a queue large enough to hold them all,
        // then the time the bridge takes to deliver them with nothing else running.
        do {
            let bridged = try startCollector(
                cluster: cluster, database: "bench_bridge_capacity", processors: [],
                bridge: (url: peer.url(), token: "wf_bench_platform_0", durable: false, queue: singleEvents))
            defer { bridged.stop() }
            let bodies = stride(from: 0, to: singleEvents, by: batchSize).map { start in
                Array(("[" + (start..<min(start + batchSize, singleEvents)).map { Self.wire($0, prefix: 20) }.joined(separator: ",") + "]").utf8)
            }
            let before = peer.accepted.count
            _ = await LoadDriver.run(connections: 1, total: bodies.count) {
                .init(url: bridged.url + IngestHTTPReceiver.batchPath, headers: headers, body: bodies[$0])
            }
            let ingested = Date(), firstDelivered = peer.accepted.count - before
            let (delivered, at) = try await waitForDelivery(singleEvents, since: before)
            bridgeCapacity = Double(delivered - firstDelivered) / at.timeIntervalSince(ingested)
            rows.append(
                (
                    "bridge capacity, 1 workflow (one request in flight), local peer", "\(singleEvents) queued events",
                    "\(Int(bridgeCapacity)) events/s, \(singleEvents - delivered) dropped"
                ))
        }
        // The seed's protocol (one event per request, one in flight per workflow) caps a workflow
        // at about 1/RTT: a peer answering after 20 ms, and events queued beforehand.
        do {
            var faults = PlatformPeer.Faults()
            faults.delay = .milliseconds(20)
            peer.setFaults(faults)
            defer { peer.setFaults(.init()) }
            let queued = 300
            let bridged = try startCollector(
                cluster: cluster, database: "bench_bridge_rtt", processors: [],
                bridge: (url: peer.url(), token: "wf_bench_platform_0", durable: false, queue: queued))
            defer { bridged.stop() }
            let body = Array(("[" + (0..<queued).map { Self.wire($0, prefix: 0x50) }.joined(separator: ",") + "]").utf8)
            let before = peer.accepted.count
            _ = await LoadDriver.run(connections: 1, total: 1) { _ in
                .init(url: bridged.url + IngestHTTPReceiver.batchPath, headers: headers, body: body)
            }
            let ingested = Date(), firstDelivered = peer.accepted.count - before
            let (delivered, at) = try await waitForDelivery(queued, since: before)
            let rate = Double(delivered - firstDelivered) / at.timeIntervalSince(ingested)
            rows.append(
                (
                    "bridge, 1 workflow, platform answering after 20 ms", "\(queued) queued events",
                    "\(Int(rate)) events/s (1/RTT = 50/s), \(queued - delivered) dropped"
                ))
        }
        // Relay: into another collector's batch endpoint, one workflow, events queued by batch
        // ingest (memory mode, a queue that holds them all).
        do {
            let downstream = try startCollector(cluster: cluster, database: "bench_relay_downstream", processors: [])
            defer { downstream.stop() }
            let relayed = 100_000
            let upstream = try startCollector(
                cluster: cluster, database: "bench_relay_upstream", processors: [],
                bridge: (url: downstream.url + IngestHTTPReceiver.eventsPath, token: Self.token, durable: false, queue: relayed),
                relayBatchEvents: 1000)
            defer { upstream.stop() }
            let bodies = stride(from: 0, to: relayed, by: batchSize).map { start in
                Array(("[" + (start..<min(start + batchSize, relayed)).map { Self.wire($0, prefix: 0x51) }.joined(separator: ",") + "]").utf8)
            }
            _ = await LoadDriver.run(connections: 1, total: bodies.count) {
                .init(url: upstream.url + IngestHTTPReceiver.batchPath, headers: headers, body: bodies[$0])
            }
            // As the capacity row: the rate after ingest ended, when the relay has the machine.
            let ingested = Date()
            let deliveredAtIngestEnd = try storedCount(downstream)
            var (delivered, lastChange) = (deliveredAtIngestEnd, Date())
            while delivered < relayed, Date().timeIntervalSince(lastChange) < 3 {
                try await Task.sleep(for: .milliseconds(20))
                let now = try storedCount(downstream)
                if now != delivered { (delivered, lastChange) = (now, Date()) }
            }
            rows.append(
                (
                    "relay into another collector (relay_batch_events: 1000), 1 workflow, memory mode", "\(relayed) events ingested by batch",
                    "\(Int(Double(delivered - deliveredAtIngestEnd) / lastChange.timeIntervalSince(ingested))) events/s, \(relayed - delivered) dropped"
                ))
        }
        // Under load: single-event ingest over 16 connections with the default queue (1000),
        // paced at 1,000 events/s (above the reference SDK's own ~560/s) and unpaced (as fast
        // as the collector takes them).
        for (index, (durable, rate)) in [(false, 1000.0), (false, nil), (true, nil)].enumerated() {
            let bridged = try startCollector(
                cluster: cluster, database: "bench_bridge_\(index)", processors: [],
                bridge: (url: peer.url(), token: "wf_bench_platform_\(1 + index)", durable: durable, queue: 1000))
            defer { bridged.stop() }
            let total = rate == nil ? singleEvents : min(singleEvents, 10_000)
            let bodies = (0..<total).map { Array(Self.wire($0, prefix: 21 + index).utf8) }
            let before = peer.accepted.count
            let start = Date()
            let report = await LoadDriver.run(connections: 16, total: total, ratePerSecond: rate) { i in
                .init(url: bridged.url + IngestHTTPReceiver.eventsPath, headers: headers, body: bodies[i])
            }
            let stored = report.outcomes.filter { $0.status == 201 }.count
            let (delivered, at) = try await waitForDelivery(stored, since: before)
            rows.append(
                (
                    "bridge under single-event ingest (16 conns, \(rate.map { "paced at \(Int($0))/s" } ?? "unpaced")), \(durable ? "durable" : "memory queue of 1000")",
                    "\(stored) stored at \(Int(Double(stored) / report.seconds)) events/s",
                    "\(Int(Double(delivered) / at.timeIntervalSince(start))) events/s delivered, \(stored - delivered) dropped, last one \(String(format: "%.1f", max(0, at.timeIntervalSince(start) - report.seconds))) s after ingest ended"
                ))
        }

        // Batch ingest while the platform is down or slow, next to the same ingest without a
        // bridge; five rounds, best of each, to see past this machine's noise.
        var slowFaults = PlatformPeer.Faults()
        slowFaults.delay = .milliseconds(50)
        peer.setFaults(slowFaults)
        let variants: [(String, (url: String, token: String, durable: Bool, queue: Int)?)] = [
            ("bridge off", nil),
            ("bridge on, platform down", (url: "http://127.0.0.1:9/api/v1/ingest/events", token: "wf_bench_platform_4", durable: false, queue: 1000)),
            ("bridge on, platform slow (50 ms/answer)", (url: peer.url(), token: "wf_bench_platform_4", durable: false, queue: 1000)),
        ]
        var best = [Double](repeating: 0, count: variants.count)
        for round in 0..<5 {
            // Each round starts with a different variant, and each run starts after a checkpoint,
            // so write-ahead-log pressure from earlier runs lands on no variant in particular.
            for step in 0..<variants.count {
                let index = (round + step) % variants.count
                let bridge = variants[index].1
                try connection.exec("CHECKPOINT")
                let running = try startCollector(cluster: cluster, database: "bench_fault_\(round)_\(index)", processors: [], bridge: bridge)
                let bodies = batchBodies(prefix: 40 + round * 3 + index, chained: true)
                let report = await LoadDriver.run(connections: batchConnections, total: bodies.count) { b in
                    .init(url: running.url + IngestHTTPReceiver.batchPath, headers: headers, body: bodies[b])
                }
                running.stop()
                best[index] = max(best[index], Double(events) / report.seconds)
            }
        }
        for (index, (label, _)) in variants.enumerated() {
            rows.append(
                (
                    "batch ingest, \(label), best of 5", "\(events) events",
                    "\(Int(best[index])) events/s = \(String(format: "%.2f", best[index] / best[0]))× bridge off"
                ))
        }
        // 6b. The reference SDK on the same work: its AuditModule writing to the same PostgreSQL,
        //     and its own bridge delivering to the same peer.
        if referenceSDK {
            peer.setFaults(.init())
            let sdkDSN = try cluster.createDatabase("bench_reference_sdk")
            try AuditSchema.migrate(PGConnection(dsn: sdkDSN))
            let sdkEvents = 4000
            let output = try Self.runReferenceSDK([
                cluster.url(database: "bench_reference_sdk"), String(sdkEvents), "16", "benchmark-secret-0123456789abcdef", peer.url(),
                "wf_bench_platform_5",
            ])
            if let ingest = output["ingest"]?.first {
                let ours = [16, 64].compactMap { level in singleRates[level].map { "\(String(format: "%.1f", $0 / ingest))× at \(level) conns" } }
                rows.append(
                    (
                        "reference SDK 0.7.3: AuditModule.log, 16 concurrent tasks, same PostgreSQL", "\(sdkEvents) events",
                        "\(Int(ingest)) events/s; collector single-event: \(ours.joined(separator: ", "))"
                    ))
            }
            if let bridge = output["bridge"], bridge.count == 3 {
                rows.append(
                    (
                        "reference SDK 0.7.3: its platform bridge, 1 workflow, same peer", "\(Int(bridge[1])) sent, \(Int(bridge[2])) dropped",
                        "\(Int(bridge[0])) events/s; collector bridge capacity: \(String(format: "%.1f", bridgeCapacity / max(bridge[0], 1)))×"
                    ))
            }
        }
        await peer.stop()

        if !bridgeOnly {
            // 7. Per-event costs inside the collector, measured in this process.
            let sample = Self.event(7)
            let key = SymmetricKey(data: Data("benchmark-secret-0123456789abcdef".utf8))
            let hmacSeconds = Self.time(50_000) { _ = AuditChain.hmac(sample, key: key) }
            rows.append(("HMAC chain cost", "50000 events", "\(String(format: "%.2f", hmacSeconds * 1e6)) µs/event"))
            let redactor = Redactor()
            let text = Self.redactionSample
            let redactSeconds = Self.time(20_000) { _ = redactor.redact(text) }
            let kib = Double(text.utf8.count) / 1024
            rows.append(
                ("redaction cost", "\(text.utf8.count)-byte text with 3 secrets", "\(String(format: "%.2f", redactSeconds * 1e6 / kib)) µs/KiB"))

        }

        rows += try await TimelineBench(binary: binary, events: timelineEvents).run(cluster: cluster)
        rows += try await CheckpointBench(binary: binary, events: checkpointEvents).run(cluster: cluster)
        Self.print(rows)
    }

    static func print(_ rows: [(String, String, String)]) {
        Swift.print("| measurement | work | result |")
        Swift.print("|---|---|---|")
        for (name, work, result) in rows { Swift.print("| \(name) | \(work) | \(result) |") }
        Swift.print(
            "\n2 cores shared by PostgreSQL (fsync on), the collector and the load generator; \(ProcessInfo.processInfo.activeProcessorCount) CPUs visible."
        )
    }

    struct RunningCollector {
        let child: ChildProcess
        let url: String
        /// The `otlp` receiver's HTTP base URL and gRPC port.
        let otlpURL: String
        let grpcPort: Int
        let config: String
        let dsn: String
        func stop() {
            child.kill(SIGTERM)
            child.wait()
            try? FileManager.default.removeItem(atPath: config)
        }
    }

    func startCollector(
        cluster: LocalPostgres, database: String, processors: [String],
        bridge: (url: String, token: String, durable: Bool, queue: Int)? = nil, relayBatchEvents: Int = 0,
        createDatabase: Bool = true
    ) throws -> RunningCollector {
        let dsn = createDatabase ? try cluster.createDatabase(database) : cluster.dsn(database: database)
        let port = try LocalPostgres.freePort(), otlpPort = try LocalPostgres.freePort(), grpcPort = try LocalPostgres.freePort()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("gc-bench-\(port).yaml").path
        try """
        receivers:
          ingest_http:
            endpoint: 127.0.0.1:\(port)
            max_batch_events: \(max(batchSize, 1000))
            tokens: [{ workflow: bench, token_sha256: \(WorkflowTokens.sha256Hex(Self.token)) }]
          otlp:
            protocols:
              grpc:
                endpoint: 127.0.0.1:\(grpcPort)
                tokens: [{ workflow: bench, token_sha256: \(WorkflowTokens.sha256Hex(Self.token)) }]
              http:
                endpoint: 127.0.0.1:\(otlpPort)
                tokens: [{ workflow: bench, token_sha256: \(WorkflowTokens.sha256Hex(Self.token)) }]
        processors:
          size_cap:
          sanitize:
          seq:
          chain: { secret: "benchmark-secret-0123456789abcdef" }
        exporters:
          postgres: { dsn: "\(dsn)" }
          platform_bridge:
            platform_bridge_enabled: \(bridge != nil)
            platform_ingest_url: "\(bridge?.url ?? "")"
            platform_ingest_token: "\(bridge?.token ?? "")"
            durable: \(bridge?.durable ?? false)
            max_queue_size: \(bridge?.queue ?? 1000)
            relay_batch_events: \(relayBatchEvents)
            allow_loopback: true
        service:
          telemetry: { logs: { level: error }, metrics: { endpoint: "127.0.0.1:0" } }
          pipelines:
            audit: { receivers: [ingest_http, otlp], processors: [\(processors.joined(separator: ", "))], exporters: [postgres\(bridge == nil ? "" : ", platform_bridge")] }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let child = try ChildProcess.spawn([binary, "run", "--config", config])
        let url = "http://127.0.0.1:\(port)"
        try Self.waitUntilReady(url)
        return RunningCollector(child: child, url: url, otlpURL: "http://127.0.0.1:\(otlpPort)", grpcPort: grpcPort, config: config, dsn: dsn)
    }

    /// GenAI traces (runs of 8 spans) through staging, assembly and the full chain beside COPY, and the delay
    /// from a span's acknowledgement to its rows at the default `trace_wait` (2 s).
    func traceRows(_ collector: RunningCollector, copyRate: Double) async throws -> [(String, String, String)] {
        let traces = TraceBench(collector: collector, token: Self.token)
        var rows = try await traces.throughput(spans: events, connections: batchConnections, copyRate: copyRate, firstRun: 0)
        rows.append(try await traces.latency(runs: 200, spacing: .milliseconds(25), firstRun: 10_000_000, traceWait: 2))
        return rows
    }

    var concurrencyLevels: [Int] { concurrency.split(separator: ",").compactMap { Int($0) } }

    /// Rows stored in a collector's table now.
    func storedCount(_ collector: RunningCollector) throws -> Int {
        let rows = try PGConnection(dsn: collector.dsn).exec("SELECT count(*) FROM governance_audit_events").rows
        return rows.first?.first.flatMap { $0 }.flatMap(Int.init) ?? 0
    }

    /// The floor of the single-event rows: wrk against the bare server (CPU per request, its
    /// and wrk's), and the libcurl `LoadDriver`'s own CPU per request on the same load, which is
    /// why wrk drives the rows. Returns the bare server's CPU per request (µs).
    func measureFloor(_ rows: inout [(String, String, String)]) async throws -> Double {
        let port = try LocalPostgres.freePort()
        let server = try ChildProcess.spawn([CommandLine.arguments[0], "--serve-bare", String(port)])
        defer { server.stop(SIGTERM) }
        let url = "http://127.0.0.1:\(port)"
        try Self.waitUntilReady(url)
        _ = try WrkLoad.run(url: url + IngestHTTPReceiver.eventsPath, connections: 64, seconds: 2, prefix: 0x7F, clientHMAC: true)
        let cpuBefore = Self.cpuSeconds(server.pid)
        let report = try WrkLoad.run(
            url: url + IngestHTTPReceiver.eventsPath, connections: 64, seconds: singleSeconds, prefix: 0x7E, clientHMAC: true)
        let floor = (Self.cpuSeconds(server.pid) - cpuBefore) / Double(max(report.requests, 1)) * 1e6
        rows.append(
            (
                "floor: bare HTTP server (Hummingbird, reads the body, answers 201), 64 conns, wrk", "\(report.requests) requests",
                "\(Int(Double(report.requests) / report.seconds)) requests/s, p50 \(report.p50), p99 \(report.p99); server CPU \(String(format: "%.1f", floor)) µs/request"
            ))
        // The drivers' own cost on the same load: this process runs only the LoadDriver meanwhile.
        let bodies = (0..<20_000).map { Array(Self.wire($0, prefix: 0x7D).utf8) }
        let selfBefore = Self.cpuSeconds(getpid())
        _ = await LoadDriver.run(connections: 64, total: bodies.count) { i in
            .init(
                url: url + IngestHTTPReceiver.eventsPath, headers: ["Authorization: Bearer \(Self.token)", "Content-Type: application/json"],
                body: bodies[i])
        }
        let curlCost = (Self.cpuSeconds(getpid()) - selfBefore) / Double(bodies.count) * 1e6
        rows.append(
            (
                "load drivers' own CPU per request (bare server, 64 conns)", "",
                "wrk \(String(format: "%.1f", report.driverCPU / Double(max(report.requests, 1)) * 1e6)) µs, libcurl LoadDriver \(String(format: "%.1f", curlCost)) µs: single-event rows use wrk"
            ))
        return floor
    }

    /// One single-event row: wrk for `singleSeconds` (after a 2 s warm-up); events/s counts rows
    /// that reached the table, CPU is the collector's per stored event and its ratio to the floor.
    func singleEventRow(
        _ rows: inout [(String, String, String)], _ collector: RunningCollector, label: String, connections: Int,
        prefix: Int, clientHMAC: Bool, floor: Double
    ) throws -> Double {
        let url = collector.url + IngestHTTPReceiver.eventsPath
        _ = try WrkLoad.run(url: url, connections: connections, seconds: 2, prefix: prefix + 0x100, clientHMAC: clientHMAC)
        let before = try storedCount(collector)
        let cpuBefore = Self.cpuSeconds(collector.child.pid)
        let report = try WrkLoad.run(url: url, connections: connections, seconds: singleSeconds, prefix: prefix, clientHMAC: clientHMAC)
        let stored = try storedCount(collector) - before
        let perEvent = (Self.cpuSeconds(collector.child.pid) - cpuBefore) / Double(max(stored, 1)) * 1e6
        let rate = Double(stored) / report.seconds
        rows.append(
            (
                label, "\(stored) stored\(report.non2xx > 0 ? " (\(report.non2xx) non-2xx!)" : "")",
                "\(Int(rate)) events/s, p50 \(report.p50), p99 \(report.p99); collector CPU \(String(format: "%.0f", perEvent)) µs/event = \(String(format: "%.1f", perEvent / floor))× floor"
            ))
        return rate
    }

    /// The median and 95th percentile of `work`'s wall time over `inputs`, in seconds.
    static func percentiles<T>(_ inputs: [T], _ work: (T) throws -> Void) throws -> (p50: Double, p95: Double) {
        var seconds: [Double] = []
        for input in inputs {
            let start = ContinuousClock.now
            try work(input)
            let elapsed = ContinuousClock.now - start
            seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        seconds.sort()
        return (seconds[seconds.count / 2], seconds[min(seconds.count - 1, seconds.count * 95 / 100)])
    }

    static func microseconds(_ seconds: Double, per count: Int) -> String {
        String(format: "%.0f", seconds / Double(max(count, 1)) * 1e6)
    }

    /// User + system CPU seconds the process has used (/proc/<pid>/stat).
    static func cpuSeconds(_ pid: pid_t) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU per 10,000 events, which is also the share of one core that 10,000 events/s costs.
    static func cpuPer10k(_ seconds: Double, events: Int) -> String {
        let per10k = seconds / Double(max(events, 1)) * 10_000
        return "collector CPU \(String(format: "%.3f", per10k)) s per 10,000 events (\(Int((per10k * 100).rounded()))% of a core at 10,000/s)"
    }

    /// Runs Tests/interop/sdk_bench.py in the interop virtualenv (made and filled from PyPI if
    /// missing); returns its `name value…` lines.
    static func runReferenceSDK(_ arguments: [String]) throws -> [String: [Double]] {
        let venv = ".build/interop-venv"
        if !FileManager.default.isExecutableFile(atPath: venv + "/bin/python") {
            try ChildProcess.run(["python3", "-m", "venv", venv])
            try ChildProcess.run([venv + "/bin/pip", "install", "-q", "code-atelier-governance[platform]==0.7.3"])
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("gc-sdk-bench-\(UUID()).out").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let status = try ChildProcess.spawn([venv + "/bin/python", "Tests/interop/sdk_bench.py"] + arguments, outputPath: out).wait()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard status == 0 else { throw ValidationError("the reference SDK run failed (\(status)): \(text.suffix(2000))") }
        var result: [String: [Double]] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if let name = parts.first, ["ingest", "bridge"].contains(name) { result[String(name)] = parts.dropFirst().compactMap { Double($0) } }
        }
        return result
    }

    static func time(_ iterations: Int, _ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<iterations { body() }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(iterations)
    }

    static let redactionSample: String = {
        let prose = String(repeating: "The agent called the search tool for the quarterly report and summarized the results. ", count: 10)
        return prose + " postgresql://app:hunter2@db.internal:5432/prod " + prose
            + " Authorization: Bearer sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789 " + prose + " AKIAIOSFODNN7EXAMPLE"
    }()

    func ms(_ seconds: Double) -> String { String(format: "%.2f", seconds * 1000) }

    static func waitUntilReady(_ base: String) throws {
        let connection = CurlConnection()
        for _ in 0..<600 {
            if let r = try? connection.request("GET", base + "/readyz"), r.status == 200 { return }
            usleep(50_000)
        }
        throw ValidationError("the collector did not become ready")
    }

    func peakRSS(_ pid: pid_t) -> String {
        Self.memoryKiB(pid, "VmHWM").map { "\($0 / 1024) MiB" } ?? "?"
    }

    /// A memory figure of /proc/<pid>/status (`VmHWM`: peak RSS, `VmRSS`: current), KiB.
    static func memoryKiB(_ pid: pid_t, _ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
        else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    static func id(_ i: Int, prefix: Int) -> String {
        String(format: "%08x-0000-4000-8000-%012x", prefix, i)
    }

    static func event(_ i: Int) -> AuditEvent {
        AuditEvent(
            eventID: UUID(uuidString: id(i, prefix: 0))!, sessionID: UUID(uuidString: id(i % 64, prefix: 0xFF))!,
            agentID: "agent-\(i % 64)", kind: "tool.call", metadata: .object([.init("tool", .string("search")), .init("n", .number(String(i)))]),
            hmac: "abcdef0123456789", createdAt: Timestamp(microseconds: 1_790_000_000_000_000 + Int64(i)),
            workflow: "bench", clientSeq: Int64(i + 1), sdkVersion: "0.7.3")
    }

    /// A wire-format event; without `clientHMAC` the collector's chain processor must chain it.
    static func wire(_ i: Int, prefix: Int, clientHMAC: Bool = true) -> String {
        """
        {"event_id":"\(id(i, prefix: prefix))","event_type":"tool.call","agent_id":"agent-\(i % 64)","seq":\(i + 1),\
        "payload":{"session_id":"\(id(i % 64, prefix: 0xFF - prefix))","kind":"tool.call","created_at":"2026-11-24T12:00:00.000120+00:00",\
        "metadata":{"tool":"search","n":\(i)},"signature_status":"unsigned"},"prev_hash":""\(clientHMAC ? #","client_hmac":"abcdef0123456789""# : ""),"sdk_version":"0.7.3"}
        """
    }
}
