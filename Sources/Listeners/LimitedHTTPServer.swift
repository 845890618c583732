package import Hummingbird
package import HummingbirdCore
package import NIOCore
import Synchronization

/// Hummingbird configuration with `ListenerLimits` applied: the connection cap and the
/// per-connection deadlines. Every HTTP listener of the collector is built from these.
package enum LimitedHTTPServer {
    package static func configuration(host: String, port: Int, limits: ListenerLimits, metrics: ListenerMetrics) -> ApplicationConfiguration {
        ApplicationConfiguration(
            address: .hostname(host, port: port), serverName: "governance-collector",
            availableConnectionsDelegate: ConnectionCap(max: limits.maxConnections, metrics: metrics))
    }

    package static func http1(limits: ListenerLimits, metrics: ListenerMetrics) -> HTTPServerBuilder {
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
/// accepting (grpc-swift's). At `max` open connections a new one takes the place of the oldest
/// connection with no stream open (a silent socket, a preface and nothing else, a client gone
/// quiet), which is closed; only when every connection has a call in progress is the new one
/// closed instead. So idle sockets, however many, cannot keep an honest exporter out. A
/// connection that opens no stream within `firstStreamTimeout` is closed. grpc-swift's own idle
/// timer covers a connection only after its first stream (it starts on `channelActive`, which
/// the transport's late pipeline set-up misses).
package final class AcceptedConnectionGuard: Sendable {
    let max: Int
    let firstStreamTimeout: Double
    let metrics: ListenerMetrics

    /// One open connection: its channel, when it was accepted (its place in line), its open streams.
    struct Connection {
        var channel: any Channel
        var order: UInt64
        var openStreams = 0
        var hadStream = false
    }

    private struct State {
        var connections: [ObjectIdentifier: Connection] = [:]
        var accepted: UInt64 = 0
    }
    private let state = Mutex(State())

    package init(max: Int, firstStreamTimeout: Double, metrics: ListenerMetrics) {
        self.max = max
        self.firstStreamTimeout = firstStreamTimeout
        self.metrics = metrics
    }

    /// For the transport's accepted-connection callback.
    package func admit(_ channel: any Channel) -> EventLoopFuture<Void> {
        let id = ObjectIdentifier(channel)
        metrics.opened()
        enum Admission { case admitted, displacing(any Channel), refused }
        let admission: Admission = state.withLock { state in
            var admission = Admission.admitted
            if state.connections.count >= max {
                guard let idle = state.connections.filter({ $0.value.openStreams == 0 }).min(by: { $0.value.order < $1.value.order }) else {
                    return .refused
                }
                admission = .displacing(idle.value.channel)
                state.connections.removeValue(forKey: idle.key)
            }
            state.accepted += 1
            state.connections[id] = Connection(channel: channel, order: state.accepted)
            return admission
        }
        channel.closeFuture.whenComplete { [self] _ in
            metrics.closed()
            state.withLock { _ = $0.connections.removeValue(forKey: id) }
        }
        switch admission {
        case .admitted: break
        case .displacing(let idle):
            metrics.reachedCapacity()
            idle.close(promise: nil)
        case .refused:
            metrics.reachedCapacity()
            return channel.close()
        }
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(firstStreamTimeout)) { [self] in
            let silent = state.withLock { $0.connections[id].map { !$0.hadStream } ?? false }
            if silent {
                metrics.timedOut("header")
                channel.close(promise: nil)
            }
        }
        // A pending task keeps its channel alive: cancel it as soon as the connection closes.
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
        return channel.eventLoop.makeSucceededVoidFuture()
    }

    /// For the transport's accepted-stream callback.
    package func streamOpened(_ stream: any Channel) -> EventLoopFuture<Void> {
        if let connection = stream.parent {
            let id = ObjectIdentifier(connection)
            state.withLock { state in
                state.connections[id]?.openStreams += 1
                state.connections[id]?.hadStream = true
            }
            stream.closeFuture.whenComplete { [self] _ in
                state.withLock { $0.connections[id]?.openStreams -= 1 }
            }
        }
        return stream.eventLoop.makeSucceededVoidFuture()
    }
}
