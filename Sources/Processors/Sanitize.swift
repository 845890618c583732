public import Config
public import Pipeline
// The standard library's own NFC (the normalizer behind String comparison). Foundation's
// `precomposedStringWithCanonicalMapping` on Linux goes through CoreFoundation, which drops
// combining marks from a run of more than about 64 of them when some decompose (for example 33
// U+0344 give 64 scalars instead of 66); Python's NFC, which the SDK uses, does not.
@_spi(_Unicode) import Swift

/// Settings of the `sanitize` processor.
public struct SanitizeConfig: Sendable, Equatable {
    /// Most characters (Unicode scalars, counted after NFC and before escaping) kept of each
    /// string value inside `metadata`. Default 2048: the SDK's `DEFAULT_MAX_STRING_LEN`.
    public var maxStringLength = Sanitizer.sdkMaxStringLength

    public init() {}

    public static func read(_ section: ConfigSection) throws(ConfigError) -> SanitizeConfig {
        var c = SanitizeConfig()
        c.maxStringLength = try section.int("max_string_length", default: c.maxStringLength, range: 1...(1 << 24))
        try section.finish()
        return c
    }
}

/// The reference SDK's string sanitizer (`audit/sanitization.py`), reproduced so that rows the
/// collector sanitizes look like rows the SDK writes, plus the control characters the SDK misses.
///
/// For a value, in the SDK's order:
/// 1. Unicode NFC normalization;
/// 2. cut to the length cap, in Unicode scalars (Python's `len`), before escaping;
/// 3. escape backslash first, then newline, carriage return and tab, as `\\`, `\n`, `\r`, `\t`;
/// 4. strip the other C0 controls and DEL (the SDK's set), and also C1 controls
///    (U+0080–U+009F) and the bidirectional embedding, override and isolate characters
///    (U+202A–U+202E, U+2066–U+2069), which the SDK lets through.
///
/// The SDK never rewrites metadata keys. Keys here get NFC and step 4 with tab, newline and
/// carriage return stripped too, but no escaping and no cap: a key the SDK would store
/// verbatim and that carries no control character stays byte-identical.
public struct Sanitizer: Sendable {
    /// `DEFAULT_MAX_STRING_LEN` in `audit/sanitization.py`.
    public static let sdkMaxStringLength = 2048
    /// The caps `AuditEvent.model_post_init` passes to `sanitize_string` for each field.
    public static let agentIDLength = 256
    public static let kindLength = 128
    public static let modelLength = 128
    public static let hashLength = 128

    public var maxStringLength: Int

    public init(maxStringLength: Int = Sanitizer.sdkMaxStringLength) {
        self.maxStringLength = maxStringLength
    }

    /// A sanitized copy of `value`, or nil when it is already clean (the common case, which
    /// allocates nothing).
    public static func sanitizeValue(_ value: String, maxLength: Int) -> String? {
        rewrite(value, maxLength: maxLength, escape: true)
    }

    /// A sanitized copy of a metadata key, or nil when it is already clean.
    public static func sanitizeKey(_ key: String) -> String? {
        rewrite(key, maxLength: nil, escape: false)
    }

    /// Sanitizes every key and every string value at any depth. Nil when nothing changed.
    /// Recursion depth is that of the value: the JSON parser refuses more than 64 levels.
    public func sanitize(_ value: JSONValue) -> JSONValue? {
        switch value {
        case .string(let s):
            return Self.sanitizeValue(s, maxLength: maxStringLength).map(JSONValue.string)
        case .array(let items):
            return items.mapChanged(sanitize).map(JSONValue.array)
        case .object(let members):
            var copy: [JSONValue.Member]?
            for (index, member) in members.enumerated() {
                let key = Self.sanitizeKey(member.key)
                let clean = sanitize(member.value)
                guard key != nil || clean != nil else { continue }
                if copy == nil { copy = members }
                copy![index] = .init(key ?? member.key, clean ?? member.value)
            }
            return copy.map(JSONValue.object)
        case .null, .bool, .number:
            return nil
        }
    }

    /// Sanitizes the fields the SDK sanitizes: agent_id, kind, model, input_hash, output_hash
    /// (each with its SDK cap) and metadata.
    public func sanitize(_ event: AuditEvent) -> AuditEvent {
        var event = event
        if let clean = Self.sanitizeValue(event.agentID, maxLength: Self.agentIDLength) { event.agentID = clean }
        if let clean = Self.sanitizeValue(event.kind, maxLength: Self.kindLength) { event.kind = clean }
        if let model = event.model, let clean = Self.sanitizeValue(model, maxLength: Self.modelLength) { event.model = clean }
        if let hash = event.inputHash, let clean = Self.sanitizeValue(hash, maxLength: Self.hashLength) { event.inputHash = clean }
        if let hash = event.outputHash, let clean = Self.sanitizeValue(hash, maxLength: Self.hashLength) { event.outputHash = clean }
        if let clean = sanitize(event.metadata) { event.metadata = clean }
        return event
    }

    // MARK: Engine

    /// Scalars removed in step 4 (besides tab, newline and carriage return, which values escape).
    @inline(__always)
    static func isStripped(_ v: UInt32) -> Bool {
        switch v {
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    private static func rewrite(_ value: String, maxLength: Int?, escape: Bool) -> String? {
        // Fast path: printable ASCII without backslash (or, for keys, any printable ASCII),
        // within the cap. ASCII is always NFC and one scalar per byte.
        var clean = true
        for byte in value.utf8 where byte < 0x20 || byte >= 0x7F || (escape && byte == 0x5C) {
            clean = false
            break
        }
        if clean, maxLength.map({ value.utf8.count <= $0 }) ?? true { return nil }
        if !clean {
            // Non-ASCII text without anything to escape or strip, within the cap, that is already
            // NFC is left as it is, also without allocating.
            var rewrite = false, mayDenormalize = false, count = 0
            for scalar in value.unicodeScalars {
                let v = scalar.value
                if isStripped(v) || (escape && v == 0x5C) { rewrite = true; break }
                if v >= 0x300 { mayDenormalize = true }
                count += 1
            }
            if !rewrite, maxLength.map({ count <= $0 }) ?? true,
                !mayDenormalize || value._nfc.elementsEqual(value.unicodeScalars)
            {
                return nil
            }
        }

        // 1. NFC. Every scalar below U+0300 is NFC-stable and none combines, so strings made
        //    only of those are already normalized.
        var text = value
        if value.unicodeScalars.contains(where: { $0.value >= 0x300 }) {
            var normalized = String.UnicodeScalarView()
            normalized.append(contentsOf: value._nfc)
            text = String(normalized)
        }
        // 2. Cap in scalars, before escaping (escapes would double the length).
        var scalars = Substring(text).unicodeScalars
        if let maxLength, scalars.count > maxLength {
            scalars = scalars.prefix(maxLength)
        }
        // 3 + 4 in one pass: escaping only produces printable ASCII, which step 4 never strips.
        var out = String.UnicodeScalarView()
        for scalar in scalars {
            switch scalar.value {
            case 0x5C where escape: out.append("\\"); out.append("\\")
            case 0x0A where escape: out.append("\\"); out.append("n")
            case 0x0D where escape: out.append("\\"); out.append("r")
            case 0x09 where escape: out.append("\\"); out.append("t")
            case let v where isStripped(v): continue
            default: out.append(scalar)
            }
        }
        let result = String(out)
        // Compare bytes: `==` on String is canonical equivalence, which would hide the NFC step.
        return result.utf8.elementsEqual(value.utf8) ? nil : result
    }
}

/// The `sanitize` processor: runs `Sanitizer` on events the collector will chain itself
/// (`hmac == nil`). An event that arrives with a client HMAC was sanitized by its SDK before it
/// was hashed and is passed through unchanged: rewriting it would break its HMAC.
public struct SanitizeProcessor: EventProcessor {
    public let sanitizer: Sanitizer

    public init(config: SanitizeConfig = .init()) {
        sanitizer = Sanitizer(maxStringLength: config.maxStringLength)
    }

    public func process(_ event: AuditEvent) throws(EventRejection) -> AuditEvent {
        guard event.hmac == nil else { return event }
        return sanitizer.sanitize(event)
    }

    public static let factory = ProcessorFactory(type: "sanitize") { section throws(ConfigError) in
        let config = try SanitizeConfig.read(section)
        return { _ in SanitizeProcessor(config: config) }
    }
}
