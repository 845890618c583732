package import Foundation

/// Starts and waits for child processes with `posix_spawn` and `waitpid`. Foundation's `Process`
/// can miss a child's exit when many run at once under Swift Testing (we saw zombies and a
/// `waitUntilExit` that never returned), so tests and clusters use this instead.
package struct ChildProcess: Sendable {
    package let pid: pid_t

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// Starts `arguments` (looked up on PATH), output appended to `outputPath` (or discarded),
    /// with `environment` added to this process's environment.
    package static func spawn(_ arguments: [String], outputPath: String? = nil, environment: [String: String] = [:]) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let target = outputPath ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, target, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process: a long-lived child (a collector, a cluster's postmaster)
        // holding a test's socket would keep it open after the test closed it.
        guard Self.addCloseFrom(&actions, 3) == 0 else { throw Failure(description: "posix_spawn_file_actions_addclosefrom_np failed") }
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, arguments[0], &actions, nil, argv, envp)
        guard status == 0 else {
            throw Failure(description: "could not start \(arguments[0]): \(String(cString: strerror(status)))")
        }
        return ChildProcess(pid: pid)
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34): Swift's Glibc module leaves it
    /// out (it is behind `_GNU_SOURCE`), so it is looked up by name.
    private static let addCloseFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
            fatalError("glibc 2.34 or later is needed (posix_spawn_file_actions_addclosefrom_np)")
        }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Waits for the child and returns its exit status (128 + signal when killed). It blocks its
    /// thread, so async code awaits `exitStatus()` instead (the compiler holds it to that).
    @available(*, noasync, message: "blocks a thread of the cooperative pool: await exitStatus()")
    @discardableResult
    package func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return Self.decode(status)
    }

    /// Sends `signal` and reaps the child: for `defer` blocks, which cannot await. A killed child
    /// is gone at once; one sent SIGTERM waits for its own shutdown, so keep that for the end.
    @discardableResult
    package func stop(_ signal: Int32 = SIGKILL) -> Int32 {
        kill(signal)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return Self.decode(status)
    }

    /// The exit status if the child ends within `seconds`, else nil.
    package func exitStatus(within seconds: Double) async -> Int32? {
        await exit(within: seconds)?.status
    }

    /// The exit status and when the exit was seen, if the child ends within `seconds`. A thread
    /// of its own polls `waitpid`, so a busy task pool (tests running in parallel) cannot delay
    /// the moment measured.
    package func exit(within seconds: Double) async -> (status: Int32, at: Date)? {
        let pid = pid
        return await withCheckedContinuation { continuation in
            Thread {
                let deadline = Date().addingTimeInterval(seconds)
                repeat {
                    var status: Int32 = 0
                    if waitpid(pid, &status, WNOHANG) == pid { return continuation.resume(returning: (Self.decode(status), Date())) }
                    usleep(5000)
                } while Date() < deadline
                continuation.resume(returning: nil)
            }.start()
        }
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    package func kill(_ signal: Int32) { _ = Glibc.kill(pid, signal) }

    /// Runs a command to completion; a non-zero exit throws with the command's output.
    package static func run(_ arguments: [String]) throws {
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("gc-cmd-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: logPath) }
        let status = try spawn(arguments, outputPath: logPath).wait()
        guard status == 0 else {
            let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw Failure(description: "`\(arguments.joined(separator: " "))` failed (\(status)): \(output)")
        }
    }
}
