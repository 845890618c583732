import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing

@Suite("failover to a synchronous streaming standby")
struct FailoverTests {
    @Test(
        "primary stopped under load and the standby promoted: every acknowledged event is on the new primary, seq gapless, chains verify, the collector reconnects by itself"
    )
    func failoverUnderLoad() async throws {
        let primary = try await offPool { try LocalPostgres(fsync: false) }
        defer { primary.destroy() }  // the standby too
        // Made before the standby, so the base backup carries it.
        let database = "failover"
        _ = try primary.createDatabase(database)
        try primary.enableReplication()
        let standby = try await offThePool { try primary.makeStandby(name: "standby1") }
        let newPrimaryDSN = standby.dsn(database: database)
        let dsn =
            "host=127.0.0.1,127.0.0.1 port=\(primary.port),\(standby.port) user=postgres dbname=\(database) target_session_attrs=read-write connect_timeout=2"

        try await RunningCollector.with(yaml: chainedYAML(dsn: dsn)) { collector in
            try await collector.waitUntilReady(seconds: 300)

            // Paced so that most of the run comes after the failover: the standby needs 300 rows
            // before the primary is stopped, a tenth of the run.
            let sessions = (0..<4).map { _ in UUID() }
            let ids = (0..<3000).map { _ in UUID() }
            let url = collector.eventsURL
            let load = Task {
                await LoadDriver.run(connections: 4, total: ids.count, ratePerSecond: 200) { i in
                    LoadDriver.Request(
                        url: url, headers: ["Authorization: Bearer \(testToken)", "Content-Type: application/json"],
                        body: Array(unchainedEvent(id: ids[i], session: sessions[i % sessions.count]).utf8))
                }
            }

            // The standby is readable (hot standby): wait until it has a few hundred rows.
            // (A bound of 240 s only so that a broken replication fails instead of hanging.)
            var replicated = 0
            for _ in 0..<12_000 {
                replicated = (try? await scalar(newPrimaryDSN, "SELECT count(*) FROM governance_audit_events")).flatMap { Int($0) } ?? 0
                if replicated >= 300 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            try #require(replicated >= 300, "the standby never received 300 rows")
            // What makes "nothing acknowledged is lost" hold: the standby is synchronous right
            // up to the stop, so every commit the collector answered waited for its flush.
            #expect(
                try await scalar(primary.dsn, "SELECT string_agg(application_name || ':' || sync_state, ',') FROM pg_stat_replication")
                    == "standby1:sync")

            try await offThePool {
                try primary.stopImmediately()
                try standby.promote()
            }
            let report = await load.value

            // Requests while no writer was connected are answered 503 and not counted.
            let statuses = Dictionary(grouping: report.outcomes, by: \.status).mapValues(\.count)
            #expect(Set(statuses.keys).isSubset(of: [201, 503]), "answers: \(statuses)")
            var acknowledged = Set(report.outcomes.filter { (200..<300).contains($0.status) }.map { ids[$0.index] })
            #expect(acknowledged.count >= 100, "answers: \(statuses)")

            // The collector found the new primary by itself: every further event is stored.
            try await collector.waitUntilReady(seconds: 300)
            for _ in 0..<50 {
                let id = UUID()
                let answer = try await post(url, unchainedEvent(id: id, session: sessions[0]))
                #expect(answer.status == 201, "\(answer.status) \(answer.text)")
                if answer.status == 201 { acknowledged.insert(id) }
            }

            #expect(try await scalar(newPrimaryDSN, "SELECT pg_is_in_recovery()") == "f")
            // Every acknowledged event survived: its commit waited for the standby's flush.
            let stored = try await storedIDs(newPrimaryDSN)
            let lost = acknowledged.subtracting(stored)
            #expect(lost.isEmpty, "\(lost.count) of \(acknowledged.count) acknowledged events are not on the new primary")
            #expect(try await scalar(newPrimaryDSN, "SELECT count(*) = count(DISTINCT event_id) FROM governance_audit_events") == "t")

            // seq per workflow is exactly 1...N: no gap, no repeat, none missing.
            let rows = try PGConnection(dsn: newPrimaryDSN).exec("SELECT workflow, seq FROM governance_audit_events ORDER BY workflow, seq").rows
            let seqs = Dictionary(grouping: rows, by: { $0[0] ?? "(none)" }).mapValues { $0.map { $0[1].flatMap { Int($0) } } }
            #expect(Array(seqs.keys) == ["wf-test"])
            for (workflow, numbers) in seqs {
                #expect(numbers == (1...numbers.count).map { Optional($0) }, "workflow \(workflow): seq is not 1...\(numbers.count)")
            }

            // Every chain verifies: HMACs, links (no row missing at a chain's start or in it), seq.
            let verification = try verify(newPrimaryDSN)
            #expect(verification.isClean, "\(verification.problems)")
            #expect(verification.rows == stored.count)
            #expect(verification.sessions == sessions.count)
        }
    }
}

/// Runs blocking work (pg_ctl, libpq) on a thread of its own, so the collector running in this
/// process keeps Swift's small cooperative pool meanwhile.
private func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
