/// A configuration mistake, reported before anything starts: where, what, and how to fix it.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var key: String
    public var problem: String
    public var fix: String

    public init(file: String, key: String, problem: String, fix: String) {
        self.file = file
        self.key = key
        self.problem = problem
        self.fix = fix
    }

    public var description: String { "\(file): \(key) \(problem); fix: \(fix)" }
}

/// Where an effective configuration value came from, for `print-config`.
public enum ValueSource: String, Sendable {
    case file
    case environment
    case `default`
}

/// One resolved configuration value as `print-config` shows it. Secrets carry only a fingerprint.
public struct ResolvedValue: Sendable, Equatable {
    public var key: String
    public var display: String
    public var source: ValueSource
    public var detail: String?
}
