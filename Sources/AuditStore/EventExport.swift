import Foundation
public import Pipeline

/// A filtered view of the audit table written out as CSV or NDJSON, oldest first, a page at a
/// time (keyset on `(created_at, event_id)`, so memory stays constant however many rows), inside
/// one `REPEATABLE READ` transaction, so every page reads the same committed rows: an export is
/// one consistent picture of the table even while events keep arriving. The UI's download and
/// `governance-collector export` both run it.
public struct EventExport: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        /// One header line, then a row per event (RFC 4180), for spreadsheets.
        case csv
        /// One platform wire-format object per line plus `workflow`: what `ingest_http`'s batch
        /// endpoint takes back unchanged, and what `tail --json` prints.
        case ndjson

        public var contentType: String { self == .csv ? "text/csv; charset=utf-8" : "application/x-ndjson" }
    }

    public let format: Format
    public let filter: EventFilter
    public let pageSize: Int

    public init(format: Format, filter: EventFilter, pageSize: Int = 2000) {
        self.format = format
        var filter = filter
        filter.before = nil
        self.filter = filter
        self.pageSize = pageSize
    }

    /// Writes the whole export through `write`, a page at a time from one snapshot on `worker`'s
    /// connection (the UI's download and `governance-collector export` both); returns the count.
    public func write(via worker: PGWorker, to write: (String) async throws -> Void) async throws -> Int {
        var total = 0
        for try await page in pages(via: worker) {
            try await write(page.text)
            total += page.rows
        }
        return total
    }

    /// The export as a sequence of rendered pages (the header first), each read from the one
    /// snapshot when it is asked for: a reader that takes them slowly holds one page, not the table.
    public func pages(via worker: PGWorker) -> Pages { Pages(export: self, worker: worker) }

    public struct Pages: AsyncSequence, Sendable {
        public typealias Element = (text: String, rows: Int)
        let export: EventExport
        let worker: PGWorker

        public func makeAsyncIterator() -> Iterator { Iterator(export: export, worker: worker) }

        /// Keeps two pages ahead of the reader: while it writes one page out, the next is
        /// rendered and the one after is read on the worker, so PostgreSQL, the rendering and
        /// the writing overlap. At most three pages are held at once.
        public struct Iterator: AsyncIteratorProtocol {
            let export: EventExport
            let worker: PGWorker
            /// The next page's rows, being read.
            var reading: Task<[[String?]], any Error>?
            /// The page after the one last given, being rendered.
            var rendering: Task<(text: String, rows: Int), any Error>?
            var started = false
            /// A failure met while reading ahead, reported once the pages before it are given.
            var failure: (any Error)?

            public mutating func next() async throws -> (text: String, rows: Int)? {
                if !started {
                    started = true
                    try await worker.run { connection in _ = try connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") }
                    reading = read(after: nil)
                    await advanceOrHoldFailure()
                    if !export.header.isEmpty { return (export.header, 0) }
                }
                if let failure {
                    self.failure = nil
                    throw failure
                }
                guard let page = rendering else { return nil }
                let current = try await page.value
                await advanceOrHoldFailure()
                return current
            }

            private mutating func advanceOrHoldFailure() async {
                do {
                    try await advance()
                } catch {
                    (failure, reading, rendering) = (error, nil, nil)
                }
            }

            /// Starts rendering the page just read, and reading the one after it.
            private mutating func advance() async throws {
                guard let read = reading else {
                    rendering = nil
                    return
                }
                let rows = try await read.value
                if rows.count < export.pageSize {
                    reading = nil
                    try await worker.run { connection in _ = try connection.exec("COMMIT") }
                } else {
                    reading = self.read(after: try EventExport.cursor(of: rows[rows.count - 1]))
                }
                let export = export
                rendering = rows.isEmpty ? nil : Task { (try export.render(rows), rows.count) }
            }

            private func read(after cursor: EventFilter.Cursor?) -> Task<[[String?]], any Error> {
                let (export, worker) = (export, worker)
                return Task { try await worker.run { connection in try export.fetch(connection, after: cursor) } }
            }
        }
    }

    /// What comes before the first row.
    var header: String {
        format == .csv ? Self.csvColumns.map(\.name).joined(separator: ",") + "\r\n" : ""
    }

    /// The stored columns of the rows after `cursor` (nil: from the start); fewer than
    /// `pageSize` rows means the export is complete.
    func fetch(_ connection: PGConnection, after cursor: EventFilter.Cursor?) throws(PGError) -> [[String?]] {
        var filter = filter
        filter.after = cursor
        let (clause, params) = filter.sql()
        return try connection.exec(
            """
            SELECT \(AuditRow.selectColumns) FROM governance_audit_events \(clause)
            ORDER BY created_at, event_id LIMIT \(pageSize)
            """, params
        ).rows
    }

    /// Where the page after `row` starts.
    static func cursor(of row: [String?]) throws(PGError) -> EventFilter.Cursor {
        EventFilter.Cursor(try decode(row))
    }

    /// The rows as the export's format, in one buffer (not a String per row appended to another).
    func render(_ rows: [[String?]]) throws(PGError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(rows.count * 512)
        for row in rows {
            let event = try Self.decode(row)
            if format == .csv {
                out.append(contentsOf: Self.csvLine(event).utf8)
            } else {
                Self.ndjsonObject(event).write(into: &out)
                out.append(0x0A)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func decode(_ row: [String?]) throws(PGError) -> AuditEvent {
        do {
            return try AuditRow.decode(row[...])
        } catch {
            throw PGError(message: "export stopped: \(error)", sqlState: nil, connectionLost: false)
        }
    }

    /// The wire object `ingest_http` accepts, plus the workflow it was stored under.
    public static func ndjsonLine(_ e: AuditEvent) -> String { ndjsonObject(e).serialized() }

    static func ndjsonObject(_ e: AuditEvent) -> JSONValue {
        guard case .object(var members) = WireFormat.encode(e, seq: e.seq) else { return .object([]) }
        members.append(.init("workflow", .string(e.workflow)))
        return .object(members)
    }

    static let csvColumns: [(name: String, value: @Sendable (AuditEvent) -> String?)] = [
        ("event_id", { $0.eventID.lowercasedString }), ("created_at", { $0.createdAt.pythonISOFormat }),
        ("workflow", { $0.workflow }), ("seq", { $0.seq.map(String.init) }), ("agent_id", { $0.agentID }),
        ("session_id", { $0.sessionID.lowercasedString }), ("parent_event_id", { $0.parentEventID?.lowercasedString }),
        ("kind", { $0.kind }), ("decision", { $0.decision?.rawValue }), ("model", { $0.model }),
        ("input_hash", { $0.inputHash }), ("output_hash", { $0.outputHash }), ("signature_status", { $0.signatureStatus }),
        ("client_signature_status", { $0.clientSignatureStatus }), ("signing_key_fingerprint", { $0.signingKeyFingerprint }),
        ("prev_hash", { $0.prevHash }), ("hmac", { $0.hmac }), ("metadata", { $0.metadata.serialized() }),
    ]

    static let formulaStarts: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\u{FF1D}", "\u{FF0B}", "\u{FF0D}", "\u{FF20}"]

    static func csvLine(_ e: AuditEvent) -> String {
        csvColumns.map { csvField($0.value(e) ?? "") }.joined(separator: ",") + "\r\n"
    }

    /// RFC 4180 quoting. A value a spreadsheet could run as a formula gets a leading `'`
    /// (OWASP's advice), so a hostile agent id opened in a spreadsheet stays text: one starting
    /// with `=`, `+`, `-`, `@` or their full-width forms, or with white space or a control
    /// character (spreadsheets skip those before looking). NDJSON carries every value exactly.
    static func csvField(_ value: String) -> String {
        var value = value
        if let first = value.unicodeScalars.first, formulaStarts.contains(first) || first.properties.isWhitespace || first.value < 0x20 {
            value = "'" + value
        }
        guard value.unicodeScalars.contains(where: { ",\"\n\r".unicodeScalars.contains($0) }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
