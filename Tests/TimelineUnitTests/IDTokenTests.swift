import Crypto
import Foundation
import Testing
@testable import Timeline

/// ID tokens made here, signed with swift-crypto's P-256 (ES256), against the checks OpenID
/// Connect asks of a relying party; OpenIDTests signs in through a real provider (RS256) end to end.
@Suite("ID token checks")
struct IDTokenTests {
    let key = P256.Signing.PrivateKey()
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let issuer = "https://login.example.com", client = "governance-collector", nonce = "nonce-of-this-login"

    var expected: IDTokenVerifier.Expected { .init(issuer: Self.issuer, clientID: Self.client, nonce: Self.nonce, now: now) }

    /// The provider's key set: this test's key under `kid`, one more so a token without a kid is
    /// ambiguous, and keys that cannot sign (a symmetric one under the same kid, an encryption
    /// key), which are left out rather than failing the set.
    func verifier(kid: String = "k1") throws -> IDTokenVerifier {
        func jwk(_ key: P256.Signing.PublicKey, _ kid: String) -> String {
            let raw = key.rawRepresentation
            return
                #"{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"\#(kid)","x":"\#(Base64URL.encode(raw.prefix(32)))","y":"\#(Base64URL.encode(raw.suffix(32)))"}"#
        }
        let other = P256.Signing.PrivateKey().publicKey
        let unusable = #"{"kty":"oct","kid":"\#(kid)","k":"c2VjcmV0"},{"kty":"EC","use":"enc","crv":"P-256","kid":"e1","x":"AA","y":"AA"}"#
        return try IDTokenVerifier(keySet: Data(#"{"keys":[\#(unusable),\#(jwk(key.publicKey, kid)),\#(jwk(other, "k2"))]}"#.utf8))
    }

    func claims(_ changes: [String: Any?] = [:]) -> [String: Any] {
        var claims: [String: Any] = [
            "iss": Self.issuer, "sub": "248289761001", "aud": Self.client, "exp": now.timeIntervalSince1970 + 600,
            "iat": now.timeIntervalSince1970, "nonce": Self.nonce, "email": "alice@example.com", "groups": ["team-a", "ops"],
        ]
        for (name, value) in changes { claims[name] = value }
        return claims
    }

    func token(header: [String: Any] = ["alg": "ES256", "kid": "k1"], _ claims: [String: Any], signedBy signer: P256.Signing.PrivateKey? = nil)
        throws -> String
    {
        func part(_ object: [String: Any]) throws -> String {
            Base64URL.encode(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        }
        let input = try part(header) + "." + part(claims)
        let signature = try (signer ?? key).signature(for: Data(input.utf8)).rawRepresentation
        return input + "." + Base64URL.encode(signature)
    }

    func refusal(_ token: String, _ verifier: IDTokenVerifier? = nil) async throws -> IDTokenError? {
        let verifier = try verifier ?? self.verifier()
        do {
            _ = try await verifier.verify(token, expected)
            return nil
        } catch {
            return error
        }
    }

    @Test("a token signed by the provider's key, for this client and login, yields its claims")
    func accepted() async throws {
        let checked = try await verifier().verify(try token(claims()), expected)
        #expect(checked.string("email") == "alice@example.com" && checked.strings("groups") == ["team-a", "ops"])
        // Several audiences hold when the authorized party is this client; clocks may differ by the leeway.
        _ = try await verifier().verify(try token(claims(["aud": [Self.client, "api"], "azp": Self.client])), expected)
        _ = try await verifier().verify(try token(claims(["exp": now.timeIntervalSince1970 - 30])), expected)
    }

    @Test("forged, unsigned, HMAC-signed, mis-keyed or ambiguous tokens are refused before their claims are read")
    func signatures() async throws {
        #expect(
            try await refusal(try token(claims(), signedBy: P256.Signing.PrivateKey()))?.description.contains("signature does not verify") == true)
        let unsigned = try token(header: ["alg": "none", "kid": "k1"], claims()).split(separator: ".").prefix(2).joined(separator: ".") + "."
        #expect(try await refusal(unsigned)?.description.contains("not an asymmetric algorithm") == true)
        // HS256 keyed with what an attacker knows (the public key): never accepted, whatever the key.
        let hmacInput = try token(header: ["alg": "HS256", "kid": "k1"], claims()).split(separator: ".").prefix(2).joined(separator: ".")
        let mac = HMAC<SHA256>.authenticationCode(for: Data(hmacInput.utf8), using: SymmetricKey(data: key.publicKey.rawRepresentation))
        #expect(try await refusal(hmacInput + "." + Base64URL.encode(Data(mac)))?.description.contains("not an asymmetric algorithm") == true)
        #expect(
            try await refusal(try token(header: ["alg": "ES384", "kid": "k1"], claims()))?.description.contains("its key is for `ES256`") == true)
        let unknown = try await refusal(try token(header: ["alg": "ES256", "kid": "rotated"], claims()))
        #expect(unknown?.unknownKey == true)
        // No kid: only a provider with a single key says which key that is.
        #expect(try await refusal(try token(header: ["alg": "ES256"], claims()))?.unknownKey == true)
        #expect(try await refusal("not.a.jwt.at-all")?.description.contains("not a signed JWT") == true)
    }

    @Test("a token for another client, from another issuer, expired, from the future or for another login is refused")
    func claimsChecked() async throws {
        for (change, words) in [
            (["aud": "another-client"] as [String: Any?], "not this collector"),
            (["aud": [Self.client, "api"]], "several audiences"),
            (["iss": "https://login.example.com/other"], "issuer"),
            (["exp": now.timeIntervalSince1970 - 61], "expired"),
            (["exp": nil], "expired"),
            (["iat": now.timeIntervalSince1970 + 120], "future"),
            (["nonce": "another-login"], "nonce"),
            (["nonce": nil], "nonce"),
            (["sub": ""], "sub"),
        ] {
            let refused = try await refusal(try token(claims(change)))
            #expect(refused?.description.contains(words) == true, "\(change): \(refused?.description ?? "accepted")")
        }
    }

    @Test("groups map to one role: the strongest granted, with that role's workflows only; no mapped group, no person")
    func groupMapping() {
        var config = OpenIDSignIn(issuer: Self.issuer, clientID: Self.client, clientSecret: "s", publicURL: "https://g.example.com")
        config.grants = [
            .init(group: "readers-a", role: .viewer, workflows: ["a"]), .init(group: "owners-b", role: .owner, workflows: ["b"]),
            .init(group: "owners-c", role: .owner, workflows: ["c"]), .init(group: "audit", role: .auditor, workflows: []),
        ]
        #expect(config.person(name: "p", groups: ["readers-a"]) == Person(name: "p", role: .viewer, workflows: ["a"], method: "oidc"))
        // An owner's grant never extends to the workflow they only read.
        #expect(config.person(name: "p", groups: ["readers-a", "owners-b", "owners-c"])?.workflows == ["b", "c"])
        #expect(config.person(name: "p", groups: ["owners-b", "audit"])?.role == .auditor)
        #expect(config.person(name: "p", groups: ["unmapped"]) == nil && config.person(name: "p", groups: []) == nil)
    }
}
