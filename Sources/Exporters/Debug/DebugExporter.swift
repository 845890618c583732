public import Config
import Foundation
public import Pipeline
import ServiceLifecycle
import Synchronization

/// Prints each committed event as one JSON line (wire format plus `workflow`): a quick way to
/// watch what the collector stores. A secondary: it sees only events Postgres committed.
public final class DebugExporter: SecondaryExporter, Sendable {
    private let handle: FileHandle
    private let lock = Mutex<Void>(())

    public init(useStandardError: Bool) {
        handle = useStandardError ? .standardError : .standardOutput
    }

    public static func read(_ section: ConfigSection) throws(ConfigError) -> Bool {
        let stream = try section.string("stream", default: "stdout") ?? "stdout"
        guard stream == "stdout" || stream == "stderr" else {
            throw section.error("stream", "is `\(stream)`", fix: "use stdout or stderr")
        }
        try section.finish()
        return stream == "stderr"
    }

    public func export(_ events: [AuditEvent]) {
        var out: [UInt8] = []
        for event in events {
            guard case .object(var members) = WireFormat.encode(event, seq: event.clientSeq) else { continue }
            members.append(.init("workflow", .string(event.workflow)))
            JSONValue.object(members).write(into: &out)
            out.append(UInt8(ascii: "\n"))
        }
        lock.withLock { _ in handle.write(Data(out)) }
    }

    public func run() async throws {
        try? await gracefulShutdown()
    }
}
