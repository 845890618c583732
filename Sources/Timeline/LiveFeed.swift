import AuditStore
import Foundation
import Logging
import Pipeline
import Synchronization

/// New events for every open timeline, from one reader: it follows the table in commit order
/// (`AuditTableFollower`, so events written by other collectors on the same database appear too)
/// every 250 ms and fans out to subscribers, however many browsers are watching. Recent events
/// are kept briefly so a page can ask for what committed between its render and its subscribe.
final class LiveFeed: Sendable {
    /// A new event, or (event nil) a keepalive, so a stream to a browser that went away ends.
    struct Item: Sendable {
        var sequence: Int64
        var event: EventSummary?
        /// The inserting transaction (`governance_txid`), so a page can skip what its snapshot already showed.
        var txid: UInt64 = 0
    }

    private struct State {
        var subscribers: [UUID: AsyncStream<Item>.Continuation] = [:]
        var recent: [Item] = []
        var sequence: Int64 = 0
        var available = true
        var finished = false
    }

    private let worker: PGWorker
    private let state = Mutex(State())
    private let logger: Logger
    /// What polls and keepalives are timed by (the collector's clock).
    private let clock: any Clock<Duration>
    static let pollInterval = Duration.milliseconds(250)
    static let recentLimit = 2000
    static let keepaliveInterval = Duration.seconds(15)

    init(database: AuditDatabase, clock: any Clock<Duration>, logger: Logger) {
        worker = database.worker(applicationName: "governance-collector-ui-live")
        self.clock = clock
        self.logger = logger
    }

    /// The feed's position now: a page rendered at this point asks for events after it.
    var position: Int64 { state.withLock { $0.sequence } }

    /// False when the table cannot be followed (an SDK-created table without `governance_txid`).
    var isAvailable: Bool { state.withLock { $0.available } }

    /// Events after `position`, then every new one, until the feed finishes or the caller stops.
    func subscribe(after position: Int64) -> (id: UUID, stream: AsyncStream<Item>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(5000))
        state.withLock { s in
            guard !s.finished else { return continuation.finish() }
            for item in s.recent where item.sequence > position { continuation.yield(item) }
            s.subscribers[id] = continuation
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        return (id, stream)
    }

    func unsubscribe(_ id: UUID) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
    }

    /// Ends every stream (graceful shutdown: open event streams must not hold the server up).
    func finish() {
        let continuations = state.withLock { s in
            s.finished = true
            defer { s.subscribers = [:] }
            return Array(s.subscribers.values)
        }
        for c in continuations { c.finish() }
    }

    func run() async {
        var cursor: AuditTableFollower.Cursor?
        var failing = false
        var sinceKeepalive = Stopwatch(on: clock)
        while !state.withLock({ $0.finished }) && !Task.isCancelled {
            if sinceKeepalive.elapsed > Self.keepaliveInterval {
                sinceKeepalive = Stopwatch(on: clock)
                let (continuations, position) = state.withLock { (Array($0.subscribers.values), $0.sequence) }
                for c in continuations { c.yield(Item(sequence: position, event: nil)) }
            }
            var fetched = 0
            do {
                let start = cursor
                let (rows, next) = try await worker.run { connection -> ([AuditTableFollower.Row], AuditTableFollower.Cursor?) in
                    let follower = AuditTableFollower(connection: connection)
                    // A table that does not exist yet (before the first migration) is retried, not reported as lacking the column.
                    guard let start else {
                        return ([], try AuditSchema.columns(connection).contains("governance_txid") ? follower.startCursor(since: nil) : nil)
                    }
                    let rows = try follower.fetch(after: start, limit: 1000)
                    return (rows, rows.last?.cursor ?? start)
                }
                state.withLock { $0.available = next != nil }
                cursor = next
                fetched = rows.count
                for case .failure(let error) in rows.map(\.decoded) {
                    logger.error("ui.undecodable_row", metadata: ["error": "\(error)"])
                }
                publish(rows.compactMap { row in row.event.map { (EventSummary($0), UInt64(row.cursor.txid) ?? 0) } })
                if failing { logger.info("ui.live_feed_recovered") }
                failing = false
            } catch {
                if !failing { logger.warning("ui.live_feed_failed", metadata: ["error": "\(error)"]) }
                failing = true
            }
            if fetched < 1000 { await pause(for: Self.pollInterval, on: clock) }
        }
    }

    private func publish(_ events: [(EventSummary, txid: UInt64)]) {
        guard !events.isEmpty else { return }
        let (continuations, items) = state.withLock { s -> ([AsyncStream<Item>.Continuation], [Item]) in
            let items = events.map { event, txid in
                s.sequence += 1
                return Item(sequence: s.sequence, event: event, txid: txid)
            }
            s.recent.append(contentsOf: items)
            if s.recent.count > Self.recentLimit { s.recent.removeFirst(s.recent.count - Self.recentLimit) }
            return (Array(s.subscribers.values), items)
        }
        for c in continuations { for item in items { c.yield(item) } }
    }
}
