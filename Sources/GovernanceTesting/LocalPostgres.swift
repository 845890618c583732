import AuditStore
import Foundation
import Synchronization

/// A throwaway PostgreSQL cluster for tests and the benchmark: `initdb` in a temporary folder,
/// a server on a unix socket in that folder plus a free loopback port, removed on `destroy()`.
/// `initdb` and `postgres` refuse to run as root, so as root they run as the `postgres` user.
package final class LocalPostgres: Sendable {
    package let dataDirectory: String
    package let socketDirectory: String
    /// Chosen when the cluster is first started (a free one, retried on a clash).
    package var port: Int { chosenPort.load(ordering: .relaxed) }
    private let chosenPort = Atomic<Int>(0)
    let binDirectory: String
    /// Standbys made from this cluster (`makeStandby`); `destroy()` destroys them first.
    let standbys = Mutex<[LocalPostgres]>([])

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
        package init(description: String) { self.description = description }
    }

    /// Creates and starts a cluster. `fsync` stays on by default: the benchmark measures real commits.
    package convenience init(fsync: Bool = true) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("gc-pg-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try ChildProcess.run(["chmod", "0755", base])
        if Self.isRoot { try ChildProcess.run(["chown", "postgres:postgres", base]) }
        try Self.runAsOwner([
            "\(try Self.findBinDirectory())/initdb", "-D", base + "/data", "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync", "--no-instructions",
        ])
        try self.init(
            existingDataIn: base,
            settings: """
                listen_addresses = '127.0.0.1'
                unix_socket_directories = '\(base)'
                fsync = \(fsync ? "on" : "off")
                max_connections = 1000
                shared_buffers = 128MB
                log_min_messages = warning
                """)
    }

    /// Adopts a data directory already at `base`/data (made by `initdb` or `pg_basebackup`), with
    /// `base` as its socket folder: appends `settings` to its `postgresql.auto.conf` and starts
    /// it on a free port.
    init(existingDataIn base: String, settings: String) throws {
        binDirectory = try Self.findBinDirectory()
        dataDirectory = base + "/data"
        socketDirectory = base
        try (settings + "\n").appendLine(to: dataDirectory + "/postgresql.auto.conf")
        try startOnFreePort()
    }

    private func startOnFreePort() throws {
        // A port free when chosen can be taken before the server binds it (by anything on the
        // machine): then the start fails on the port, and another one is tried.
        var attempt = 0
        while true {
            let candidate = try Self.freePort()
            try "port = \(candidate)\n".appendLine(to: dataDirectory + "/postgresql.auto.conf")
            do {
                try start()
                chosenPort.store(candidate, ordering: .relaxed)
                break
            } catch {
                attempt += 1
                let log = (try? String(contentsOfFile: socketDirectory + "/server.log", encoding: .utf8)) ?? ""
                guard attempt < 5, log.contains("could not bind") || log.contains("could not create any TCP/IP sockets") else { throw error }
            }
        }
    }

    /// libpq key/value DSN over the unix socket.
    package var dsn: String { dsn(database: "postgres") }

    package func dsn(database: String) -> String {
        "host=\(socketDirectory) port=\(port) user=postgres dbname=\(database)"
    }

    /// The same server as a URL over TCP loopback.
    package func url(database: String = "postgres") -> String {
        "postgresql://postgres@127.0.0.1:\(port)/\(database)"
    }

    /// The same server as a URL over the unix socket, for a client in a network namespace of its
    /// own (where 127.0.0.1 is another loopback): the form asyncpg and SQLAlchemy read.
    package func socketURL(database: String) -> String {
        "postgresql://postgres@/\(database)?host=\(socketDirectory)&port=\(port)"
    }

    /// Creates an empty database and returns its DSN; each test takes its own.
    package func createDatabase(_ name: String = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")) throws
        -> String
    {
        let connection = try PGConnection(dsn: dsn)
        try connection.exec("CREATE DATABASE \(name)")
        return dsn(database: name)
    }

    /// Starts the server and waits until it accepts connections. The wait is generous (10
    /// minutes): under the parallel suite on two cores a start has taken over a minute, and a
    /// failure must mean the server failed, not that the machine was busy. A failure carries the
    /// server's log.
    package func start() throws {
        do {
            try Self.runAsOwner(["\(binDirectory)/pg_ctl", "-D", dataDirectory, "-l", socketDirectory + "/server.log", "-w", "-t", "600", "start"])
        } catch {
            let log = (try? String(contentsOfFile: socketDirectory + "/server.log", encoding: .utf8)) ?? "(no server log)"
            throw Failure(description: "\(error)\nserver log (\(socketDirectory)/server.log):\n\(log.suffix(4000))")
        }
    }

    /// Fast shutdown (`-m fast`): aborts client connections, like a database restart in production.
    package func stop() throws {
        try Self.runAsOwner(["\(binDirectory)/pg_ctl", "-D", dataDirectory, "-w", "-m", "fast", "stop"])
    }

    /// Freezes every process of the cluster with SIGSTOP, as a hung server or a stalled disk
    /// would: connections stay open, nothing answers. `resume()` thaws it.
    package func pause() throws { try signalAll(SIGSTOP) }
    package func resume() throws { try signalAll(SIGCONT) }

    private func signalAll(_ signal: Int32) throws {
        let firstLine = try String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8).split(separator: "\n").first
        guard let postmaster = firstLine.flatMap({ pid_t($0) }) else { throw Failure(description: "no postmaster.pid in \(dataDirectory)") }
        var pids = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, pid_t(fields[1]) == postmaster { pids.append(pid) }
        }
        for pid in pids { kill(pid, signal) }
    }

    package func destroy() {
        for standby in standbys.withLock({ $0 }) { standby.destroy() }
        try? stopImmediately()
        try? FileManager.default.removeItem(atPath: socketDirectory)
    }

    // MARK: Helpers

    static var isRoot: Bool { getuid() == 0 }

    static func runAsOwner(_ arguments: [String]) throws {
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

    /// A loopback TCP port free right now, below the kernel's ephemeral range and never handed
    /// out twice in this process. Outgoing connections take their local ports from the ephemeral
    /// range, so a port from there could be taken by any client socket between the choice and
    /// the bind, or while a test has its server stopped for a restart.
    package static func freePort() throws -> Int {
        try reservedPorts.withLock { reserved in
            let ephemeralStart =
                (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
                .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32768
            let range = 10_000..<max(10_001, min(ephemeralStart, 65536))
            for _ in 0..<1000 {
                let port = Int.random(in: range)
                guard !reserved.contains(port), isFree(port) else { continue }
                reserved.insert(port)
                return port
            }
            throw Failure(description: "could not find a free loopback port in \(range)")
        }
    }

    private static let reservedPorts = Mutex<Set<Int>>([])

    /// Whether a listener could bind 127.0.0.1:`port` right now.
    private static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
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
