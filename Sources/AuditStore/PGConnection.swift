import CLibPQ
import Foundation

/// An error from libpq or the server, with the SQLSTATE when the server sent one.
public struct PGError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var sqlState: String?
    /// True when the connection itself is gone (not a statement failure).
    public var connectionLost: Bool

    public init(message: String, sqlState: String?, connectionLost: Bool) {
        self.message = message
        self.sqlState = sqlState
        self.connectionLost = connectionLost
    }

    public var description: String { sqlState.map { "\(message) [\($0)]" } ?? message }

    /// Class 22 (data exception) and 23 (integrity constraint): the data, not the server, is at fault.
    public var isDataError: Bool { sqlState.map { $0.hasPrefix("22") || $0.hasPrefix("23") } ?? false }
    /// Deadlock or serialization failure: retrying the transaction is correct.
    public var isRetryable: Bool { sqlState == "40001" || sqlState == "40P01" }
}

/// A result of a statement; rows as text.
public struct PGRows: Sendable {
    public var rows: [[String?]]
    public var affected: Int
}

/// One libpq connection. libpq is blocking, so a connection belongs to one thread at a time:
/// the exporter gives each its own thread, never Swift's cooperative pool.
public final class PGConnection {
    let handle: OpaquePointer

    /// Connects with any libpq connection string or URL; the PG* environment fills the rest.
    /// `connect_timeout` and `application_name` are defaults the DSN can override.
    public init(dsn: String, connectTimeoutSeconds: Int = 5, applicationName: String = "governance-collector") throws(PGError) {
        let keywords = ["connect_timeout", "application_name", "dbname"]
        let values = [String(connectTimeoutSeconds), applicationName, dsn]
        let conn: OpaquePointer? = keywords.withCStrings { k in values.withCStrings { v in PQconnectdbParams(k, v, 1) } }
        guard let conn else { throw PGError(message: "out of memory", sqlState: nil, connectionLost: true) }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(conn)
            throw PGError(message: message, sqlState: nil, connectionLost: true)
        }
        handle = conn
    }

    deinit { PQfinish(handle) }

    public var isBroken: Bool { PQstatus(handle) != CONNECTION_OK }

    /// A round trip that proves the connection and server are alive.
    public func ping() throws(PGError) {
        try exec("SELECT 1")
    }

    /// Runs `body` between BEGIN and COMMIT; rolled back if it throws. `readOnlySnapshot`: one
    /// REPEATABLE READ snapshot for every read of `body` (taken by its first statement).
    public func transaction<T>(readOnlySnapshot: Bool = false, _ body: () throws(PGError) -> T) throws(PGError) -> T {
        try exec(readOnlySnapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN")
        do {
            let result = try body()
            try exec("COMMIT")
            return result
        } catch {
            _ = try? exec("ROLLBACK")
            throw error
        }
    }

    /// Runs one or more statements without parameters.
    @discardableResult
    public func exec(_ sql: String) throws(PGError) -> PGRows {
        try consume(PQexec(handle, sql))
    }

    /// Runs several statements without parameters in one round trip and returns each one's rows,
    /// in order (`exec` keeps only the last). The first failure is thrown after every result is read.
    public func execEach(_ sql: String) throws(PGError) -> [PGRows] {
        guard PQsendQuery(handle, sql) == 1 else { throw lastError() }
        var results: [PGRows] = []
        var failure: PGError?
        while let result = PQgetResult(handle) {
            do throws(PGError) {
                results.append(try consume(result))
            } catch {
                if failure == nil { failure = error }
            }
        }
        if let failure { throw failure }
        return results
    }

    /// Runs one statement with text parameters (nil is SQL NULL).
    @discardableResult
    public func exec(_ sql: String, _ params: [String?]) throws(PGError) -> PGRows {
        let result = params.withOptionalCStrings { p in
            PQexecParams(handle, sql, Int32(params.count), nil, p, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Prepares a named statement once per connection.
    public func prepare(_ name: String, _ sql: String) throws(PGError) {
        _ = try consume(PQprepare(handle, name, sql, 0, nil))
    }

    @discardableResult
    public func execPrepared(_ name: String, _ params: [String?] = []) throws(PGError) -> PGRows {
        let result = params.withOptionalCStrings { p in
            PQexecPrepared(handle, name, Int32(params.count), p, nil, nil, 0)
        }
        return try consume(result)
    }

    /// `COPY ... FROM STDIN` with the given bytes (binary or text format, as the statement says).
    public func copyIn(_ sql: String, data: [UInt8]) throws(PGError) {
        guard let start = PQexec(handle, sql) else { throw lastError() }
        let status = PQresultStatus(start)
        if status != PGRES_COPY_IN {
            defer { PQclear(start) }
            throw error(from: start)
        }
        PQclear(start)
        let sent = data.withUnsafeBufferPointer { buffer -> Int32 in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == 1, PQputCopyEnd(handle, nil) == 1 else { throw lastError() }
        var failure: PGError?
        while let result = PQgetResult(handle) {
            if PQresultStatus(result) != PGRES_COMMAND_OK, failure == nil { failure = error(from: result) }
            PQclear(result)
        }
        if let failure { throw failure }
    }

    /// True while this session holds the advisory lock `key`, taken here when free: how one
    /// collector per database is elected for a job (the checkpoint signer, the trace assembler),
    /// the others standing by until its session ends.
    public func holdsSessionLock(_ key: Int64) throws(PGError) -> Bool {
        try exec(
            """
            SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                                     AND ((classid::int8 << 32) | objid::int8) = \(key) AND objsubid = 1 AND granted)
                   THEN true ELSE pg_try_advisory_lock(\(key)) END
            """
        ).rows.first?.first == "t"
    }

    /// Quotes an identifier or literal safely for building DDL.
    public func escapeLiteral(_ text: String) -> String {
        guard let p = PQescapeLiteral(handle, text, text.utf8.count) else { return "''" }
        defer { PQfreemem(p) }
        return String(cString: p)
    }

    private func consume(_ result: OpaquePointer?) throws(PGError) -> PGRows {
        guard let result else { throw lastError() }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            let rowCount = Int(PQntuples(result))
            let columnCount = Int(PQnfields(result))
            var rows: [[String?]] = []
            rows.reserveCapacity(rowCount)
            for r in 0..<rowCount {
                var row: [String?] = []
                for c in 0..<columnCount {
                    row.append(PQgetisnull(result, Int32(r), Int32(c)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(r), Int32(c))))
                }
                rows.append(row)
            }
            let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            return PGRows(rows: rows, affected: affected)
        default:
            throw error(from: result)
        }
    }

    private func error(from result: OpaquePointer) -> PGError {
        let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        return PGError(message: message.isEmpty ? lastError().message : message, sqlState: state, connectionLost: isBroken)
    }

    private func lastError() -> PGError {
        let message = String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
        return PGError(message: message.isEmpty ? "connection lost" : message, sqlState: nil, connectionLost: true)
    }
}

extension Array where Element == String {
    func withCStrings<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let pointers = map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        let constant = pointers.map { UnsafePointer($0) } + [nil]
        return constant.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

extension Array where Element == String? {
    func withOptionalCStrings<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        let pointers = map { $0.map { strdup($0) } ?? nil }
        defer { pointers.forEach { free($0) } }
        let constant = pointers.map { $0.map { UnsafePointer($0) } }
        return constant.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
