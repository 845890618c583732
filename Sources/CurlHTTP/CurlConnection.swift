import CCurl
import Foundation

/// An HTTP response as libcurl delivered it.
package struct HTTPResult: Sendable {
    package var status: Int
    package var headers: [String: String]
    package var body: [UInt8]
    package var text: String { String(decoding: body, as: UTF8.self) }
}

package struct CurlError: Error, Sendable, CustomStringConvertible {
    package var code: Int
    package var message: String
    package var description: String { "curl error \(code): \(message)" }
}

/// One keep-alive HTTP connection through libcurl's easy interface. Blocking and not
/// thread-safe: give each concurrent client its own (tests and the benchmark run one per thread).
package final class CurlConnection {
    private let handle: UnsafeMutableRawPointer
    private let caFile: String?

    package init(caFile: String? = nil) {
        _ = Self.globalInit
        handle = curl_easy_init()
        self.caFile = caFile
    }

    deinit { curl_easy_cleanup(handle) }

    static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    package func request(_ method: String, _ url: String, headers: [String] = [], body: [UInt8]? = nil, timeoutSeconds: Int = 30) throws(CurlError)
        -> HTTPResult
    {
        let sink = ResponseSink()
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var list: UnsafeMutablePointer<curl_slist>?
        for header in headers { list = curl_slist_append(list, header) }
        if body != nil { list = curl_slist_append(list, "Expect:") }
        defer { curl_slist_free_all(list) }

        curl_easy_reset(handle)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_URL, url)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_CUSTOMREQUEST, method)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_HTTPHEADER, list)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_TIMEOUT, timeoutSeconds)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_NOPROXY, "*")
        if let caFile { _ = ccurl_easy_setopt_ptr(handle, CURLOPT_CAINFO, caFile) }
        _ = ccurl_easy_setopt_write(handle, CURLOPT_WRITEFUNCTION, ResponseSink.appendBody)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_WRITEDATA, context)
        _ = ccurl_easy_setopt_write(handle, CURLOPT_HEADERFUNCTION, ResponseSink.appendHeader)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_HEADERDATA, context)

        let code: CURLcode = (body ?? []).withUnsafeBytes { raw in
            if body != nil {
                _ = ccurl_easy_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
                _ = ccurl_easy_setopt_ptr(handle, CURLOPT_POSTFIELDS, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
            }
            return curl_easy_perform(handle)
        }
        guard code == CURLE_OK else {
            throw CurlError(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code)))
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResult(status: status, headers: sink.headers, body: sink.body)
    }
}
