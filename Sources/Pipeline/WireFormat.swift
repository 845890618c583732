import Config
import Foundation

/// The hosted platform's ingest wire format (reference-sdk.md §1), both ways: the `ingest_http`
/// receiver decodes it, the debug exporter and the platform bridge encode it. Decoding is strict
/// about types and names the offending field; unknown fields are ignored, as the platform does.
public enum WireFormat {
    public static func decode(_ json: JSONValue, workflow: String, receivedAt: Timestamp) throws(EventRejection) -> AuditEvent {
        guard case .object = json else { throw EventRejection(field: "(body)", message: "must be a JSON object, got \(json.typeName)") }
        guard let payload = json["payload"], case .object = payload else {
            throw EventRejection(field: "payload", message: json["payload"] == nil ? "is required" : "must be an object")
        }
        let eventID = try uuid(json, "event_id", prefix: "")!
        let agentID = try string(json, "agent_id", prefix: "", required: true)!
        let eventType = try string(json, "event_type", prefix: "")
        var kind = try string(payload, "kind", prefix: "payload.")
        switch (kind, eventType) {
        case (nil, nil): throw EventRejection(field: "payload.kind", message: "is required (or event_type)")
        case (nil, let t?): kind = t
        case (let k?, let t?) where k != t:
            throw EventRejection(field: "event_type", message: "is `\(t)` but payload.kind is `\(k)`; they must match")
        default: break
        }
        let sessionID = try uuid(payload, "session_id", prefix: "payload.")!
        var createdAt = receivedAt
        if let text = try string(payload, "created_at", prefix: "payload.") {
            guard let parsed = Timestamp(iso8601: text) else {
                throw EventRejection(
                    field: "payload.created_at", message: "is not an RFC 3339 date-time with offset (e.g. 2026-01-02T03:04:05.000120+00:00)")
            }
            createdAt = parsed
        }
        let metadata = payload["metadata"] ?? .object([])
        switch metadata {
        case .object: break
        case .null: break
        default: throw EventRejection(field: "payload.metadata", message: "must be an object, got \(metadata.typeName)")
        }
        var seq: Int64?
        switch json["seq"] {
        case nil, .null?: seq = nil
        case .number(let text)?:
            guard let value = Int64(text), value >= 1 else {
                throw EventRejection(field: "seq", message: "must be an integer >= 1, got \(text)")
            }
            seq = value
        case let other?: throw EventRejection(field: "seq", message: "must be an integer, got \(other.typeName)")
        }
        var decision: Decision?
        if let text = try string(json, "decision", prefix: "") {
            guard let d = Decision(rawValue: text) else {
                throw EventRejection(field: "decision", message: "must be \"allow\" or \"deny\", got \"\(text)\"")
            }
            decision = d
        }
        let prevHash = try string(json, "prev_hash", prefix: "").flatMap { $0.isEmpty ? nil : $0 }
        let hmac = try string(json, "client_hmac", prefix: "").flatMap { $0.isEmpty ? nil : $0 }
        if let hmac, !Hex.isHex(hmac) { throw EventRejection(field: "client_hmac", message: "must be hexadecimal") }
        var signature: [UInt8]?
        if let hex = try string(payload, "signature_hex", prefix: "payload.") {
            guard let bytes = Hex.bytes(hex) else {
                throw EventRejection(field: "payload.signature_hex", message: "must be an even number of hexadecimal digits")
            }
            signature = bytes
        }
        // The client's claim is kept beside ours, never stored as ours: only `agent_signatures`
        // decides `signed`; without it a signature is `unverified`.
        let claimedStatus = try string(payload, "signature_status", prefix: "payload.") ?? "unsigned"
        let signatureStatus = signature == nil ? "unsigned" : "unverified"
        return AuditEvent(
            eventID: eventID, sessionID: sessionID, agentID: agentID, kind: kind!,
            parentEventID: try uuid(payload, "parent_event_id", prefix: "payload.", required: false),
            model: try string(payload, "model", prefix: "payload."),
            inputHash: try string(payload, "input_hash", prefix: "payload."),
            outputHash: try string(payload, "output_hash", prefix: "payload."),
            metadata: metadata == .null ? .object([]) : metadata,
            prevHash: prevHash, hmac: hmac, createdAt: createdAt, signature: signature,
            signingKeyFingerprint: try string(payload, "signing_key_fingerprint", prefix: "payload."),
            signatureStatus: signatureStatus, clientSignatureStatus: claimedStatus == signatureStatus ? nil : claimedStatus,
            workflow: workflow, clientSeq: seq,
            sdkVersion: try string(json, "sdk_version", prefix: ""),
            decision: decision ?? Decision.infer(fromKind: kind!))
    }

    /// The wire object for an event, as the reference SDK's bridge builds it.
    public static func encode(_ e: AuditEvent, seq: Int64?) -> JSONValue {
        var payload: [JSONValue.Member] = [
            .init("session_id", .string(e.sessionID.lowercasedString)),
            .init("kind", .string(e.kind)),
            .init("created_at", .string(e.createdAt.pythonISOFormat)),
            .init("metadata", e.metadata),
        ]
        if let v = e.parentEventID { payload.append(.init("parent_event_id", .string(v.lowercasedString))) }
        if let v = e.model { payload.append(.init("model", .string(v))) }
        if let v = e.inputHash { payload.append(.init("input_hash", .string(v))) }
        if let v = e.outputHash { payload.append(.init("output_hash", .string(v))) }
        if let v = e.signingKeyFingerprint { payload.append(.init("signing_key_fingerprint", .string(v))) }
        payload.append(.init("signature_status", .string(e.signatureStatus)))
        if let v = e.signature { payload.append(.init("signature_hex", .string(v.hexString))) }
        var wire: [JSONValue.Member] = [
            .init("event_id", .string(e.eventID.lowercasedString)),
            .init("event_type", .string(e.kind)),
            .init("agent_id", .string(e.agentID)),
        ]
        if let seq { wire.append(.init("seq", .number(String(seq)))) }
        wire.append(.init("payload", .object(payload)))
        wire.append(.init("prev_hash", .string(e.prevHash ?? "")))
        wire.append(.init("client_hmac", e.hmac.map(JSONValue.string) ?? .null))
        if let v = e.sdkVersion { wire.append(.init("sdk_version", .string(v))) }
        if let d = e.decision { wire.append(.init("decision", .string(d.rawValue))) }
        return .object(wire)
    }

    // MARK: Field readers that name the field on error

    static func string(_ object: JSONValue, _ key: String, prefix: String, required: Bool = false) throws(EventRejection) -> String? {
        switch object[key] {
        case .string(let s)?: return s
        case nil, .null?:
            if required { throw EventRejection(field: prefix + key, message: "is required") }
            return nil
        case let other?: throw EventRejection(field: prefix + key, message: "must be a string, got \(other.typeName)")
        }
    }

    static func uuid(_ object: JSONValue, _ key: String, prefix: String, required: Bool = true) throws(EventRejection) -> UUID? {
        guard let text = try string(object, key, prefix: prefix, required: required) else { return nil }
        guard let id = UUID(text: text) else {
            throw EventRejection(field: prefix + key, message: "is not a UUID (8-4-4-4-12 hexadecimal digits)")
        }
        return id
    }
}
