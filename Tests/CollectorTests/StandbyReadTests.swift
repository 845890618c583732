import AuditStore
import CurlHTTP
import Foundation
import GovernanceTesting
import Pipeline
import Testing

/// `ui.read_dsn`: a streaming hot standby of the test support serves the UI's and the API's
/// reads while the primary takes ingest, and the answers say so; with it stopped, reads go on.
@Suite("reads from a streaming standby (ui.read_dsn)")
struct StandbyReadTests {
    @Test(
        "a standby serves the pages' and the API's reads, saying how far behind it is, while the primary takes ingest; with the standby stopped, the same reads come from the primary"
    )
    func standbyServesReads() async throws {
        let primary = try await offPool { try LocalPostgres(fsync: false) }
        defer { primary.destroy() }  // the standby too
        let database = "reads"
        _ = try primary.createDatabase(database)
        try primary.enableReplication()
        let standby = try await offPool { try primary.makeStandby(name: "reads1") }
        // A read replica is asynchronous: the primary's commits must not wait for it (and it is stopped below).
        let admin = try PGConnection(dsn: primary.dsn)
        try admin.exec("ALTER SYSTEM SET synchronous_standby_names = ''")
        try admin.exec("SELECT pg_reload_conf()")

        let ui = "  endpoint: 127.0.0.1:0\n  admin_password: \"\(uiPassword)\"\n  read_dsn: \"\(standby.dsn(database: database))\""
        try await PeopleTests.withAdmin(dsn: primary.dsn(database: database), ui: ui) { collector, base, browser in
            let key = try await ReadAPITests.key(browser, scopes: "read")
            let first = (0..<50).map { _ in UUID() }
            try await ReadAPITests.ingest(collector.batchURL, first.map { ($0, wireEvent(id: $0)) })

            // Replication is asynchronous: the standby shows them once it has replayed them.
            var page = try await ReadAPITests.get(base + "/api/v1/events?limit=1000", key: key)
            #expect(
                try await eventually {
                    page = try await ReadAPITests.get(base + "/api/v1/events?limit=1000", key: key)
                    return Set(first.map(\.lowercasedString)).isSubset(of: Self.eventIDs(page))
                })
            #expect(page.headers["governance-read-from"] == "standby", "\(page.headers)")
            #expect(Double(page.headers["governance-read-lag-seconds"] ?? "") ?? -1 >= 0, "\(page.headers)")
            let timeline = try await browser.get("/")
            #expect(timeline.status == 200 && timeline.headers["governance-read-from"] == "standby", "\(timeline.status) \(timeline.headers)")
            // The reads ran on the standby's connections, not only through its name.
            let onStandby = try PGConnection(dsn: standby.dsn).exec(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'governance-collector-ui-standby-%'"
            ).rows.first?.first
            #expect(Int((onStandby ?? nil) ?? "0") ?? 0 >= 1)

            try await offPool { try standby.stopImmediately() }
            let second = (0..<10).map { _ in UUID() }
            try await ReadAPITests.ingest(collector.batchURL, second.map { ($0, wireEvent(id: $0)) })
            let after = try await ReadAPITests.get(base + "/api/v1/events?limit=1000", key: key)
            #expect(after.status == 200 && after.headers["governance-read-from"] == "primary", "\(after.status) \(after.text)")
            #expect(Set((first + second).map(\.lowercasedString)).isSubset(of: Self.eventIDs(after)))
            let timelineAfter = try await browser.get("/")
            #expect(timelineAfter.status == 200 && timelineAfter.headers["governance-read-from"] == "primary")
        }
    }

    static func eventIDs(_ page: HTTPResult) -> Set<String> {
        guard let parsed = try? JSONParser.parse(page.body) else { return [] }
        return Set(ReadAPITests.items(parsed["events"]).compactMap { $0["event_id"]?.stringValue })
    }
}
