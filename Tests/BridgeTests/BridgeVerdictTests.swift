@testable import Exporters
import Foundation
import Testing

@Suite("platform bridge: the response table")
struct BridgeVerdictTests {
    let token = "wf_secret_token_value_123"

    func verdict(_ status: Int, _ body: String = "", headers: [String: String] = [:], now: Date = Date()) -> BridgeVerdict {
        BridgeVerdict.classify(status: status, headers: headers, body: Array(body.utf8), token: token, now: now)
    }

    @Test("2xx is sent", arguments: [200, 201, 202, 204])
    func success(status: Int) {
        #expect(verdict(status) == .sent)
    }

    @Test("401 and 402 disable the bridge")
    func disable() {
        guard case .disable(let reason) = verdict(401) else { Issue.record("401 must disable"); return }
        #expect(reason.contains("401"))
        guard case .disable(let reason402) = verdict(402) else { Issue.record("402 must disable"); return }
        #expect(reason402.contains("402"))
    }

    @Test("409 seq_out_of_order carries the platform's expected seq")
    func seqConflict() {
        #expect(verdict(409, #"{"ok":false,"error":"seq_out_of_order","message":"expected seq=42, got 17"}"#) == .seqConflict(expected: 42))
        #expect(verdict(409, #"{"ok":false,"error":"seq_out_of_order","message":"something else"}"#) == .seqConflict(expected: nil))
    }

    @Test("any other 409 is a duplicate: success, not a drop")
    func duplicate() {
        #expect(verdict(409, #"{"ok":false,"error":"duplicate_event"}"#) == .duplicate)
        #expect(verdict(409, "not json") == .duplicate)
    }

    @Test("413, other 4xx and redirects are dropped with a bounded, token-scrubbed preview")
    func drops() {
        #expect(verdict(413, "too large") == .drop(status: 413, preview: "too large"))
        #expect(verdict(302) == .drop(status: 302, preview: ""))
        guard case .drop(let status, let preview) = verdict(400, "bad token \(token)\n" + String(repeating: "x", count: 5000)) else {
            Issue.record("400 must drop"); return
        }
        #expect(status == 400)
        #expect(!preview.contains(token))
        #expect(preview.hasPrefix("bad token [token]?"))
        #expect(preview.count <= 201)
    }

    @Test("429 honours Retry-After as seconds or an HTTP date, else backs off")
    func rateLimited() {
        #expect(verdict(429, headers: ["retry-after": "7"]) == .rateLimited(retryAfter: 7))
        let now = Date(timeIntervalSince1970: 1_700_000_000)  // Tue, 14 Nov 2023 22:13:20 GMT
        #expect(verdict(429, headers: ["retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"], now: now) == .rateLimited(retryAfter: 30))
        #expect(verdict(429, headers: ["retry-after": "soon"]) == .rateLimited(retryAfter: nil))
        #expect(verdict(429) == .rateLimited(retryAfter: nil))
    }

    @Test("5xx is transient", arguments: [500, 502, 503, 504])
    func transient(status: Int) {
        #expect(verdict(status) == .transient("HTTP \(status)"))
    }

    @Test("a relay's batch answer: each item's status in order; an answer without readable results counts every item stored")
    func relayAnswer() {
        let body =
            #"{"ok":false,"stored":1,"duplicates":1,"rejected":1,"results":[{"index":0,"status":"stored"},{"index":1,"status":"duplicate"},"#
            + #"{"index":2,"status":"rejected","http_status":400,"field":"kind","message":"kind is required"}]}"#
        #expect(RelayAnswer.items(Array(body.utf8), count: 3) == [.stored, .duplicate, .rejected("kind is required")])
        #expect(RelayAnswer.items(Array(body.utf8), count: 2) == [.stored, .stored])
        #expect(RelayAnswer.items([], count: 2) == [.stored, .stored])
    }
}
