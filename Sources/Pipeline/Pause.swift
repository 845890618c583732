public import Logging
import ServiceLifecycle

/// How every background loop waits between steps: `duration` on `clock` (the collector's, a
/// `TestClock` in tests, so a test moves time instead of waiting for it), ended early by graceful
/// shutdown or cancellation.
public func pause(for duration: Duration, on clock: any Clock<Duration>) async {
    try? await cancelWhenGracefulShutdown { try await clock.sleep(for: duration) }
}

/// A cache's refresh loop: reload now and then every `interval` on `clock`, until shutdown.
/// While reloads fail the last loaded values stay in force; the first failure and the recovery
/// are logged once each (`<name>.refresh_failed`, `<name>.refresh_recovered`).
public enum RefreshLoop {
    public static func run(
        _ name: String, every interval: Duration, on clock: any Clock<Duration>, logger: Logger, keeping: String,
        _ refresh: () async throws -> Void
    ) async {
        var failing = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await refresh()
                if failing { logger.info("\(name).refresh_recovered") }
                failing = false
            } catch {
                if !failing {
                    logger.warning("\(name).refresh_failed", metadata: ["error": "\(error)", "effect": "the last known \(keeping) stay in force"])
                }
                failing = true
            }
            await pause(for: interval, on: clock)
        }
    }
}

/// Time elapsed on an injected clock since the stopwatch started, for a loop that does
/// something at most once per interval.
public struct Stopwatch: Sendable {
    private let read: @Sendable () -> Duration

    public init(on clock: any Clock<Duration>) {
        func start<C: Clock<Duration>>(_ clock: C) -> @Sendable () -> Duration {
            let started = clock.now
            return { started.duration(to: clock.now) }
        }
        read = start(clock)
    }

    public var elapsed: Duration { read() }
}
