package import Config

/// What one client may hold on an HTTP listener, so a slow, idle or greedy client cannot keep
/// the collector from its honest ones (the knobs of Go's `http.Server`, nginx's
/// `client_header_timeout`/`client_body_timeout`/`keepalive_timeout`, Apache's mod_reqtimeout).
/// Read from the listener's own section; every listener (receivers, UI, telemetry) has them.
package struct ListenerLimits: Sendable, Equatable {
    /// `read_header_timeout` (seconds, default 10): from the connection's start, or from the
    /// first byte of a keep-alive request, until the whole request header has arrived (TLS
    /// handshake included). Slow or half headers are closed after it.
    package var readHeaderTimeout = 10.0
    /// `read_body_timeout` (seconds, default 10) and `read_body_min_rate` (bytes per second,
    /// default 65536): a body must have arrived within the timeout plus its size over the
    /// rate, as mod_reqtimeout's `body=10,MinRate=65536`. A 16 MiB batch gets 266 s; a body
    /// trickled at a few bytes a second is closed after about 10 s.
    package var readBodyTimeout = 10.0
    package var readBodyMinRate = 65_536
    /// `idle_timeout` (seconds, default 60): a keep-alive connection with no request is closed.
    package var idleTimeout = 60.0
    /// `max_connections` (default 1024): beyond it the listener stops accepting; new
    /// connections wait in the kernel's backlog until one closes (the timeouts above see to
    /// that), so honest clients are delayed, not refused.
    package var maxConnections = 1024

    package init(maxConnections: Int = 1024) {
        self.maxConnections = maxConnections
    }

    /// Reads the keys from `section` (which the caller finishes), `defaults` filling the rest.
    package static func read(_ section: ConfigSection, defaults: ListenerLimits = .init()) throws(ConfigError) -> ListenerLimits {
        var l = defaults
        l.readHeaderTimeout = try section.double("read_header_timeout", default: l.readHeaderTimeout, range: 0.1...3_600)
        l.readBodyTimeout = try section.double("read_body_timeout", default: l.readBodyTimeout, range: 0.1...3_600)
        l.readBodyMinRate = try section.int("read_body_min_rate", default: l.readBodyMinRate, range: 1...(1 << 30))
        l.idleTimeout = try section.double("idle_timeout", default: l.idleTimeout, range: 0.1...86_400)
        l.maxConnections = try section.int("max_connections", default: l.maxConnections, range: 1...1_000_000)
        return l
    }
}
