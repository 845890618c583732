package import CurlHTTP
import Pipeline
import Synchronization

/// Async HTTP requests for tests and the bench, through libcurl (`CurlConnection`): each runs on
/// a thread of its own (`BlockingExecutor.loop`), so a test's requests never hold up the
/// cooperative pool that the collector under test runs on.
package enum TestHTTP {
    /// `timeoutSeconds` bounds the whole exchange: raise it for a request a test holds up on purpose.
    package static func request(
        _ method: String, _ url: String, headers: [String] = [], body: [UInt8]? = nil,
        caFile: String? = nil, timeoutSeconds: Int = 30
    ) async throws -> HTTPResult {
        let answer = Mutex<Result<HTTPResult, CurlError>?>(nil)
        await BlockingExecutor.loop(named: "test-http") {
            let connection = CurlConnection(caFile: caFile)
            let result = Result { () throws(CurlError) in
                try connection.request(method, url, headers: headers, body: body, timeoutSeconds: timeoutSeconds)
            }
            answer.withLock { $0 = result }
        }
        return try answer.withLock { $0! }.get()
    }
}
