import Foundation
import JWTKit
import Pipeline

/// An OpenID Connect ID token whose signature and claims were checked: its claims, to name the
/// person and read their groups.
struct IDToken: Sendable {
    let claims: [String: ClaimValue]

    func string(_ claim: String) -> String? {
        if case .string(let value) = claims[claim] { return value }
        return nil
    }

    /// A claim holding a list of strings (or one string, as some providers send a single group).
    func strings(_ claim: String) -> [String] {
        switch claims[claim] {
        case .string(let value): [value]
        case .strings(let values): values
        default: []
        }
    }
}

/// One claim's value, as far as sign-in needs to tell them apart.
enum ClaimValue: Sendable, Equatable, Decodable {
    case string(String), strings([String]), number(Double), bool(Bool), other

    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let text = try? value.decode(String.self) {
            self = .string(text)
        } else if let number = try? value.decode(Double.self) {
            self = .number(number)
        } else if let flag = try? value.decode(Bool.self) {
            self = .bool(flag)
        } else if let texts = try? value.decode([String].self) {
            self = .strings(texts)
        } else {
            self = .other
        }
    }
}

/// Why an ID token was refused; the text names what was wrong, for the log and the access event.
struct IDTokenError: Error, Sendable, Equatable, CustomStringConvertible {
    let description: String
    /// The token names a key the provider's key set lacks: the set may have rotated since it was fetched.
    var unknownKey = false
}

/// Checks an ID token as OpenID Connect Core 1.0 §3.1.3.7 asks: signed by one of the provider's
/// keys with an asymmetric algorithm (the signature by jwt-kit), issued by the configured issuer
/// to this client, unexpired, and carrying the nonce of the login it answers.
struct IDTokenVerifier: Sendable {
    /// The provider's signing keys (its `jwks_uri` document), each with its key type.
    let keys: [(type: String, key: JWK)]

    /// Reads the provider's key set (RFC 7517 JSON), keeping the keys that may sign: one it
    /// marks for encryption, or that jwt-kit cannot read (a symmetric or encryption-only key
    /// beside the signing ones), is left out rather than failing the set.
    init(keySet json: Data) throws(IDTokenError) {
        guard let set = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any], let entries = set["keys"] as? [[String: Any]] else {
            throw IDTokenError(description: "the provider's key set is not a JWKS")
        }
        keys = entries.compactMap { entry in
            guard entry["use"] as? String != "enc", let type = entry["kty"] as? String,
                let data = try? JSONSerialization.data(withJSONObject: entry), let key = try? JSONDecoder().decode(JWK.self, from: data)
            else { return nil }
            return (type, key)
        }
    }

    /// Asymmetric algorithms only: `none` and HMAC (keyed with a client secret, or with a public
    /// key mistaken for one) never pass.
    static let algorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
    /// Clock difference tolerated between the provider and the collector.
    static let leeway: Double = 60

    struct Expected: Sendable {
        var issuer: String
        var clientID: String
        var nonce: String
        var now: Date
    }

    func verify(_ token: String, _ expected: Expected) async throws(IDTokenError) -> IDToken {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Base64URL.decode(String(parts[0])).flatMap({ try? JSONParser.parse($0) }),
            let alg = header["alg"]?.stringValue
        else {
            throw IDTokenError(description: "the ID token is not a signed JWT")
        }
        guard Self.algorithms.contains(alg) else {
            throw IDTokenError(description: "the ID token is signed with `\(alg)`, not an asymmetric algorithm")
        }
        let kid = header["kid"]?.stringValue
        let type = alg.hasPrefix("ES") ? "EC" : alg == "EdDSA" ? "OKP" : "RSA"
        let fitting = keys.filter { $0.type == type }.map(\.key)
        let candidates = fitting.filter { kid == nil || $0.keyIdentifier?.string == kid }
        guard let key = kid == nil && fitting.count > 1 ? nil : candidates.first else {
            throw IDTokenError(description: "the ID token names key `\(kid ?? "none")`, which the provider's key set lacks", unknownKey: true)
        }
        if let keyAlg = key.algorithm?.rawValue, keyAlg != alg {
            throw IDTokenError(description: "the ID token says `\(alg)`, but its key is for `\(keyAlg)`")
        }
        let claims: [String: ClaimValue]
        do {
            // A collection holding only this key, so jwt-kit falls back to no other.
            let collection = JWTKeyCollection()
            try await collection.add(jwk: key.withIdentifier(kid ?? "only"))
            claims = try await collection.verify(token, as: Claims.self).values
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw IDTokenError(description: "the ID token's signature does not verify with the provider's key")
        } catch {
            throw IDTokenError(description: "the ID token could not be checked: \(error)")
        }
        try Self.check(IDToken(claims: claims), expected)
        return IDToken(claims: claims)
    }

    private static func check(_ token: IDToken, _ expected: Expected) throws(IDTokenError) {
        guard token.string("iss") == expected.issuer else {
            throw IDTokenError(description: "the ID token's issuer is `\(token.string("iss") ?? "missing")`, not `\(expected.issuer)`")
        }
        let audience = token.strings("aud")
        guard audience.contains(expected.clientID) else {
            throw IDTokenError(description: "the ID token is for `\(audience.joined(separator: ", "))`, not this collector (`\(expected.clientID)`)")
        }
        if audience.count > 1, token.string("azp") != expected.clientID {
            throw IDTokenError(description: "the ID token has several audiences and its `azp` is not this collector")
        }
        let now = expected.now.timeIntervalSince1970
        guard case .number(let expiry) = token.claims["exp"], expiry + leeway > now else {
            throw IDTokenError(description: "the ID token has expired (or has no `exp`)")
        }
        guard case .number(let issued) = token.claims["iat"], issued - leeway <= now else {
            throw IDTokenError(description: "the ID token was issued in the future (or has no `iat`)")
        }
        guard let nonce = token.string("nonce"), secretsMatch(nonce, expected.nonce) else {
            throw IDTokenError(description: "the ID token's nonce is not the one this sign-in sent")
        }
        guard token.string("sub").map({ !$0.isEmpty }) == true else { throw IDTokenError(description: "the ID token has no `sub`") }
    }

    /// Every claim of the payload; the checks are made by `check`, which knows what to expect.
    private struct Claims: JWTPayload {
        let values: [String: ClaimValue]

        init(from decoder: any Decoder) throws {
            values = try decoder.singleValueContainer().decode([String: ClaimValue].self)
        }

        func encode(to encoder: any Encoder) throws {
            throw EncodingError.invalidValue(values, .init(codingPath: [], debugDescription: "ID tokens are only read"))
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}

extension JWK {
    /// The same key under `kid` (a token without one is checked against the provider's only key).
    fileprivate func withIdentifier(_ kid: String) -> JWK {
        var key = self
        if key.keyIdentifier == nil { key.keyIdentifier = JWKIdentifier(string: kid) }
        return key
    }
}
