import Pipeline
import Synchronization

/// Reads that a hot standby may serve (`ui.read_dsn`), so dashboards and exports do not compete
/// with ingest on the primary. Each read runs on the standby while it answers, else on the
/// primary; where it ran (and how far the standby is behind) is noted in the request's
/// `ReadSource`, which the UI turns into response headers. Nothing that writes goes through here.
public final class StandbyReads: Sendable {
    public let primary: PGWorkerPool
    private let standby: PGWorkerPool?
    private let standbyDSN: String?
    /// False after the standby failed to answer, until it answers again.
    private let standbyAnswers = Atomic<Bool>(true)

    public init(primary: PGWorkerPool, standbyDSN: String?, applicationName: String, size: Int, setup: String?) {
        self.primary = primary
        self.standbyDSN = standbyDSN
        standby = standbyDSN.map { PGWorkerPool(dsn: $0, applicationName: applicationName + "-standby", size: size, setup: setup) }
    }

    /// Runs `body` on the standby, or on the primary when there is none or it does not answer
    /// (`standbyGone`).
    public func run<T: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> T) async throws -> T {
        if let standby {
            do {
                let (value, lag) = try await standby.run { connection in (try body(connection), try Self.lag(on: connection)) }
                standbyAnswers.store(true, ordering: .relaxed)
                ReadSource.current?.note(lag.map(ReadSource.Place.standby) ?? .primary)
                return value
            } catch let error as PGError where Self.standbyGone(error) {
                standbyAnswers.store(false, ordering: .relaxed)
            }
        }
        ReadSource.current?.note(.primary)
        return try await primary.run(body)
    }

    /// The DSN a long read (an export, which holds one connection for its whole stream) should
    /// use: the standby's while it last answered, else nil (the primary's).
    public var streamDSN: String? { standbyAnswers.load(ordering: .relaxed) ? standbyDSN : nil }

    /// The standby cannot serve the read: its connection failed or broke (libpq's own errors,
    /// which carry no SQLSTATE, and class 08), it is shutting down or starting (57P01…57P03), or
    /// recovery cancelled the query (40001). A statement's own error (any other SQLSTATE) is not.
    static func standbyGone(_ error: PGError) -> Bool {
        guard !error.connectionLost, let state = error.sqlState else { return true }
        return state.hasPrefix("08") || state.hasPrefix("57P") || state == "40001"
    }

    /// Seconds the standby's replay is behind what it has received (0 when it has replayed all
    /// of it); nil when the server is not in recovery (the DSN led to a primary).
    static func lag(on connection: PGConnection) throws(PGError) -> Double? {
        let row = try connection.exec(
            """
            SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL
                        WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
                        ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END
            """
        ).rows.first
        return row?[0].flatMap { Double($0) }
    }
}

/// Where one request's reads ran, set around the request by the UI.
public final class ReadSource: Sendable {
    public enum Place: Sendable, Equatable {
        case primary
        case standby(lagSeconds: Double)
    }

    private let places = Mutex<[Place]>([])

    public init() {}

    func note(_ place: Place) { places.withLock { $0.append(place) } }

    /// The reads' place: the primary if any read ran there, else the standby at its largest lag.
    public var place: Place? {
        places.withLock { places in
            guard !places.isEmpty else { return nil }
            if places.contains(.primary) { return .primary }
            return .standby(lagSeconds: places.map { if case .standby(let lag) = $0 { lag } else { 0 } }.max() ?? 0)
        }
    }

    @TaskLocal public static var current: ReadSource?
}
