import AuditStore
import Collector
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Pipeline
import Testing

@Suite("PostgreSQL unavailable, restarted, and the collector killed")
struct ResilienceTests {
    @Test("PostgreSQL down at start: the collector starts, is not ready, answers 503, then recovers")
    func postgresDownAtStart() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        try cluster.stop()

        try await RunningCollector.with(yaml: collectorYAML(dsn: cluster.dsn)) { collector in
            let ready = try await TestHTTP.request("GET", collector.baseURL + "/readyz")
            #expect(ready.status == 503)
            let refused = try await post(collector.eventsURL, wireEvent())
            #expect(refused.status == 503)
            #expect(refused.headers["retry-after"] == "1")
            #expect(try parseJSON(refused)["error"] == .string("unavailable"))

            try cluster.start()
            try await collector.waitUntilReady()
            let id = UUID()
            #expect(try await post(collector.eventsURL, wireEvent(id: id)).status == 201)
            #expect(try await storedIDs(cluster.dsn) == [id])
        }
    }

    @Test("PostgreSQL restarted mid-run: 503 while down, no 2xx without a commit, recovery without a collector restart")
    func postgresRestart() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        try await RunningCollector.with(yaml: collectorYAML(dsn: cluster.dsn)) { collector in
            try await collector.waitUntilReady()

            var acknowledged = Set<UUID>()
            func send() async throws -> Int {
                let id = UUID()
                let status = try await post(collector.eventsURL, wireEvent(id: id)).status
                if (200..<300).contains(status) { acknowledged.insert(id) }
                return status
            }
            #expect(try await send() == 201)
            try cluster.stop()
            var statuses: [Int] = []
            for _ in 0..<5 { statuses.append(try await send()) }
            #expect(statuses.allSatisfy { $0 == 503 })

            try cluster.start()
            try await collector.waitUntilReady()
            #expect(try await send() == 201)
            #expect(try await storedIDs(cluster.dsn) == acknowledged)
            #expect(acknowledged.count == 2)
        }
    }

    @Test("PostgreSQL frozen (SIGSTOP) past commit_timeout: 503 instead of a hang, not ready, recovery on SIGCONT, retries stored once")
    func postgresFrozen() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { try? cluster.resume(); cluster.destroy() }
        let yaml = collectorYAML(dsn: cluster.dsn).replacingOccurrences(
            of: "max_reconnect_backoff: 0.2", with: "max_reconnect_backoff: 0.2\n    commit_timeout: 1")
        try await RunningCollector.with(yaml: yaml) { collector in
            try await collector.waitUntilReady()
            let telemetry = try await collector.telemetryURL()
            let before = UUID()
            #expect(try await post(collector.eventsURL, wireEvent(id: before)).status == 201)

            try cluster.pause()
            let stuck = UUID()
            let answer = try await post(collector.eventsURL, wireEvent(id: stuck))
            #expect(answer.status == 503)
            #expect(answer.headers["retry-after"] == "1")
            // Its own timer answers, or, if this test was slow to send it, the stall already seen:
            // either message shows the answer came from the timeout, not from a database that answered.
            let message = try parseJSON(answer)["message"]?.stringValue ?? ""
            #expect(message.contains("commit_timeout") || message.contains("has not answered for over 1.0 s"), "\(message)")
            // Once a database call has hung past commit_timeout, /readyz says so and new requests are refused at once.
            var readiness = 0
            for _ in 0..<100 where readiness != 503 {
                readiness = try await TestHTTP.request("GET", telemetry + "/readyz").status
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(readiness == 503)
            let refused = try await post(collector.eventsURL, wireEvent())
            #expect(refused.status == 503)
            #expect(
                try parseJSON(refused)["message"]?.stringValue?.contains("has not answered for over 1.0 s") == true,
                "refused up front, not after waiting for its own commit")

            try cluster.resume()
            try await collector.waitUntilReady()
            // The client retries what got no 2xx: stored once, whether or not the stuck commit landed.
            #expect([200, 201].contains(try await post(collector.eventsURL, wireEvent(id: stuck)).status))
            let after = UUID()
            #expect(try await post(collector.eventsURL, wireEvent(id: after)).status == 201)
            let stored = try await storedIDs(cluster.dsn)
            #expect(stored.isSuperset(of: [before, stuck, after]))
            #expect(try await scalar(cluster.dsn, "SELECT count(*) = count(DISTINCT event_id) FROM governance_audit_events") == "t")
        }
    }

    @Test("commit_timeout is timed by the collector's clock: a frozen commit is answered 503 when the clock passes it, not before")
    func commitTimeoutOnTheClock() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { try? cluster.resume(); cluster.destroy() }
        let clock = TestClock()
        // An hour: only the test clock can pass it, so the answer below comes from the timer and nothing else.
        let yaml = collectorYAML(dsn: cluster.dsn).replacingOccurrences(
            of: "max_reconnect_backoff: 0.2", with: "max_reconnect_backoff: 0.2\n    commit_timeout: 3600")
        try await RunningCollector.with(yaml: yaml, clock: clock) { collector in
            try await collector.waitUntilReady()
            let pipeline = try #require(collector.collector.pipelines["audit"])
            let event = AuditEvent(
                eventID: UUID(), sessionID: UUID(), agentID: "agent-1", kind: "tool.call", hmac: String(repeating: "ab", count: 32),
                createdAt: .now(), workflow: "wf-test")
            try cluster.pause()
            let submitted = Task { try await pipeline.submit([event]) }
            // The commit is queued and its timer armed; the database answers nothing while stopped.
            // (The collector's other loops sleep on this clock too: the test names the timer it means.)
            #expect(try await eventually { clock.sleepers(dueAt: .seconds(3600)) == 1 })
            clock.advance(by: .seconds(3599))
            #expect(clock.sleepers(dueAt: .seconds(3600)) == 1, "not yet due")
            clock.advance(by: .seconds(1))
            do {
                let outcomes = try await submitted.value
                Issue.record("answered \(outcomes) by a stopped database")
            } catch let error as PipelineUnavailable {
                #expect(error.reason == "PostgreSQL did not commit within 3600.0 s (commit_timeout); retrying is safe")
            }
            try cluster.resume()
        }
    }

    @Test("migrating a table the reference SDK created keeps its rows and adds the collector's columns")
    func migrateSDKTable() async throws {
        let dsn = try await newDatabase()
        let connection = try PGConnection(dsn: dsn)
        // The SDK's own DDL (v0.5 shape plus its later `model` column), and one SDK-written row.
        try connection.exec(
            """
            CREATE TABLE governance_audit_events (
                chain_seq BIGSERIAL NOT NULL, event_id UUID PRIMARY KEY, session_id UUID NOT NULL,
                agent_id VARCHAR(256) NOT NULL, parent_event_id UUID NULL, kind VARCHAR(128) NOT NULL,
                input_hash VARCHAR(128) NULL, output_hash VARCHAR(128) NULL,
                metadata_json JSONB NOT NULL DEFAULT '{}'::jsonb, prev_hash VARCHAR(128) NULL,
                hmac_value VARCHAR(128) NOT NULL, created_at TIMESTAMPTZ NOT NULL);
            ALTER TABLE governance_audit_events ADD COLUMN IF NOT EXISTS model VARCHAR(128) NULL;
            INSERT INTO governance_audit_events (event_id, session_id, agent_id, kind, hmac_value, created_at)
            VALUES (gen_random_uuid(), gen_random_uuid(), 'sdk-agent', 'sdk.kind', 'aa', now());
            """)
        #expect(try AuditSchema.migrate(connection))
        #expect(try !AuditSchema.migrate(connection))  // idempotent: the second run changes nothing

        try await RunningCollector.with(yaml: collectorYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady()
            #expect(try await post(collector.eventsURL, wireEvent()).status == 201)
            #expect(
                try await scalar(
                    dsn,
                    "SELECT string_agg(coalesce(workflow, 'sdk') || ':' || signature_status, ',' ORDER BY chain_seq) FROM governance_audit_events")
                    == "sdk:unsigned,wf-test:unsigned")
        }
    }
}

@Suite("the governance-collector binary")
struct BinaryTests {
    /// The executable built next to the test bundle (`swift build` builds both).
    static var binary: String {
        let directory = Bundle.main.bundleURL.deletingLastPathComponent()
        let candidates = [directory, Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
            .map { $0.appendingPathComponent("governance-collector").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    @Test("kill -9 under load: every event that got a 2xx is in the table")
    func crashUnderLoad() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build the executable first: swift build")
        let dsn = try await newDatabase()
        let port = try LocalPostgres.freePort()
        let configFile = FileManager.default.temporaryDirectory.appendingPathComponent("gc-crash-\(UUID()).yaml").path
        try collectorYAML(dsn: dsn).replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:\(port)")
            .write(toFile: configFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: configFile) }

        let process = try spawnCollector(config: configFile)
        let url = "http://127.0.0.1:\(port)"
        try await waitForReady(url)

        // More events than can be sent before the kill; every connection stops at its first failure.
        let ids = (0..<400_000).map { _ in UUID() }
        let load = Task {
            await LoadDriver.run(connections: 16, total: ids.count, stopOnTransportError: true) { i in
                LoadDriver.Request(
                    url: url + "/api/v1/ingest/events",
                    headers: ["Authorization: Bearer \(testToken)", "Content-Type: application/json"],
                    body: Array(wireEvent(id: ids[i]).utf8))
            }
        }
        // Let some events land, then kill the process without warning.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, (Int(try await scalar(dsn, "SELECT count(*) FROM governance_audit_events") ?? "0") ?? 0) < 500 {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(process.stop(SIGKILL) == 128 + SIGKILL)
        let report = await load.value

        let acknowledged = Set(report.outcomes.filter { (200..<300).contains($0.status) }.map { ids[$0.index] })
        let failed = report.outcomes.filter { $0.status == 0 }.count
        // Rows can commit before their answers arrive, so fewer than the 500 stored may be acknowledged.
        #expect(acknowledged.count >= 100)
        #expect(failed > 0, "the kill should have cut requests off")
        #expect(report.outcomes.count < ids.count, "the load should have been cut short by the kill")
        let stored = try await storedIDs(dsn)
        #expect(acknowledged.isSubset(of: stored), "acknowledged but missing: \(acknowledged.subtracting(stored).count)")
    }
}
