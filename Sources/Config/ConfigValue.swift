import Yams

/// A YAML value reduced to what configuration needs, with the line it came from so errors can
/// point at it. Converted once from Yams' tree so the rest of the code is Sendable and simple.
public indirect enum ConfigValue: Sendable, Equatable {
    case scalar(String, line: Int)
    case list([ConfigValue], line: Int)
    case map([(key: String, value: ConfigValue)], line: Int)
    case null(line: Int)

    public var line: Int {
        switch self {
        case .scalar(_, let line), .list(_, let line), .map(_, let line), .null(let line): line
        }
    }

    public static func == (lhs: ConfigValue, rhs: ConfigValue) -> Bool {
        switch (lhs, rhs) {
        case (.scalar(let a, _), .scalar(let b, _)): a == b
        case (.list(let a, _), .list(let b, _)): a == b
        case (.map(let a, _), .map(let b, _)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.null, .null): true
        default: false
        }
    }

    /// Parses YAML text; a syntax error becomes a `ConfigError` naming the file and line.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> ConfigValue {
        do {
            guard let node = try Yams.compose(yaml: yaml) else { return .map([], line: 1) }
            return try convert(node, file: file)
        } catch let error as ConfigError {
            throw error
        } catch let error as YamlError {
            throw ConfigError(
                file: file, key: "(document)", problem: "is not valid YAML: \(error)",
                fix: "correct the YAML syntax at the position shown")
        } catch {
            throw ConfigError(
                file: file, key: "(document)", problem: "could not be read: \(error)",
                fix: "correct the YAML syntax")
        }
    }

    private static func convert(_ node: Node, file: String) throws(ConfigError) -> ConfigValue {
        let line = (node.mark?.line ?? 0)
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                return .null(line: line)
            }
            return .scalar(scalar.string, line: line)
        case .sequence(let sequence):
            var items: [ConfigValue] = []
            for item in sequence { items.append(try convert(item, file: file)) }
            return .list(items, line: line)
        case .mapping(let mapping):
            var pairs: [(key: String, value: ConfigValue)] = []
            for (key, value) in mapping {
                guard let name = key.string else {
                    throw ConfigError(
                        file: file, key: "line \(line)", problem: "has a non-text mapping key",
                        fix: "use plain text keys")
                }
                if pairs.contains(where: { $0.key == name }) {
                    throw ConfigError(
                        file: file, key: name, problem: "appears twice in the same mapping (line \(line))",
                        fix: "keep one of the two entries")
                }
                pairs.append((name, try convert(value, file: file)))
            }
            return .map(pairs, line: line)
        case .alias:
            throw ConfigError(
                file: file, key: "line \(line)", problem: "uses a YAML alias",
                fix: "write the value out; aliases are not supported")
        }
    }
}
