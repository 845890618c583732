public import Logging
import ServiceLifecycle

/// A background service's loop: run `step` until graceful shutdown or cancellation, then wait
/// the seconds it returns (0: go again at once); after a failure, log `failure` with the error
/// and wait 1 s, doubling up to `maxBackoff` while failures last.
public enum RepeatingStep {
    public static func run(logger: Logger, failure: Logger.Message, maxBackoff: Double, _ step: () async throws -> Double) async {
        var backoff = Backoff(initial: 1, maximum: maxBackoff)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var pause: Double
            do {
                pause = try await step()
                backoff.succeeded()
            } catch {
                pause = backoff.failed()
                logger.warning(failure, metadata: ["error": "\(error)", "retry_in_seconds": "\(pause)"])
            }
            if pause > 0 {
                let seconds = pause
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(seconds)) }
            }
        }
    }
}
