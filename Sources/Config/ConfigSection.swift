import Crypto
import Foundation
import Synchronization

/// Collects every effective value resolved while reading a configuration, in reading order.
public final class ProvenanceLog: Sendable {
    private let entries = Mutex<[ResolvedValue]>([])
    public init() {}
    public var values: [ResolvedValue] { entries.withLock { $0 } }
    func record(_ value: ResolvedValue) { entries.withLock { $0.append(value) } }
}

/// Reads one mapping of the configuration file. Every getter names its key, its environment
/// variable and its default, so precedence (file, then environment, then default), `${env:NAME}`
/// expansion, error messages and `print-config` provenance all live in one place.
/// Call `finish()` once all keys are read: any key left over is a typo and is reported.
public struct ConfigSection: Sendable {
    public let path: String
    public let file: String
    let pairs: [(key: String, value: ConfigValue)]
    public let environment: [String: String]
    let log: ProvenanceLog
    private let consumed = Consumed()

    private final class Consumed: Sendable {
        let keys = Mutex<Set<String>>([])
    }

    public init(path: String, file: String, value: ConfigValue?, environment: [String: String], log: ProvenanceLog) throws(ConfigError) {
        self.path = path
        self.file = file
        self.environment = environment
        self.log = log
        switch value {
        case .map(let pairs, _): self.pairs = pairs
        case .null, nil: self.pairs = []
        case .some(let other):
            throw ConfigError(
                file: file, key: path.isEmpty ? "(document)" : path,
                problem: "must be a mapping (line \(other.line))", fix: "write `key: value` pairs under it")
        }
    }

    /// The keys present in this mapping, in file order.
    public var keys: [String] { pairs.map(\.key) }

    public func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    public func raw(_ name: String) -> ConfigValue? {
        consumed.keys.withLock { _ = $0.insert(name) }
        return pairs.first { $0.key == name }?.value
    }

    public func error(_ name: String, _ problem: String, fix: String) -> ConfigError {
        ConfigError(file: file, key: key(name), problem: problem, fix: fix)
    }

    /// A nested mapping.
    public func section(_ name: String) throws(ConfigError) -> ConfigSection {
        try ConfigSection(path: key(name), file: file, value: raw(name), environment: environment, log: log)
    }

    /// The text of a key after `${env:NAME}` expansion, with where it came from; nil when absent
    /// from the file and from `env`. Empty environment values count as unset.
    public func text(_ name: String, env: String? = nil) throws(ConfigError) -> (value: String, source: ValueSource, detail: String?)? {
        switch raw(name) {
        case .scalar(let s, _):
            let (expanded, references) = try expand(s, key: name)
            return (expanded, .file, references.isEmpty ? nil : references.map { "${env:\($0)}" }.joined(separator: ","))
        case .null, nil:
            if let env, let value = environment[env], !value.isEmpty { return (value, .environment, env) }
            return nil
        case .some(let other):
            throw error(name, "must be a single value, not a list or mapping (line \(other.line))", fix: "write `\(name): <value>`")
        }
    }

    public func string(_ name: String, env: String? = nil, default defaultValue: String? = nil, secret: Bool = false) throws(ConfigError) -> String? {
        if let (value, source, detail) = try text(name, env: env) {
            let value = value.trimmingCharacters(in: .whitespaces)
            record(name, secret ? Self.fingerprint(value) : value, source, detail)
            return value
        }
        if let defaultValue { record(name, defaultValue, .default, nil) }
        return defaultValue
    }

    public func requiredString(_ name: String, env: String? = nil, secret: Bool = false, fix: String) throws(ConfigError) -> String {
        guard let value = try string(name, env: env, secret: secret), !value.isEmpty else {
            throw error(name, "is required", fix: fix)
        }
        return value
    }

    public func int(_ name: String, env: String? = nil, default defaultValue: Int, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let (text, source, detail) = try text(name, env: env) else {
            record(name, String(defaultValue), .default, nil)
            return defaultValue
        }
        guard let value = Self.parseSize(text) else {
            throw error(name, "is `\(text)`, not a whole number", fix: "write a number such as \(defaultValue)")
        }
        guard range.contains(value) else {
            throw error(name, "is \(value), outside \(range.lowerBound)...\(range.upperBound)", fix: "choose a value in that range")
        }
        record(name, String(value), source, detail)
        return value
    }

    public func double(_ name: String, env: String? = nil, default defaultValue: Double, range: ClosedRange<Double>) throws(ConfigError) -> Double {
        guard let (text, source, detail) = try text(name, env: env) else {
            record(name, String(defaultValue), .default, nil)
            return defaultValue
        }
        let parsed = Self.parseDuration(text) ?? Double(text)
        guard let value = parsed, range.contains(value) else {
            throw error(
                name, "is `\(text)`, not a number in \(range.lowerBound)...\(range.upperBound)",
                fix: "write a number (seconds) such as \(defaultValue)")
        }
        record(name, String(value), source, detail)
        return value
    }

    /// Booleans accept true/1/yes/on and false/0/no/off, as the reference SDK does; anything else is an error.
    public func bool(_ name: String, env: String? = nil, default defaultValue: Bool) throws(ConfigError) -> Bool {
        guard let (text, source, detail) = try text(name, env: env) else {
            record(name, String(defaultValue), .default, nil)
            return defaultValue
        }
        let value: Bool
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "1", "yes", "on": value = true
        case "false", "0", "no", "off": value = false
        default:
            let origin = source == .environment ? " (from \(detail ?? "the environment"))" : ""
            throw error(name, "is `\(text)`\(origin), not a boolean", fix: "use true/false (also 1/0, yes/no, on/off)")
        }
        record(name, String(value), source, detail)
        return value
    }

    /// A list of scalars; a comma-separated string is accepted too (as environment variables carry lists).
    public func stringList(_ name: String, env: String? = nil) throws(ConfigError) -> [String]? {
        if case .list(let items, _) = raw(name) {
            var values: [String] = []
            for item in items {
                guard case .scalar(let s, _) = item else {
                    throw error(name, "must be a list of plain values (line \(item.line))", fix: "write `- value` items")
                }
                values.append(try expand(s, key: name).0)
            }
            record(name, values.joined(separator: ","), .file, nil)
            return values
        }
        guard let (text, source, detail) = try text(name, env: env) else { return nil }
        let values = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        record(name, values.joined(separator: ","), source, detail)
        return values
    }

    /// A list of mappings (for example workflow tokens).
    public func sections(_ name: String) throws(ConfigError) -> [ConfigSection] {
        switch raw(name) {
        case .list(let items, _):
            var result: [ConfigSection] = []
            for (index, item) in items.enumerated() {
                result.append(try ConfigSection(path: "\(key(name))[\(index)]", file: file, value: item, environment: environment, log: log))
            }
            return result
        case .null, nil: return []
        case .some(let other):
            throw error(name, "must be a list (line \(other.line))", fix: "write `- key: value` items")
        }
    }

    /// `pipeline`: the name of one of `pipelines`, which may be left out when there is only one;
    /// `whose` ends the fix ("name the pipeline whose …").
    public func pipeline(among pipelines: [String], whose: String) throws(ConfigError) -> String {
        if let pipeline = try string("pipeline") {
            guard pipelines.contains(pipeline) else {
                throw error(
                    "pipeline", "names `\(pipeline)`, which is not a pipeline", fix: "use one of: \(pipelines.sorted().joined(separator: ", "))")
            }
            return pipeline
        }
        guard pipelines.count == 1 else {
            throw error(
                "pipeline", "is required with several pipelines",
                fix: "name the pipeline whose \(whose): \(pipelines.sorted().joined(separator: ", "))")
        }
        return pipelines[0]
    }

    /// Reports keys that no getter asked for: almost always a typo.
    public func finish() throws(ConfigError) {
        let used = consumed.keys.withLock { $0 }
        for (name, value) in pairs where !used.contains(name) {
            let known = used.sorted()
            let suggestion = known.min { Self.distance($0, name) < Self.distance($1, name) }
            let hint = suggestion.map { Self.distance($0, name) <= 3 ? "did you mean `\($0)`?" : nil } ?? nil
            throw error(
                name, "is not a known setting (line \(value.line))",
                fix: hint ?? "remove it; known settings here: \(known.joined(separator: ", "))")
        }
    }

    public func record(_ name: String, _ display: String, _ source: ValueSource, _ detail: String?) {
        log.record(ResolvedValue(key: key(name), display: display, source: source, detail: detail))
    }

    /// The only form in which a secret is ever shown: the first 8 hex digits of its SHA-256.
    public static func fingerprint(_ secret: String) -> String {
        "sha256:" + SHA256.hash(data: Data(secret.utf8)).prefix(4).hexString
    }

    /// Expands `${env:NAME}` and `${env:NAME:-default}`; an unset variable without a default is an error.
    private func expand(_ text: String, key name: String) throws(ConfigError) -> (String, [String]) {
        guard text.contains("${") else { return (text, []) }
        var output = ""
        var references: [String] = []
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            output += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw error(name, "has an unterminated `${`", fix: "write `${env:NAME}`")
            }
            let inner = rest[start.upperBound..<end]
            guard inner.hasPrefix("env:") else {
                throw error(name, "uses `${\(inner)}`; only `${env:NAME}` is supported", fix: "write `${env:NAME}`")
            }
            let spec = inner.dropFirst(4)
            let parts = spec.split(separator: ":-", maxSplits: 1, omittingEmptySubsequences: false)
            let variable = String(parts[0])
            references.append(variable)
            if let value = environment[variable], !value.isEmpty {
                output += value
            } else if parts.count == 2 {
                output += parts[1]
            } else {
                throw error(
                    name, "refers to environment variable \(variable), which is not set",
                    fix: "export \(variable)=..., or write `${env:\(variable):-default}`")
            }
            rest = rest[rest.index(after: end)...]
        }
        output += rest
        return (output, references)
    }

    /// Whole numbers, optionally with a binary size suffix (KiB, MiB, GiB).
    static func parseSize(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        for (suffix, factor) in [("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024 * 1024 * 1024)] where t.hasSuffix(suffix) {
            return Int(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)).map { $0 * factor }
        }
        return Int(t)
    }

    /// Durations such as `250ms`, `5s`, `2m`; returned in seconds.
    static func parseDuration(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in [("ms", 0.001), ("s", 1.0), ("m", 60.0)] where t.hasSuffix(suffix) {
            return Double(t.dropLast(suffix.count)).map { $0 * factor }
        }
        return nil
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
