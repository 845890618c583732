public import Foundation
public import Pipeline

/// PostgreSQL's binary `COPY` format for audit rows: the fastest bulk path libpq offers
/// (no text escaping on our side, no parsing on the server's).
public struct BinaryCopyWriter {
    public private(set) var bytes: [UInt8] = []
    /// 2000-01-01T00:00:00Z, PostgreSQL's timestamp epoch, in Unix microseconds.
    static let postgresEpochMicros: Int64 = 946_684_800_000_000

    public init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
        bytes.append(contentsOf: Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        appendInt32(0)  // flags
        appendInt32(0)  // header extension length
    }

    public mutating func beginRow(fields: Int) { appendInt16(Int16(fields)) }

    public mutating func finish() -> [UInt8] {
        appendInt16(-1)
        return bytes
    }

    public mutating func null() { appendInt32(-1) }

    public mutating func int32(_ v: Int32) { appendInt32(4); appendInt32(v) }

    public mutating func bool(_ v: Bool) { appendInt32(1); bytes.append(v ? 1 : 0) }

    public mutating func int64(_ v: Int64?) {
        guard let v else { return null() }
        appendInt32(8)
        appendInt64(v)
    }

    public mutating func text(_ value: String?) {
        guard var s = value else { return null() }
        s.withUTF8 { utf8 in
            appendInt32(Int32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func uuid(_ u: UUID?) {
        guard let u else { return null() }
        appendInt32(16)
        withUnsafeBytes(of: u.uuid) { bytes.append(contentsOf: $0) }
    }

    public mutating func bytea(_ b: [UInt8]?) {
        guard let b else { return null() }
        appendInt32(Int32(b.count))
        bytes.append(contentsOf: b)
    }

    public mutating func timestamptz(_ t: Timestamp) {
        appendInt32(8)
        appendInt64(t.microseconds - Self.postgresEpochMicros)
    }

    /// `jsonb` binary format: a version byte (1) followed by the JSON text.
    public mutating func jsonb(_ value: JSONValue) {
        let lengthAt = bytes.count
        appendInt32(0)
        bytes.append(1)
        value.write(into: &bytes)
        let length = Int32(bytes.count - lengthAt - 4)
        withUnsafeBytes(of: length.bigEndian) { raw in
            for i in 0..<4 { bytes[lengthAt + i] = raw[i] }
        }
    }

    private mutating func appendInt16(_ v: Int16) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    private mutating func appendInt32(_ v: Int32) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
    private mutating func appendInt64(_ v: Int64) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
}

/// The columns the collector writes, in COPY order.
public enum AuditRow {
    public static let columns = [
        "event_id", "session_id", "agent_id", "parent_event_id", "kind", "model", "input_hash",
        "output_hash", "metadata_json", "prev_hash", "hmac_value", "created_at", "signature",
        "signing_key_fingerprint", "signature_status", "client_signature_status", "workflow", "client_seq", "sdk_version", "decision", "seq",
    ]

    /// `COPY` straight into the audit table, in arrival order (so `chain_seq` follows it).
    public static let copyStatement = "COPY governance_audit_events (\(columns.joined(separator: ", "))) FROM STDIN (FORMAT binary)"

    /// Which of the given event_ids (`$1`, a uuid array) are already stored.
    public static let existingStatement = "SELECT event_id, workflow FROM governance_audit_events WHERE event_id = ANY($1::uuid[])"

    /// Binary COPY data for `events`, in `columns` order.
    public static func encode(_ events: [AuditEvent]) -> [UInt8] {
        var w = BinaryCopyWriter(capacity: 512 * events.count + 64)
        for e in events {
            w.beginRow(fields: columns.count)
            w.uuid(e.eventID)
            w.uuid(e.sessionID)
            w.text(e.agentID)
            w.uuid(e.parentEventID)
            w.text(e.kind)
            w.text(e.model)
            w.text(e.inputHash)
            w.text(e.outputHash)
            w.jsonb(e.metadata)
            w.text(e.prevHash)
            w.text(e.hmac)
            w.timestamptz(e.createdAt)
            w.bytea(e.signature)
            w.text(e.signingKeyFingerprint)
            w.text(e.signatureStatus)
            w.text(e.clientSignatureStatus)
            w.text(e.workflow)
            w.int64(e.clientSeq)
            w.text(e.sdkVersion)
            w.text(e.decision?.rawValue)
            w.int64(e.seq)
        }
        return w.finish()
    }
}
