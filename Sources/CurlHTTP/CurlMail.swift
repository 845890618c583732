import CCurl

/// One e-mail over SMTP by libcurl (STARTTLS when the server offers it), blocking: call it off
/// the cooperative pool.
package enum CurlMail {
    package static func send(url: String, from: String, to: String, message: String, caFile: String? = nil, timeoutSeconds: Int = 30)
        throws(CurlError)
    {
        _ = CurlConnection.globalInit
        var error = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE))
        let bytes = Array(message.utf8)
        let code = bytes.withUnsafeBufferPointer { body in
            body.withMemoryRebound(to: CChar.self) { text in
                ccurl_send_mail(url, "<\(from)>", "<\(to)>", text.baseAddress, text.count, timeoutSeconds, caFile, &error)
            }
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CurlError(code: Int(code.rawValue), message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
        }
    }
}
