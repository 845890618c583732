public import Logging
import ServiceLifecycle

/// A background service's loop: run `step` until graceful shutdown or cancellation, then wait
/// the seconds it returns on `clock` (0: go again at once); after a failure, log `failure` with
/// the error and wait 1 s, doubling up to `maxBackoff` while failures last.
public enum RepeatingStep {
    public static func run(
        on clock: any Clock<Duration>, logger: Logger, failure: Logger.Message, maxBackoff: Double, _ step: () async throws -> Double
    ) async {
        var backoff = Backoff(initial: 1, maximum: maxBackoff)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var wait: Double
            do {
                wait = try await step()
                backoff.succeeded()
            } catch {
                wait = backoff.failed()
                logger.warning(failure, metadata: ["error": "\(error)", "retry_in_seconds": "\(wait)"])
            }
            if wait > 0 { await pause(for: .seconds(wait), on: clock) }
        }
    }
}
