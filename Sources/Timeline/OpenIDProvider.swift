import Foundation
import NIOPosix
import Pipeline

#if PlatformBridge
    import CurlHTTP
#endif

/// The collector's side of talking to the OpenID Connect provider: its discovery document and
/// signing keys (fetched when first needed, so the collector starts while the provider is down,
/// and kept), the authorization request, and the code-for-tokens exchange. All over HTTPS by
/// libcurl, on NIO's blocking-work pool.
actor OpenIDProvider {
    let config: OpenIDSignIn
    private var endpoints: Endpoints?
    private var keys: (verifier: IDTokenVerifier, fetched: ContinuousClock.Instant)?

    /// Keys are fetched again for a token naming an unknown key (the provider rotated them), but
    /// not more often than this, so forged tokens cannot make the collector hammer the provider.
    static let keyRefetchInterval: Duration = .seconds(60)
    /// Keys older than this are fetched again anyway, so a key the provider withdrew stops verifying.
    static let keyMaxAge: Duration = .seconds(3600)

    struct Endpoints: Sendable {
        var authorization: String
        var token: String
        var keys: String
    }

    init(config: OpenIDSignIn) { self.config = config }

    /// Where to send the browser: the provider's authorization endpoint with this login's state,
    /// nonce and PKCE challenge (S256).
    func authorizationURL(state: String, nonce: String, codeChallenge: String) async throws(OpenIDError) -> String {
        let endpoints = try await discovered()
        let query = FormEncoding.encode([
            ("response_type", "code"), ("client_id", config.clientID), ("redirect_uri", config.redirectURI),
            ("scope", config.scopes.joined(separator: " ")), ("state", state), ("nonce", nonce),
            ("code_challenge", codeChallenge), ("code_challenge_method", "S256"),
        ])
        return endpoints.authorization + (endpoints.authorization.contains("?") ? "&" : "?") + query
    }

    /// Trades the authorization code for tokens (the client authenticated with HTTP Basic, as
    /// `client_secret_basic` asks) and returns the checked ID token.
    func signIn(code: String, codeVerifier: String, nonce: String) async throws(OpenIDError) -> IDToken {
        let endpoints = try await discovered()
        let body = FormEncoding.encode([
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", config.redirectURI), ("code_verifier", codeVerifier),
        ])
        let basic = Data((FormEncoding.escape(config.clientID) + ":" + FormEncoding.escape(config.clientSecret)).utf8).base64EncodedString()
        let answer = try await fetch(
            "POST", endpoints.token,
            headers: ["Authorization: Basic \(basic)", "Content-Type: application/x-www-form-urlencoded", "Accept: application/json"],
            body: Array(body.utf8))
        guard answer.status == 200 else {
            let error = (Self.object(answer.body)?["error"]?.stringValue).map { " (\($0))" } ?? ""
            throw OpenIDError(description: "the provider's token endpoint answered \(answer.status)\(error)")
        }
        guard let idToken = Self.object(answer.body)?["id_token"]?.stringValue else {
            throw OpenIDError(description: "the provider's token answer has no id_token")
        }
        let expected = IDTokenVerifier.Expected(issuer: config.issuer, clientID: config.clientID, nonce: nonce, now: Date())
        let known = try await verifier(refetch: false)
        do {
            return try await known.verify(idToken, expected)
        } catch  where error.unknownKey {
            let fresh = try await verifier(refetch: true)
            do {
                return try await fresh.verify(idToken, expected)
            } catch {
                throw OpenIDError(description: error.description)
            }
        } catch {
            throw OpenIDError(description: error.description)
        }
    }

    private func discovered() async throws(OpenIDError) -> Endpoints {
        if let endpoints { return endpoints }
        let url = config.discoveryURL
        let answer = try await fetch("GET", url, headers: ["Accept: application/json"], body: nil)
        guard answer.status == 200, let document = Self.object(answer.body) else {
            throw OpenIDError(description: "the provider's discovery document (\(url)) answered \(answer.status)")
        }
        // OpenID Connect Discovery §4.3: the document's issuer is exactly the one configured.
        guard let issuer = document["issuer"]?.stringValue, issuer == config.issuer else {
            throw OpenIDError(
                description: "the discovery document names issuer `\(document["issuer"]?.stringValue ?? "none")`, not `\(config.issuer)`")
        }
        let names = ["authorization_endpoint", "token_endpoint", "jwks_uri"]
        let urls = names.map { document[$0]?.stringValue ?? "" }
        if let missing = zip(names, urls).first(where: { !$0.1.hasPrefix("https://") }) {
            throw OpenIDError(description: "the discovery document's \(missing.0) is not an https URL")
        }
        let found = Endpoints(authorization: urls[0], token: urls[1], keys: urls[2])
        endpoints = found
        return found
    }

    /// A verifier with the provider's signing keys, fetched again when `refetch` asks and the
    /// last fetch is old enough.
    private func verifier(refetch: Bool) async throws(OpenIDError) -> IDTokenVerifier {
        let clock = ContinuousClock()
        if let keys {
            let age = keys.fetched.duration(to: clock.now)
            if age < (refetch ? Self.keyRefetchInterval : Self.keyMaxAge) { return keys.verifier }
        }
        let url = try await discovered().keys
        let answer = try await fetch("GET", url, headers: ["Accept: application/json"], body: nil)
        guard answer.status == 200, let verifier = try? IDTokenVerifier(keySet: Data(answer.body)) else {
            throw OpenIDError(description: "the provider's key set (\(url)) answered \(answer.status) without a readable JWKS")
        }
        keys = (verifier, clock.now)
        return verifier
    }

    private func fetch(_ method: String, _ url: String, headers: [String], body: [UInt8]?) async throws(OpenIDError) -> (status: Int, body: [UInt8]) {
        #if PlatformBridge
            let caFile = config.caFile
            do {
                let result = try await NIOThreadPool.singleton.runIfActive {
                    try CurlConnection(caFile: caFile).request(method, url, headers: headers, body: body, timeoutSeconds: 15)
                }
                return (result.status, result.body)
            } catch {
                throw OpenIDError(description: "the provider did not answer at \(url): \(error)")
            }
        #else
            throw OpenIDError(description: "this build has no libcurl (the PlatformBridge trait)")
        #endif
    }

    /// A JSON object answer, or nil.
    private static func object(_ body: [UInt8]) -> JSONValue? {
        guard let value = try? JSONParser.parse(body), case .object = value else { return nil }
        return value
    }
}

/// Why a sign-in through the provider failed, in words for the log and the access event.
struct OpenIDError: Error, Sendable, CustomStringConvertible {
    let description: String
}

/// `application/x-www-form-urlencoded`, for the authorization request's query and the token request's body.
enum FormEncoding {
    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    /// RFC 3986's unreserved characters, ASCII only.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}
