import Foundation
import Pipeline
@testable import Receivers
import Testing

/// The two headers read on every request, parsed on their bytes.
@Suite("Authorization and Content-Type parsing")
struct HeaderParsingTests {
    @Test("a bearer token is read in any scheme case, with blanks around it trimmed; anything else is no token")
    func bearer() {
        #expect(IngestToken.bearer("Bearer wf_abc") == "wf_abc")
        #expect(IngestToken.bearer("bearer wf_abc") == "wf_abc")
        #expect(IngestToken.bearer("BEARER \t wf_abc \t") == "wf_abc")
        for refused in [nil, "", "Bearer", "Bearer ", "Bearer \t ", "Bearerwf_abc", "Basic d2Y6YWJj", "Bearer-wf_abc", "Béarer wf_abc"] {
            #expect(IngestToken.bearer(refused) == nil, "\(String(describing: refused))")
        }
    }

    @Test("Basic auth's password is read (Langfuse's public key : secret key); no colon, an empty password or bad base64 is no token")
    func basicPassword() {
        func basic(_ credentials: String) -> String { "Basic " + Data(credentials.utf8).base64EncodedString() }
        #expect(IngestToken.basicPassword(basic("pk-lf-local:wf_abc")) == "wf_abc")
        #expect(IngestToken.basicPassword("basic " + Data(":wf_a:b".utf8).base64EncodedString()) == "wf_a:b", "the password may hold a colon")
        for refused in [nil, "", "Basic", "Basic ", basic("pk-no-colon"), basic("pk:"), "Basic !!!", "Bearer wf_abc"] {
            #expect(IngestToken.basicPassword(refused) == nil, "\(String(describing: refused))")
        }
    }

    @Test("a token's digest is the same from a String and from a Substring of a header")
    func digest() {
        let header = "Bearer wf_benchmark_token_not_secret_000"
        #expect(IngestToken.digest(IngestToken.bearer(header)!) == IngestToken.digest("wf_benchmark_token_not_secret_000"))
        #expect(
            WorkflowTokens.sha256Hex("wf_benchmark_token_not_secret_000")
                == IngestToken.digest("wf_benchmark_token_not_secret_000").map { String(format: "%02x", $0) }.joined())
    }

    @Test("the media type is what precedes the parameters, trimmed and in lower case")
    func mediaType() {
        #expect(contentMediaType("application/json") == "application/json")
        #expect(contentMediaType(" Application/JSON ; charset=utf-8") == "application/json")
        #expect(contentMediaType("application/x-protobuf;") == "application/x-protobuf")
        #expect(contentMediaType(nil) == "")
        #expect(contentMediaType(";charset=utf-8") == "")
        #expect(contentMediaType("text/plain") == "text/plain")
    }
}
