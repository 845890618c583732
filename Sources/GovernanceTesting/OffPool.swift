import Foundation

/// Runs blocking work (a cluster's start, `CREATE DATABASE`, a child process) on a thread of its
/// own and awaits it. Swift's cooperative pool has as many threads as cores (two here), and the
/// collectors under test run on it: a test that blocks it for seconds stalls every collector's
/// timers and waits in the process.
package func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

extension ChildProcess {
    /// `wait()` off the cooperative pool.
    package func exitStatus() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: wait()) }.start()
        }
    }
}
