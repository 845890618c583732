@testable import AuditStore
import Foundation
import GovernanceTesting
import Pipeline
import Testing

@Suite("CSV export cells")
struct EventExportTests {
    @Test(
        "a cell a spreadsheet could run as a formula stays text, full-width and after white space too",
        arguments: [
            "=1+1", "+1", "-1", "@SUM(A1)", "\u{FF1D}HYPERLINK(\"x\")", "\u{FF0B}1", " =1", "\n=1", "\t=1", "\r=1", "\u{0}x",
        ])
    func formulasKeptAsText(_ value: String) {
        let cell = EventExport.csvField(value)
        #expect(cell.hasPrefix("'") || cell.hasPrefix("\"'"), "\(cell.debugDescription)")
    }

    @Test("ordinary values are left alone", arguments: ["agent-1", "tool.call", "0.25", "é"])
    func ordinaryValues(_ value: String) {
        #expect(EventExport.csvField(value) == value)
    }
}

/// An export read a page at a time, pages read and rendered ahead of the writer: every row of its
/// snapshot once, in order, none of those committed while it runs, and the CSV header once.
@Suite("export pages on PostgreSQL")
struct EventExportPagesTests {
    static func events(_ count: Int, from first: Int = 0) -> [AuditEvent] {
        (first..<first + count).map { i in
            AuditEvent(
                eventID: UUID(), sessionID: UUID(), agentID: "agent-\(i % 3)", kind: "tool.call", metadata: .object([.init("n", .number(String(i)))]),
                hmac: String(repeating: "ab", count: 32), createdAt: Timestamp(microseconds: 1_767_323_045_000_000 + Int64(i) * 1000), workflow: "wf")
        }
    }

    @Test("every row once, in order, across page boundaries (none, fewer than a page, an exact multiple, and one more)", arguments: [0, 3, 49, 50])
    func pages(count: Int) async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let stored = Self.events(count)
        for format in EventExport.Format.allCases {
            let dsn = try cluster.createDatabase()
            let connection = try PGConnection(dsn: dsn)
            try AuditSchema.migrate(connection)
            if !stored.isEmpty { try connection.copyIn(AuditRow.copyStatement, data: AuditRow.encode(stored)) }
            let export = EventExport(format: format, filter: EventFilter(), pageSize: 7)
            let worker = PGWorker(dsn: dsn, applicationName: "export test")
            var text = ""
            var rows = 0
            for try await page in export.pages(via: worker) {
                text += page.text
                rows += page.rows
                // Rows committed while the export runs are not in its snapshot.
                if page.rows > 0 { try connection.copyIn(AuditRow.copyStatement, data: AuditRow.encode(Self.events(5, from: 1000 + rows))) }
            }
            #expect(rows == count, "\(format)")
            if format == .ndjson {
                #expect(text == stored.map { EventExport.ndjsonLine($0) + "\n" }.joined())
            } else {
                #expect(text == export.header + stored.map(EventExport.csvLine).joined())
            }
        }
    }

    @Test("a row that cannot be read ends the export naming it, after every page before it is given")
    func unreadableRowAfterAFullPage() async throws {
        let cluster = try await offPool { try LocalPostgres(fsync: false) }
        defer { cluster.destroy() }
        let stored = Self.events(20)
        let dsn = try cluster.createDatabase()
        let connection = try PGConnection(dsn: dsn)
        try AuditSchema.migrate(connection)
        try connection.copyIn(AuditRow.copyStatement, data: AuditRow.encode(stored))
        // The second page's last row: read ahead while the first page is still being handed over.
        let bad = stored[13].eventID.lowercasedString
        let deep = String(repeating: "[", count: JSONParser.storedMaxDepth + 5) + String(repeating: "]", count: JSONParser.storedMaxDepth + 5)
        // An insider's rewrite, with the append-only triggers off.
        try connection.exec("SET session_replication_role = replica")
        try connection.exec(
            "UPDATE governance_audit_events SET metadata_json = jsonb_build_object('x', $1::jsonb) WHERE event_id = $2::uuid", [deep, bad])
        let export = EventExport(format: .ndjson, filter: EventFilter(), pageSize: 7)
        var text = ""
        let failure = await #expect(throws: PGError.self) {
            for try await page in export.pages(via: PGWorker(dsn: dsn, applicationName: "export test")) { text += page.text }
        }
        #expect(text == stored[..<7].map { EventExport.ndjsonLine($0) + "\n" }.joined())
        #expect(failure?.message.contains("event \(bad) cannot be read back") == true, "\(String(describing: failure))")
    }
}
