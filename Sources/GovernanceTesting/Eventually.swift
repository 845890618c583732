import Foundation

/// Polls `condition` every 20 ms for up to `seconds`: a guard against a hung test, generous because
/// a busy CI machine is slow; a condition that holds returns at once.
@discardableResult
package func eventually(_ seconds: Double = 60, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
