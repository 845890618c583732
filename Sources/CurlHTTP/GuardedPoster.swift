import CCurl
import Foundation

/// A keep-alive POST client for one fixed URL, hardened for sending data off the premises:
/// redirects never followed, environment proxies ignored, TLS verification always on, only the
/// URL's own scheme allowed, and every address libcurl is about to connect to passed through
/// `allowAddress` first (the open-socket callback runs after DNS, so a name that resolves to a
/// refused address, or starts to, is refused). HTTP/2 is used when the server offers it over TLS.
/// Blocking and not thread-safe: one per sending thread.
package final class GuardedPoster {
    package struct Options: Sendable {
        package var url: String
        package var headers: [String]
        /// PEM bundle replacing the system CAs (private CAs); nil uses the system store.
        package var caFile: String?
        package var connectTimeoutMilliseconds = 5_000
        package var timeoutMilliseconds = 10_000
        /// `host:port:address` entries pinning a name to an address (libcurl's CURLOPT_RESOLVE);
        /// tests use it to map public-looking names to loopback without touching DNS.
        package var resolve: [String] = []
        /// Raw address bytes (4 or 16) of each connection attempt; false refuses the connection.
        package var allowAddress: @Sendable ([UInt8]) -> Bool
        /// Polled during a transfer (at least once a second); true aborts it (e.g. a shutdown deadline).
        package var shouldAbort: @Sendable () -> Bool = { false }

        package init(url: String, headers: [String], caFile: String? = nil, allowAddress: @escaping @Sendable ([UInt8]) -> Bool) {
            self.url = url
            self.headers = headers
            self.caFile = caFile
            self.allowAddress = allowAddress
        }
    }

    private let handle: UnsafeMutableRawPointer
    private let options: Options
    private let guardBox: UnsafeMutablePointer<ccurl_socket_guard>
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var resolveList: UnsafeMutablePointer<curl_slist>?
    private let sink = ResponseSink()
    /// The last address the guard refused (as bytes), for the error message.
    package private(set) var lastRefusedAddress: [UInt8]?

    package init(_ options: Options) {
        _ = CurlConnection.globalInit
        handle = curl_easy_init()
        self.options = options
        guardBox = .allocate(capacity: 1)
        for header in options.headers + ["Expect:"] { headerList = curl_slist_append(headerList, header) }
        for entry in options.resolve { resolveList = curl_slist_append(resolveList, entry) }
        guardBox.initialize(
            to: ccurl_socket_guard(
                filter: { context, bytes, length in
                    let poster = Unmanaged<GuardedPoster>.fromOpaque(context!).takeUnretainedValue()
                    let address = Array(UnsafeBufferPointer(start: bytes, count: Int(length)))
                    if poster.options.allowAddress(address) { return 1 }
                    poster.lastRefusedAddress = address
                    return 0
                },
                should_abort: { context in
                    Unmanaged<GuardedPoster>.fromOpaque(context!).takeUnretainedValue().options.shouldAbort() ? 1 : 0
                }, context: Unmanaged.passUnretained(self).toOpaque()))
        configure()
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        curl_slist_free_all(resolveList)
        guardBox.deallocate()
    }

    private func configure() {
        let https = options.url.lowercased().hasPrefix("https:")
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_URL, options.url)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_POST, 1)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_HTTPHEADER, headerList)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_RESOLVE, resolveList)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_PROTOCOLS_STR, https ? "https" : "http")
        _ = ccurl_easy_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_PROXY, "")
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_NOPROXY, "*")
        _ = ccurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
        if let caFile = options.caFile { _ = ccurl_easy_setopt_ptr(handle, CURLOPT_CAINFO, caFile) }
        _ = ccurl_easy_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        _ = ccurl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, options.connectTimeoutMilliseconds)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, options.timeoutMilliseconds)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_easy_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
        _ = ccurl_install_socket_guard(handle, guardBox)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        _ = ccurl_easy_setopt_write(handle, CURLOPT_WRITEFUNCTION, ResponseSink.appendBody)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_WRITEDATA, context)
        _ = ccurl_easy_setopt_write(handle, CURLOPT_HEADERFUNCTION, ResponseSink.appendHeader)
        _ = ccurl_easy_setopt_ptr(handle, CURLOPT_HEADERDATA, context)
    }

    /// POSTs `body`; the response (any status) or the transport error. `headers` are added to
    /// the configured ones for this request only (e.g. a signature); `timeoutMilliseconds`
    /// shortens this one attempt (e.g. to meet a shutdown deadline).
    package func post(_ body: [UInt8], headers: [String] = [], timeoutMilliseconds: Int? = nil) -> Result<HTTPResult, CurlError> {
        sink.reset()
        lastRefusedAddress = nil
        var requestHeaders: UnsafeMutablePointer<curl_slist>?
        if !headers.isEmpty {
            for header in options.headers + ["Expect:"] + headers { requestHeaders = curl_slist_append(requestHeaders, header) }
            _ = ccurl_easy_setopt_ptr(handle, CURLOPT_HTTPHEADER, requestHeaders)
        }
        defer {
            if requestHeaders != nil {
                _ = ccurl_easy_setopt_ptr(handle, CURLOPT_HTTPHEADER, headerList)
                curl_slist_free_all(requestHeaders)
            }
        }
        _ = ccurl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, max(1, min(timeoutMilliseconds ?? .max, options.timeoutMilliseconds)))
        let code: CURLcode = body.withUnsafeBytes { raw in
            _ = ccurl_easy_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
            _ = ccurl_easy_setopt_ptr(handle, CURLOPT_POSTFIELDS, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
            return curl_easy_perform(handle)
        }
        guard code == CURLE_OK else {
            return .failure(CurlError(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code))))
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResult(status: status, headers: sink.headers, body: sink.body))
    }

    /// The HTTP version the last response came with (e.g. 2 for HTTP/2, 1 for HTTP/1.1).
    package var lastHTTPVersion: Int {
        var version = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_HTTP_VERSION, &version)
        switch version {
        case Int(CURL_HTTP_VERSION_2_0): return 2
        case Int(CURL_HTTP_VERSION_3): return 3
        default: return 1
        }
    }
}

/// Collects one response's body and headers from libcurl's callbacks.
final class ResponseSink {
    var body: [UInt8] = []
    var headers: [String: String] = [:]

    func reset() {
        body.removeAll(keepingCapacity: true)
        headers.removeAll(keepingCapacity: true)
    }

    static let appendBody: ccurl_write_cb = { data, size, count, context in
        let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
        let n = size * count
        data.map { sink.body.append(contentsOf: UnsafeRawBufferPointer(start: $0, count: n)) }
        return n
    }

    static let appendHeader: ccurl_write_cb = { data, size, count, context in
        let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
        let n = size * count
        if let data {
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
            if line.hasPrefix("HTTP/") { sink.headers.removeAll() }  // a new response (e.g. after 100)
            if let colon = line.firstIndex(of: ":") {
                sink.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return n
    }
}
