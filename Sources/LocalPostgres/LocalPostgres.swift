import Exporters
import Foundation

/// A throwaway PostgreSQL cluster for tests and the benchmark: `initdb` in a temporary folder,
/// a server on a unix socket in that folder plus a free loopback port, removed on `destroy()`.
/// `initdb` and `postgres` refuse to run as root, so as root they run as the `postgres` user.
public final class LocalPostgres: @unchecked Sendable {
    public let dataDirectory: String
    public let socketDirectory: String
    public let port: Int
    private let binDirectory: String

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Creates and starts a cluster. `fsync` stays on by default: the benchmark measures real commits.
    public init(fsync: Bool = true) throws {
        binDirectory = try Self.findBinDirectory()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("gc-pg-\(UUID().uuidString.prefix(8))").path
        dataDirectory = base + "/data"
        socketDirectory = base
        port = try Self.freePort()
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try ChildProcess.run(["chmod", "0755", base])
        if Self.isRoot { try ChildProcess.run(["chown", "postgres:postgres", base]) }
        try runAsOwner(["\(binDirectory)/initdb", "-D", dataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                        "--locale=C", "--no-sync", "--no-instructions"])
        let settings = """
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(socketDirectory)'
            fsync = \(fsync ? "on" : "off")
            max_connections = 500
            shared_buffers = 128MB
            log_min_messages = warning
            """
        try (settings + "\n").appendLine(to: dataDirectory + "/postgresql.auto.conf")
        try start()
    }

    /// libpq key/value DSN over the unix socket.
    public var dsn: String { dsn(database: "postgres") }

    public func dsn(database: String) -> String {
        "host=\(socketDirectory) port=\(port) user=postgres dbname=\(database)"
    }

    /// The same server as a URL over TCP loopback.
    public func url(database: String = "postgres") -> String {
        "postgresql://postgres@127.0.0.1:\(port)/\(database)"
    }

    /// Creates an empty database and returns its DSN; each test takes its own.
    public func createDatabase(_ name: String = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")) throws -> String {
        let connection = try PGConnection(dsn: dsn)
        try connection.exec("CREATE DATABASE \(name)")
        return dsn(database: name)
    }

    public func start() throws {
        try runAsOwner(["\(binDirectory)/pg_ctl", "-D", dataDirectory, "-l", socketDirectory + "/server.log", "-w", "-t", "60", "start"])
    }

    /// Fast shutdown (`-m fast`): aborts client connections, like a database restart in production.
    public func stop() throws {
        try runAsOwner(["\(binDirectory)/pg_ctl", "-D", dataDirectory, "-w", "-m", "fast", "stop"])
    }

    /// Freezes every process of the cluster with SIGSTOP, as a hung server or a stalled disk
    /// would: connections stay open, nothing answers. `resume()` thaws it.
    public func pause() throws { try signalAll(SIGSTOP) }
    public func resume() throws { try signalAll(SIGCONT) }

    private func signalAll(_ signal: Int32) throws {
        let firstLine = try String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8).split(separator: "\n").first
        guard let postmaster = firstLine.flatMap({ pid_t($0) }) else { throw Failure(description: "no postmaster.pid in \(dataDirectory)") }
        var pids = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, pid_t(fields[1]) == postmaster { pids.append(pid) }
        }
        for pid in pids { kill(pid, signal) }
    }

    public func destroy() {
        try? runAsOwner(["\(binDirectory)/pg_ctl", "-D", dataDirectory, "-w", "-m", "immediate", "stop"])
        try? FileManager.default.removeItem(atPath: socketDirectory)
    }

    // MARK: Helpers

    static var isRoot: Bool { getuid() == 0 }

    private func runAsOwner(_ arguments: [String]) throws {
        try ChildProcess.run(Self.isRoot ? ["runuser", "-u", "postgres", "--"] + arguments : arguments)
    }

    static func findBinDirectory() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["PG_BINDIR"] { return explicit }
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        guard let newest = versions.compactMap(Int.init).max() else {
            throw Failure(description: "no PostgreSQL server under \(root); install it: apt-get install postgresql (or set PG_BINDIR)")
        }
        return "\(root)/\(newest)/bin"
    }

    /// A loopback TCP port free right now (bound to 0, read back, released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Failure(description: "could not find a free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

extension String {
    func appendLine(to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(utf8))
    }
}
