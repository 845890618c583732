public import Config
public import Pipeline

/// Settings of the `size_cap` processor. The defaults are the reference SDK's caps
/// (`audit/models.py`), which are also the column sizes of `governance_audit_events`.
public struct SizeCapConfig: Sendable, Equatable {
    /// What happens to an event over a cap.
    public enum Mode: String, Sendable {
        /// Refuse the event with 413, naming the field (the SDK's behaviour). The default.
        case reject
        /// Cut strings to their cap and replace oversized metadata by a marker object. An event
        /// that already carries a client HMAC is still refused: changing it would break its HMAC.
        case truncate
    }

    /// Most characters (Unicode scalars, like PostgreSQL `VARCHAR`) in `agent_id`. Default 256.
    public var agentID = 256
    /// Most characters in `kind`. Default 128.
    public var kind = 128
    /// Most characters in `model`. Default 128.
    public var model = 128
    /// Most characters in `input_hash` and in `output_hash`. Default 128.
    public var hashes = 128
    /// Most top-level keys in `metadata`. Default 64.
    public var metadataKeys = 64
    /// Most bytes of `metadata` as compact JSON (UTF-8, no spaces). Default 65536.
    public var metadataBytes = 65536
    /// `reject` (default) or `truncate`.
    public var mode = Mode.reject

    public init() {}

    public static func read(_ section: ConfigSection) throws(ConfigError) -> SizeCapConfig {
        var c = SizeCapConfig()
        // The upper bounds are the table's column sizes: a larger cap would only move the
        // refusal to the insert.
        c.agentID = try section.int("agent_id", default: c.agentID, range: 1...256)
        c.kind = try section.int("kind", default: c.kind, range: 1...128)
        c.model = try section.int("model", default: c.model, range: 1...128)
        c.hashes = try section.int("hashes", default: c.hashes, range: 1...128)
        c.metadataKeys = try section.int("metadata_keys", default: c.metadataKeys, range: 1...1_000_000)
        c.metadataBytes = try section.int("metadata_bytes", default: c.metadataBytes, range: 2...(1 << 28))
        let mode = try section.string("mode", default: c.mode.rawValue) ?? c.mode.rawValue
        guard let parsed = Mode(rawValue: mode) else {
            throw section.error("mode", "is `\(mode)`", fix: "use reject or truncate")
        }
        c.mode = parsed
        try section.finish()
        return c
    }
}

/// Enforces the SDK's size caps on the fields a client controls. Cheap when an event is under
/// the caps: string lengths are first bounded by their UTF-8 byte counts, and the metadata size
/// is computed by one allocation-free walk that counts the bytes `JSONValue.serialized()` writes.
public struct SizeCapProcessor: EventProcessor {
    public let config: SizeCapConfig

    public init(config: SizeCapConfig = .init()) {
        self.config = config
    }

    public func process(_ event: AuditEvent) throws(EventRejection) -> AuditEvent {
        // An event chained by its client cannot be changed without breaking its HMAC.
        let chained = event.hmac != nil
        let truncate = config.mode == .truncate && !chained
        var event = event
        try cap(&event.agentID, field: "agent_id", limit: config.agentID, truncate: truncate, hmac: chained)
        try cap(&event.kind, field: "payload.kind", limit: config.kind, truncate: truncate, hmac: chained)
        try cap(&event.model, field: "payload.model", limit: config.model, truncate: truncate, hmac: chained)
        try cap(&event.inputHash, field: "payload.input_hash", limit: config.hashes, truncate: truncate, hmac: chained)
        try cap(&event.outputHash, field: "payload.output_hash", limit: config.hashes, truncate: truncate, hmac: chained)

        let keys: Int
        if case .object(let members) = event.metadata { keys = members.count } else { keys = 0 }
        let bytes = Self.compactByteCount(event.metadata)
        var problem: String?
        if keys > config.metadataKeys {
            problem = "has \(keys) top-level keys, over the size_cap limit of \(config.metadataKeys)"
        } else if bytes > config.metadataBytes {
            problem = "is \(bytes) bytes as compact JSON, over the size_cap limit of \(config.metadataBytes) bytes"
        }
        if let problem {
            guard truncate else {
                throw EventRejection(field: "payload.metadata", message: problem + Self.reason(config, hmac: chained), status: 413)
            }
            event.metadata = .object([
                .init("_truncated", .bool(true)),
                .init("_original_bytes", .number(String(bytes))),
                .init("_original_keys", .number(String(keys))),
            ])
        }
        return event
    }

    private static func reason(_ config: SizeCapConfig, hmac: Bool) -> String {
        config.mode == .truncate && hmac
            ? " (not truncated: the event carries a client HMAC, which truncating would break)" : ""
    }

    private func cap(_ value: inout String?, field: String, limit: Int, truncate: Bool, hmac: Bool) throws(EventRejection) {
        guard var text = value else { return }
        try cap(&text, field: field, limit: limit, truncate: truncate, hmac: hmac)
        value = text
    }

    private func cap(_ value: inout String, field: String, limit: Int, truncate: Bool, hmac: Bool) throws(EventRejection) {
        // A string has at most as many scalars as UTF-8 bytes: the common case never decodes.
        guard value.utf8.count > limit else { return }
        let length = value.unicodeScalars.count
        guard length > limit else { return }
        guard truncate else {
            throw EventRejection(
                field: field,
                message: "is \(length) characters, over the size_cap limit of \(limit)"
                    + Self.reason(config, hmac: hmac), status: 413)
        }
        value = String(String.UnicodeScalarView(value.unicodeScalars.prefix(limit)))
    }

    public static let factory = ProcessorFactory(type: "size_cap") { section throws(ConfigError) in
        let config = try SizeCapConfig.read(section)
        return { _ in SizeCapProcessor(config: config) }
    }

    /// The number of bytes `value.serialized()` (compact, UTF-8, not ASCII-only) produces,
    /// counted without building the text.
    public static func compactByteCount(_ value: JSONValue) -> Int {
        switch value {
        case .null: return 4
        case .bool(let b): return b ? 4 : 5
        case .number(let text): return text.utf8.count
        case .string(let s): return stringByteCount(s)
        case .array(let items):
            var total = 2 + max(items.count - 1, 0)
            for item in items { total += compactByteCount(item) }
            return total
        case .object(let members):
            var total = 2 + max(members.count - 1, 0)
            for member in members { total += stringByteCount(member.key) + 1 + compactByteCount(member.value) }
            return total
        }
    }

    /// Mirrors `JSONValue.writeString(_:into:asciiOnly: false)`.
    static func stringByteCount(_ s: String) -> Int {
        var total = 2
        for byte in s.utf8 {
            switch byte {
            case 0x22, 0x5C, 0x0A, 0x0D, 0x09: total += 2
            case 0..<0x20: total += 6
            default: total += 1
            }
        }
        return total
    }
}
