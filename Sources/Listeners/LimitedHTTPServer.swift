public import Hummingbird
public import HummingbirdCore
public import NIOCore
import Synchronization

/// Hummingbird configuration with `ListenerLimits` applied: the connection cap and the
/// per-connection deadlines. Every HTTP listener of the collector is built from these.
public enum LimitedHTTPServer {
    public static func configuration(host: String, port: Int, limits: ListenerLimits, metrics: ListenerMetrics) -> ApplicationConfiguration {
        ApplicationConfiguration(address: .hostname(host, port: port), serverName: "governance-collector",
                                 availableConnectionsDelegate: ConnectionCap(max: limits.maxConnections, metrics: metrics))
    }

    public static func http1(limits: ListenerLimits, metrics: ListenerMetrics) -> HTTPServerBuilder {
        .http1(configuration: .init(additionalChannelHandlers: [RequestDeadlines(limits: limits, metrics: metrics)]))
    }
}

/// Stops accepting at `max` open connections (Hummingbird then leaves new ones in the
/// kernel's backlog) and counts connections as they open and close.
struct ConnectionCap: AvailableConnectionsDelegate {
    let max: Int
    let metrics: ListenerMetrics
    private var open = 0

    init(max: Int, metrics: ListenerMetrics) {
        self.max = max
        self.metrics = metrics
    }

    mutating func connectionOpened() {
        open += 1
        metrics.opened()
    }

    mutating func connectionClosed() {
        open -= 1
        metrics.closed()
    }

    func isAcceptingNewConnections() -> Bool {
        if open < max { return true }
        metrics.reachedCapacity()
        return false
    }
}

/// The connection cap and a first-stream deadline for listeners whose transport cannot pause
/// accepting (grpc-swift's): a connection beyond `max` is closed as soon as it is accepted, and
/// one that opens no stream within `firstStreamTimeout` (a silent socket, half a preface) is
/// closed. grpc-swift's own idle timer covers a connection only after its first stream (it
/// starts on `channelActive`, which the transport's late pipeline set-up misses).
public final class AcceptedConnectionGuard: Sendable {
    let max: Int
    let firstStreamTimeout: Double
    let metrics: ListenerMetrics
    private let awaitingStream = Mutex<Set<ObjectIdentifier>>([])

    public init(max: Int, firstStreamTimeout: Double, metrics: ListenerMetrics) {
        self.max = max
        self.firstStreamTimeout = firstStreamTimeout
        self.metrics = metrics
    }

    /// For the transport's accepted-connection callback.
    public func admit(_ channel: any Channel) -> EventLoopFuture<Void> {
        let id = ObjectIdentifier(channel)
        metrics.opened()
        awaitingStream.withLock { _ = $0.insert(id) }
        channel.closeFuture.whenComplete { [self] _ in
            metrics.closed()
            awaitingStream.withLock { _ = $0.remove(id) }
        }
        if metrics.openConnections > max {
            metrics.reachedCapacity()
            return channel.close()
        }
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(firstStreamTimeout)) { [self] in
            if awaitingStream.withLock({ $0.remove(id) }) != nil {
                metrics.timedOut("header")
                channel.close(promise: nil)
            }
        }
        // A pending task keeps its channel alive: cancel it as soon as the connection closes.
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
        return channel.eventLoop.makeSucceededVoidFuture()
    }

    /// For the transport's accepted-stream callback.
    public func streamOpened(_ stream: any Channel) -> EventLoopFuture<Void> {
        if let connection = stream.parent {
            _ = awaitingStream.withLock { $0.remove(ObjectIdentifier(connection)) }
        }
        return stream.eventLoop.makeSucceededVoidFuture()
    }
}
