import Foundation
public import Logging
import Pipeline
import Synchronization

/// One JSON object per line: `time` (UTC, RFC 3339 with microseconds), `level`, `event` (the
/// message, e.g. `platform.bridge_enabled`), `logger`, then every metadata field. For log
/// pipelines that parse lines; the text format is `StreamLogHandler`'s.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let write: @Sendable ([UInt8]) -> Void

    public init(label: String, level: Logger.Level, write: @escaping @Sendable ([UInt8]) -> Void = JSONLogHandler.standardError) {
        self.label = label
        logLevel = level
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var members: [JSONValue.Member] = [
            .init("time", .string(Timestamp.now().pythonISOFormat.replacingOccurrences(of: "+00:00", with: "Z"))),
            .init("level", .string(event.level.rawValue)),
            .init("event", .string("\(event.message)")),
            .init("logger", .string(label)),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) { members.append(.init(key, Self.json(value))) }
        var line: [UInt8] = []
        JSONValue.object(members).write(into: &line)
        line.append(UInt8(ascii: "\n"))
        write(line)
    }

    static func json(_ value: Logger.MetadataValue) -> JSONValue {
        switch value {
        case .string(let s): .string(s)
        case .stringConvertible(let c): .string(c.description)
        case .array(let items): .array(items.map(json))
        case .dictionary(let d): .object(d.sorted { $0.key < $1.key }.map { .init($0.key, json($0.value)) })
        }
    }

    private static let lock = Mutex<Void>(())

    /// Writes whole lines to standard error, one writer at a time.
    public static let standardError: @Sendable ([UInt8]) -> Void = { line in
        lock.withLock { _ in FileHandle.standardError.write(Data(line)) }
    }
}
