/// The collector's own verdict on an event's agent signature (reference-sdk.md §9): the SDK's
/// checks, in the SDK's order, over the SDK's signed bytes computed from the event as received
/// (`AuditChain.signingBytes`: the client's HMAC, and a root event's `prev_hash` as null, which
/// is what the wire's `""` decodes to). The client's own `signature_status` plays no part.
public struct SignatureVerdict: Sendable, Equatable {
    /// The values stored in `signature_status`, as the SDK names them.
    public enum Status: String, Sendable, CaseIterable {
        case signed
        case unsigned
        case invalidSignature = "invalid_signature"
        case unknownKey = "unknown_key"
        case revokedKey = "revoked_key"
    }

    public var status: Status
    /// The field at fault and what is wrong with it (for a refusal); nil when `signed`.
    public var field: String?
    public var problem: String?

    public static let signed = SignatureVerdict(status: .signed, field: nil, problem: nil)

    public static func check(_ event: AuditEvent, keyring: AgentKeyring) -> SignatureVerdict {
        check(event, lookup: keyring.entry(for:))
    }

    public static func check(_ event: AuditEvent, lookup: (String) -> AgentKeyring.Entry) -> SignatureVerdict {
        switch (event.signature, event.signingKeyFingerprint) {
        case (nil, nil):
            return SignatureVerdict(
                status: .unsigned, field: "payload.signature_hex",
                problem: "is required: this pipeline accepts only events signed by a registered agent key")
        case (nil, _?):
            return SignatureVerdict(
                status: .invalidSignature, field: "payload.signature_hex", problem: "is missing while payload.signing_key_fingerprint is set")
        case (_?, nil):
            return SignatureVerdict(
                status: .invalidSignature, field: "payload.signing_key_fingerprint", problem: "is missing while payload.signature_hex is set")
        case (let signature?, let fingerprint?):
            // The SDK signs its own HMAC: without the client's there is nothing the signature covers.
            guard event.hmac != nil else {
                return SignatureVerdict(
                    status: .invalidSignature, field: "client_hmac",
                    problem: "is required to check payload.signature_hex (the agent signs the event together with its HMAC)")
            }
            switch lookup(fingerprint) {
            case .revoked:
                return SignatureVerdict(
                    status: .revokedKey, field: "payload.signing_key_fingerprint", problem: "names agent key \(fingerprint), which is revoked")
            case .unknown:
                return SignatureVerdict(
                    status: .unknownKey, field: "payload.signing_key_fingerprint", problem: "names agent key \(fingerprint), which is not registered")
            case .key(let key):
                guard key.isValidSignature(signature, for: AuditChain.signingBytes(event)) else {
                    return SignatureVerdict(
                        status: .invalidSignature, field: "payload.signature_hex",
                        problem: "does not verify with agent key \(fingerprint) over the event as received")
                }
                return .signed
            }
        }
    }
}
