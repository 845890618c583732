public import Foundation

/// The allow/deny outcome the platform wire format carries, derived from the event kind.
public enum Decision: String, Sendable, Equatable {
    case allow, deny

    static let denySegments: Set<Substring> = ["denied", "violation", "exceeded", "halted"]
    static let allowSegments: Set<Substring> = ["granted", "allowed"]

    /// The SDK's rule: any dot-segment of the kind in the deny set gives `deny`, else in the allow set `allow`.
    public static func infer(fromKind kind: String) -> Decision? {
        let segments = kind.split(separator: ".")
        if segments.contains(where: denySegments.contains) { return .deny }
        if segments.contains(where: allowSegments.contains) { return .allow }
        return nil
    }
}

/// One audit event: every field of the platform wire format and of the SDK's
/// `governance_audit_events` row, plus what the collector adds (workflow, client seq).
public struct AuditEvent: Sendable, Equatable {
    public var eventID: UUID
    public var sessionID: UUID
    public var agentID: String
    public var kind: String
    public var parentEventID: UUID?
    public var model: String?
    public var inputHash: String?
    public var outputHash: String?
    /// Always a JSON object; kept with its original number text and key order.
    public var metadata: JSONValue
    /// The previous event's HMAC in this session's chain; nil for the first event.
    public var prevHash: String?
    /// The event's HMAC (the wire's `client_hmac`, the table's `hmac_value`).
    public var hmac: String?
    public var createdAt: Timestamp
    public var signature: [UInt8]?
    public var signingKeyFingerprint: String?
    public var signatureStatus: String
    /// The client's `signature_status` when the collector's own verdict (`agent_signatures`)
    /// replaced a different one; nil otherwise. Kept beside it, never in `metadata`, which the
    /// client's HMAC covers.
    public var clientSignatureStatus: String?
    /// The workflow whose token authenticated the event.
    public var workflow: String
    /// The `seq` the client sent (kept, never enforced: many SDK processes may share a collector).
    public var clientSeq: Int64?
    /// The collector's own per-workflow sequence: gapless, assigned in the commit (`seq` processor).
    public var seq: Int64?
    public var sdkVersion: String?
    public var decision: Decision?

    public init(
        eventID: UUID, sessionID: UUID, agentID: String, kind: String, parentEventID: UUID? = nil,
        model: String? = nil, inputHash: String? = nil, outputHash: String? = nil,
        metadata: JSONValue = .object([]), prevHash: String? = nil, hmac: String? = nil,
        createdAt: Timestamp, signature: [UInt8]? = nil, signingKeyFingerprint: String? = nil,
        signatureStatus: String = "unsigned", clientSignatureStatus: String? = nil, workflow: String, clientSeq: Int64? = nil,
        seq: Int64? = nil, sdkVersion: String? = nil, decision: Decision? = nil
    ) {
        self.eventID = eventID
        self.sessionID = sessionID
        self.agentID = agentID
        self.kind = kind
        self.parentEventID = parentEventID
        self.model = model
        self.inputHash = inputHash
        self.outputHash = outputHash
        self.metadata = metadata
        self.prevHash = prevHash
        self.hmac = hmac
        self.createdAt = createdAt
        self.signature = signature
        self.signingKeyFingerprint = signingKeyFingerprint
        self.signatureStatus = signatureStatus
        self.clientSignatureStatus = clientSignatureStatus
        self.workflow = workflow
        self.clientSeq = clientSeq
        self.seq = seq
        self.sdkVersion = sdkVersion
        self.decision = decision
    }
}

/// Why one event was refused, naming the field: becomes a 4xx answer (or a per-event batch result).
public struct EventRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    /// The HTTP status this rejection maps to when it decides a whole request (400 or 413).
    public var status: Int

    public init(field: String, message: String, status: Int = 400) {
        self.field = field
        self.message = message
        self.status = status
    }

    public var description: String { "\(field): \(message)" }
}

extension AuditEvent {
    /// Checks that the event fits the table exactly as it will be written, so a bad event is
    /// refused on its own instead of failing a shared group-commit transaction.
    public func checkStorable(hmacAssignedLater: Bool = false) throws(EventRejection) {
        // Column limits of `governance_audit_events` (reference-sdk.md §4), in characters.
        let limited: [(field: String, limit: Int, value: String?)] = [
            ("agent_id", 256, agentID), ("payload.kind", 128, kind), ("payload.model", 128, model),
            ("payload.input_hash", 128, inputHash), ("payload.output_hash", 128, outputHash),
            ("prev_hash", 128, prevHash), ("client_hmac", 128, hmac),
        ]
        for (field, limit, value) in limited {
            guard let value else { continue }
            if value.unicodeScalars.count > limit {
                throw EventRejection(field: field, message: "is longer than \(limit) characters", status: 413)
            }
            if value.utf8.contains(0) {
                throw EventRejection(field: field, message: "contains a NUL character, which PostgreSQL text cannot store")
            }
        }
        if agentID.isEmpty { throw EventRejection(field: "agent_id", message: "must not be empty") }
        if kind.isEmpty { throw EventRejection(field: "payload.kind", message: "must not be empty") }
        for (field, value) in [
            ("payload.signing_key_fingerprint", signingKeyFingerprint), ("payload.signature_status", signatureStatus as String?),
            ("payload.signature_status", clientSignatureStatus), ("sdk_version", sdkVersion),
        ] {
            if let value, value.utf8.contains(0) {
                throw EventRejection(field: field, message: "contains a NUL character, which PostgreSQL text cannot store")
            }
        }
        if let problem = JSONBRoundTrip.firstProblem(in: metadata, path: "payload.metadata") {
            throw EventRejection(field: problem.path, message: problem.message)
        }
        guard hmac != nil || hmacAssignedLater else {
            throw EventRejection(field: "client_hmac", message: "is required: this pipeline has no chain processor to compute it")
        }
    }
}
