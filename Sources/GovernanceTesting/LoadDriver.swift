import CurlHTTP
import Foundation
import Synchronization

/// Drives a fixed number of requests over N concurrent keep-alive connections (one thread and
/// one `CurlConnection` each) and records every answer and its latency. Used by the load tests
/// and the benchmark; bounded by `total`, so it always stops by itself.
package struct LoadDriver {
    package struct Request: Sendable {
        package var method = "POST"
        package var url: String
        package var headers: [String]
        package var body: [UInt8]
        package init(url: String, headers: [String], body: [UInt8]) {
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    package struct Outcome: Sendable {
        /// Request index, HTTP status (0 for a transport error), latency in seconds.
        package var index: Int
        package var status: Int
        package var latency: Double
        package var body: [UInt8]
    }

    package struct Report: Sendable {
        package var outcomes: [Outcome]
        package var seconds: Double
        package func percentile(_ p: Double) -> Double {
            let sorted = outcomes.map(\.latency).sorted()
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
    }

    /// `stopOnTransportError`: a connection whose request fails without an HTTP answer stops
    /// (for crash tests, where the server is killed mid-run).
    /// `ratePerSecond` paces the whole run: request i is not sent before i / rate seconds.
    /// Runs on threads of its own and suspends (never blocks) the calling task meanwhile, so
    /// Swift's small cooperative pool stays free for the rest of a test.
    package static func run(
        connections: Int, total: Int, caFile: String? = nil, keepBodies: Bool = false,
        stopOnTransportError: Bool = false, ratePerSecond: Double? = nil, make: @escaping @Sendable (Int) -> Request
    ) async -> Report {
        let next = Atomic<Int>(0)
        let results = Mutex<[Outcome]>([])
        let group = DispatchGroup()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<connections {
            group.enter()
            Thread {
                let connection = CurlConnection(caFile: caFile)
                var local: [Outcome] = []
                while true {
                    let index = next.add(1, ordering: .relaxed).oldValue
                    guard index < total else { break }
                    if let ratePerSecond {
                        let due = start + UInt64(Double(index) / ratePerSecond * 1e9)
                        let now = DispatchTime.now().uptimeNanoseconds
                        if due > now { usleep(UInt32((due - now) / 1000)) }
                    }
                    let request = make(index)
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let result = try? connection.request(request.method, request.url, headers: request.headers, body: request.body)
                    let latency = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                    local.append(
                        Outcome(
                            index: index, status: result?.status ?? 0, latency: latency,
                            body: keepBodies ? (result?.body ?? []) : []))
                    if result == nil, stopOnTransportError { break }
                }
                results.withLock { $0.append(contentsOf: local) }
                group.leave()
            }.start()
        }
        await withCheckedContinuation { done in group.notify(queue: .global()) { done.resume() } }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Report(outcomes: results.withLock { $0 }.sorted { $0.index < $1.index }, seconds: seconds)
    }
}
