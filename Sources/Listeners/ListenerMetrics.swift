import CoreMetrics
package import Pipeline
import Synchronization

/// A listener's connection metrics, labelled `listener="<id>"`: connections open and accepted,
/// connections closed by a timeout (by phase: header, body, idle), and how often the listener
/// was at `max_connections` (accepting paused, or for gRPC a connection closed at once).
package final class ListenerMetrics: Sendable {
    let open: Gauge
    let accepted: Counter
    let timeouts: CounterFamily
    let atCapacity: Counter
    private let count = Mutex(0)

    package init(_ telemetry: Telemetry, listener: String) {
        open = telemetry.gauge("governance_listener_connections", [("listener", listener)])
        accepted = telemetry.counter("governance_listener_connections_accepted_total", [("listener", listener)])
        timeouts = telemetry.counterFamily("governance_listener_timeouts_total", [("listener", listener)], varying: "phase")
        atCapacity = telemetry.counter("governance_listener_at_capacity_total", [("listener", listener)])
    }

    /// Connections open now.
    package var openConnections: Int { count.withLock { $0 } }

    func opened() {
        let now = count.withLock {
            $0 += 1; return $0
        }
        accepted.increment()
        open.record(now)
    }

    func closed() {
        open.record(
            count.withLock {
                $0 -= 1; return $0
            })
    }

    func timedOut(_ phase: String) { timeouts.increment(phase) }
    func reachedCapacity() { atCapacity.increment() }
}
