public import Logging
public import Pipeline
public import ServiceLifecycle
import Synchronization

/// Loads the database's agent keys and revocations (`AgentKeyTable`) into an `AgentKeyring`
/// every `interval`, so a key registered or revoked by anyone on the database (the SDK, the
/// `agent-key` command, another collector) takes effect here without a restart. If the database
/// is unreachable, or the tables are not created yet, the last snapshot stays in force.
public final class AgentKeyRefresher: Service, Sendable {
    private let worker: PGWorker
    private let keyring: AgentKeyring
    private let logger: Logger
    public let interval: Duration
    private let clock: any Clock<Duration>
    /// Rows already reported as unreadable, so each is logged once.
    private let reported = Mutex<Set<String>>([])

    public init(database: AuditDatabase, keyring: AgentKeyring, interval: Duration, clock: any Clock<Duration>, logger: Logger) {
        worker = database.worker(applicationName: "governance-collector-agent-keys")
        self.keyring = keyring
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        await RefreshLoop.run("agent_keys", every: interval, on: clock, logger: logger, keeping: "agent keys") { try await refresh() }
    }

    /// Reloads now. Before the migration has created the tables there is nothing to load.
    public func refresh() async throws {
        guard
            let (keys, revoked, unreadable) = try await worker.run({ connection in
                try AgentKeyTable.exists(connection) ? AgentKeyTable.load(connection) : nil
            })
        else { return }
        keyring.replaceLoaded(keys: keys, revoked: revoked)
        let fresh = reported.withLock { seen in unreadable.filter { seen.insert($0).inserted } }
        for fingerprint in fresh {
            logger.warning(
                "agent_keys.unreadable_key",
                metadata: [
                    "fingerprint": "\(fingerprint)", "effect": "events signed with it are stored as unknown_key",
                    "fix": "its public_key_pem in governance_agent_keys is not an Ed25519 SubjectPublicKeyInfo PEM; register the key again",
                ])
        }
    }
}
