import AuditStore
import Collector
import Crypto
import CurlHTTP
import Exporters
import Foundation
import GovernanceTesting
import Logging
import Pipeline
import Receivers
import Synchronization
import Testing

/// One throwaway PostgreSQL cluster shared by the tests of this process (each test makes its
/// own database in it); destroyed when the process exits. Tests that stop or restart
/// PostgreSQL make a dedicated cluster instead.
let sharedCluster: LocalPostgres = {
    let cluster = try! LocalPostgres(fsync: false)
    destroyAtExit(cluster)
    return cluster
}()

/// A new database in the shared cluster, made off the cooperative pool (the first call also
/// starts the cluster there).
func newDatabase() async throws -> String {
    try await offPool { try sharedCluster.createDatabase() }
}

private let clustersToDestroy = Mutex<[LocalPostgres]>([])

func destroyAtExit(_ cluster: LocalPostgres) {
    let first = clustersToDestroy.withLock { list in
        list.append(cluster)
        return list.count == 1
    }
    if first {
        atexit { clustersToDestroy.withLock { $0.forEach { $0.destroy() } } }
    }
}

let testToken = "wf_test_token_for_the_suite_0001"
let otherToken = "wf_test_token_for_the_suite_0002"

/// A collector config for tests; `receiverSettings` are extra `ingest_http` lines (4-space indent).
func collectorYAML(dsn: String, receiverSettings: String = "") -> String {
    """
    receivers:
      ingest_http:
        endpoint: 127.0.0.1:0
        max_body_bytes: 65536
        max_batch_events: 1000
    \(receiverSettings)
        tokens:
          - { workflow: wf-test, token_sha256: \(WorkflowTokens.sha256Hex(testToken)) }
          - { workflow: wf-other, token_sha256: \(WorkflowTokens.sha256Hex(otherToken)) }
    exporters:
      postgres:
        dsn: "\(dsn)"
        max_reconnect_backoff: 0.2
    service:
      pipelines:
        audit:
          receivers: [ingest_http]
          exporters: [postgres]
    """
}

/// Collectors' logs: into the transcript when there is one, else nowhere.
let quietLogger: Logger = {
    guard Transcript.shared != nil else { return Logger(label: "test") { _ in SwiftLogNoOpLogHandler() } }
    var logger = Logger(label: "test") { _ in LogCapture.Handler(capture: nil) }
    logger.logLevel = .debug
    return logger
}()

/// The secret-hygiene transcript: with `GOVERNANCE_TEST_TRANSCRIPT` set (scripts/test.sh sets
/// it), every log line of the collectors the tests run (in process and the binary), every
/// answer `post` receives and every `/metrics` scrape is appended to that file, which
/// scripts/check-secrets.sh then searches for the tests' tokens and secrets.
final class Transcript: Sendable {
    static let shared: Transcript? = ProcessInfo.processInfo.environment["GOVERNANCE_TEST_TRANSCRIPT"].flatMap(Transcript.init)
    let path: String
    private let handle: Mutex<FileHandle>

    init?(path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { return nil }
        self.path = path
        handle = Mutex(FileHandle(fileDescriptor: fd, closeOnDealloc: true))
    }

    func append(_ text: String) {
        handle.withLock { $0.write(Data((text + "\n").utf8)) }
    }
}

/// Tests run many collectors at once: each one's telemetry server takes a free port unless a
/// test says otherwise.
let freeTelemetryPort = ["GOVERNANCE_METRICS_ENDPOINT": "127.0.0.1:0"]

/// The `governance-collector run` binary as a child process.
func spawnCollector(config: String, environment: [String: String] = [:], outputPath: String? = nil) throws -> ChildProcess {
    try ChildProcess.spawn(
        [BinaryTests.binary, "run", "--config", config], outputPath: outputPath ?? Transcript.shared?.path,
        environment: freeTelemetryPort.merging(environment) { _, given in given })
}

/// A collector running in this process on a free loopback port.
struct RunningCollector {
    let collector: Collector
    let task: Task<Void, any Error>
    let port: Int
    let scheme: String

    var eventsURL: String { "\(scheme)://127.0.0.1:\(port)\(IngestHTTPReceiver.eventsPath)" }
    var batchURL: String { "\(scheme)://127.0.0.1:\(port)\(IngestHTTPReceiver.batchPath)" }
    var baseURL: String { "\(scheme)://127.0.0.1:\(port)" }

    static func start(
        yaml: String, environment: [String: String] = [:], scheme: String = "http",
        logger: Logger = quietLogger, clock: any Clock<Duration> = ContinuousClock()
    ) async throws -> RunningCollector {
        let plan = try CollectorPlan.parse(yaml: yaml, file: "test.yaml", environment: freeTelemetryPort.merging(environment) { _, given in given })
        let collector = try Collector(plan: plan, logger: logger, handleSignals: false, clock: clock)
        let task = Task { try await collector.run() }
        let receiver = try #require(collector.receivers["ingest_http"] as? IngestHTTPReceiver)
        // Every receiver bound, not only ingest_http: a test may talk to any of them first.
        for _ in 0..<6000 {
            if let port = receiver.boundPort, collector.receivers.values.allSatisfy(\.isListening) {
                return RunningCollector(collector: collector, task: task, port: port, scheme: scheme)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw LocalPostgres.Failure(description: "collector did not start listening within 60 s")
    }

    /// Waits until /readyz says PostgreSQL is ready (or fails after `seconds`). It asks the
    /// telemetry server when there is one, so the receiver's own counters and deadlines see only
    /// the test's connections (a readiness probe stalled past a short read_header_timeout would
    /// otherwise count as a timeout).
    func waitUntilReady(seconds: Double = 60) async throws {
        let base = collector.telemetryPort.map { "http://127.0.0.1:\($0)" } ?? baseURL
        if try await !waitForReady(base, seconds: seconds) { Issue.record("collector not ready after \(seconds)s") }
    }

    func stop() async throws {
        await collector.shutdown()
        try await task.value
    }

    /// Starts a collector, runs `body` with it, and always stops it, awaiting the stop: a
    /// collector that fails while stopping fails the test (after `body`'s own error, if any).
    static func with(
        yaml: String, environment: [String: String] = [:], scheme: String = "http", logger: Logger = quietLogger,
        clock: any Clock<Duration> = ContinuousClock(), _ body: (RunningCollector) async throws -> Void
    ) async throws {
        let collector = try await start(yaml: yaml, environment: environment, scheme: scheme, logger: logger, clock: clock)
        let outcome: Result<Void, any Error>
        do {
            try await body(collector)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        do {
            try await collector.stop()
        } catch {
            guard case .failure = outcome else { throw error }
            Issue.record("the collector also failed while stopping: \(error)")
        }
        try outcome.get()
    }

    /// The collector's telemetry server (`/metrics`, `/healthz`, `/readyz`).
    func telemetryURL() async throws -> String {
        for _ in 0..<6000 {
            if let port = collector.telemetryPort { return "http://127.0.0.1:\(port)" }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw LocalPostgres.Failure(description: "telemetry server did not start listening")
    }
}

/// Polls `baseURL/readyz` until it answers 200; false after `seconds`.
@discardableResult
func waitForReady(_ baseURL: String, seconds: Double = 10) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let r = try? await TestHTTP.request("GET", baseURL + "/readyz"), r.status == 200 { return true }
        try await Task.sleep(for: .milliseconds(25))
    }
    return false
}

/// A wire-format event as the reference SDK's bridge sends it: with the `client_hmac` the SDK
/// computes under `auditSecret` (over Python's reading of the metadata), or, with
/// `clientHMAC: false`, none (the collector's chain processor computes it).
func wireEvent(
    id: UUID = UUID(), session: UUID = UUID(), agent: String = "agent-1", kind: String = "tool.call",
    seq: Int = 1, metadata: String = #"{"n":1}"#, clientHMAC: Bool = true
) -> String {
    let unchained = """
        {"event_id":"\(id.lowercasedString)","event_type":"\(kind)","agent_id":"\(agent)","seq":\(seq),\
        "payload":{"session_id":"\(session.lowercasedString)","kind":"\(kind)","created_at":"2026-11-24T12:00:00.000120+00:00",\
        "metadata":\(metadata),"signature_status":"unsigned"},"prev_hash":"","sdk_version":"0.7.3"}
        """
    guard clientHMAC else { return unchained }
    return unchained.replacingOccurrences(of: #","sdk_version":"0.7.3"}"#, with: #","client_hmac":"\#(sdkHMAC(unchained))","sdk_version":"0.7.3"}"#)
}

/// The HMAC the SDK computes for a wire event, under `auditSecret`; for a body that does not
/// decode (a test of a refusal), a fixed hex string.
func sdkHMAC(_ body: String) -> String {
    guard let json = try? JSONParser.parse(body), var event = try? WireFormat.decode(json, workflow: "wf-test", receivedAt: .now()) else {
        return "abcdef0123456789"
    }
    event.metadata = event.metadata.pythonNormalized()
    return AuditChain.hmac(event, key: SymmetricKey(data: Data(auditSecret.utf8)))
}

func post(
    _ url: String, _ body: String, token: String? = testToken, contentType: String = "application/json", timeoutSeconds: Int = 30
) async throws -> HTTPResult {
    var headers = ["Content-Type: \(contentType)"]
    if let token { headers.append("Authorization: Bearer \(token)") }
    let result = try await TestHTTP.request("POST", url, headers: headers, body: Array(body.utf8), timeoutSeconds: timeoutSeconds)
    Transcript.shared?.append("answer \(result.status) \(result.headers.sorted { $0.key < $1.key }) \(result.text)")
    return result
}

func parseJSON(_ result: HTTPResult) throws -> JSONValue {
    try JSONParser.parse(result.body)
}

/// Event ids present in the audit table of the database at `dsn`.
func storedIDs(_ dsn: String) async throws -> Set<UUID> {
    try await offPool {
        let rows = try PGConnection(dsn: dsn).exec("SELECT event_id FROM governance_audit_events")
        return Set(rows.rows.compactMap { $0[0].flatMap(UUID.init(uuidString:)) })
    }
}

/// The first column of the first row `sql` returns: on a thread of its own, as libpq blocks
/// (the tests' collectors share the two threads of Swift's cooperative pool).
func scalar(_ dsn: String, _ sql: String) async throws -> String? {
    try await offPool { try PGConnection(dsn: dsn).exec(sql).rows.first?.first ?? nil }
}

/// Keeps every log line (level, message, metadata rendered as text) for assertions.
final class LogCapture: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
        var text: String { "\(level) \(message) " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
    }

    private let store = Mutex<[Line]>([])

    var lines: [Line] { store.withLock { $0 } }
    func lines(_ message: String) -> [Line] { lines.filter { $0.message == message } }

    var logger: Logger {
        var logger = Logger(label: "test") { _ in Handler(capture: self) }
        logger.logLevel = .debug
        return logger
    }

    struct Handler: LogHandler {
        /// nil: only the transcript gets the line.
        let capture: LogCapture?
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
            let line = Line(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" })
            Transcript.shared?.append("log \(line.text)")
            capture?.store.withLock { $0.append(line) }
        }
    }
}

/// One headless browser at a time: each brings Chromium, a collector binary and its clients to a
/// two-core machine, and two at once starve the in-process collectors of the tests beside them.
actor BrowserTurn {
    static let shared = BrowserTurn()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        }
        busy = true
        defer {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }

    /// Runs a script that drives a browser, in its turn, killed if it outlives `seconds`; returns
    /// its exit status (nil when it was killed) and its output, which joins the test's transcript.
    func script(_ arguments: [String], log: String, environment: [String: String] = [:], within seconds: Double) async throws -> (
        status: Int32?, output: String
    ) {
        let exit = try await run {
            let child = try ChildProcess.spawn(arguments, outputPath: log, environment: environment)
            let exit = await child.exit(within: seconds)
            if exit == nil { child.kill(SIGKILL) }
            return exit
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        Transcript.shared?.append(output)
        return (exit?.status, output)
    }
}
