import AuditStore
import Foundation
import Synchronization

/// Streaming replication for failover tests: the cluster as a primary, a hot standby made from
/// it with `pg_basebackup -R` (its data directory under the primary's temporary folder, so
/// `destroy()` of the primary removes it too), promotion, and an abrupt stop of the primary.
///
///     let primary = try LocalPostgres(fsync: false)
///     try primary.enableReplication()
///     let standby = try primary.makeStandby()   // synchronous from here on
///     try primary.stopImmediately()
///     try standby.promote()
extension LocalPostgres {
    /// Makes the cluster a primary that standbys can stream from: `wal_level = replica`,
    /// `max_wal_senders`, `synchronous_commit = on`, and `pg_hba.conf` lines trusting replication
    /// connections over the unix socket and from 127.0.0.1. These are PostgreSQL's and
    /// `initdb -A trust`'s defaults today; they are written out so the failover test states what
    /// it relies on, and the server restarts because `wal_level` takes effect only at start.
    /// `synchronous_standby_names` is set by `makeStandby` once the standby streams: set now,
    /// every commit would wait for a standby that does not exist yet.
    package func enableReplication() throws {
        try """
        local   replication     all                     trust
        host    replication     all     127.0.0.1/32    trust

        """.appendLine(to: dataDirectory + "/pg_hba.conf")
        try """
        wal_level = replica
        max_wal_senders = 10
        max_replication_slots = 10
        synchronous_commit = on

        """.appendLine(to: dataDirectory + "/postgresql.auto.conf")
        try stop()
        try start()
    }

    /// Makes a hot standby of this cluster with `pg_basebackup -R` (a replication slot named
    /// `name` keeps the WAL it has not received), starts it on a free port, names it the
    /// synchronous standby (`synchronous_standby_names = 'name'`, matched against the
    /// `application_name` in its `primary_conninfo`), and returns once this primary reports it
    /// streaming as `sync`: from then on a commit here returns only after the standby has
    /// flushed it. Call `enableReplication()` first. The standby has no synchronous standby of
    /// its own, so once promoted it commits alone.
    package func makeStandby(name: String = "standby1", timeoutSeconds: Double = 600) throws -> LocalPostgres {
        let base = socketDirectory + "/" + name
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try ChildProcess.run(["chmod", "0755", base])
        if Self.isRoot { try ChildProcess.run(["chown", "postgres:postgres", base]) }
        let conninfo = "host=\(socketDirectory) port=\(port) user=postgres application_name=\(name)"
        try Self.runAsOwner([
            "\(binDirectory)/pg_basebackup", "-D", base + "/data", "-d", conninfo, "-R", "-X", "stream",
            "-c", "fast", "-C", "-S", name, "--no-sync",
        ])
        // Later lines win: its own socket folder, and a primary_conninfo that certainly carries
        // application_name (what synchronous_standby_names names), whatever -R wrote.
        let standby = try LocalPostgres(
            existingDataIn: base,
            settings: """
                unix_socket_directories = '\(base)'
                primary_conninfo = '\(conninfo)'
                primary_slot_name = '\(name)'
                hot_standby = on
                synchronous_standby_names = ''
                """)
        standbys.withLock { $0.append(standby) }

        let connection = try PGConnection(dsn: dsn)
        try connection.exec("ALTER SYSTEM SET synchronous_standby_names = \(connection.escapeLiteral(name))")
        try connection.exec("SELECT pg_reload_conf()")
        try Self.poll("standby \(name) streaming as the synchronous standby of port \(port)", timeoutSeconds: timeoutSeconds) {
            try connection.exec("SELECT count(*) FROM pg_stat_replication WHERE application_name = $1 AND sync_state = 'sync'", [name])
                .rows.first?.first == "1"
        }
        return standby
    }

    /// Promotes a standby (`pg_ctl promote -w`) and returns once it accepts writes
    /// (`pg_is_in_recovery()` is false).
    package func promote(timeoutSeconds: Double = 600) throws {
        try Self.runAsOwner(["\(binDirectory)/pg_ctl", "-D", dataDirectory, "-w", "-t", "\(Int(timeoutSeconds))", "promote"])
        try Self.poll("port \(port) promoted", timeoutSeconds: timeoutSeconds) {
            try PGConnection(dsn: dsn).exec("SELECT pg_is_in_recovery()").rows.first?.first == "f"
        }
    }

    /// Stops the server abruptly (`-m immediate`): every process exits at once, without a
    /// checkpoint, as a crashed machine's would (the next start runs crash recovery).
    package func stopImmediately() throws {
        try Self.runAsOwner(["\(binDirectory)/pg_ctl", "-D", dataDirectory, "-w", "-m", "immediate", "stop"])
    }

    /// Polls `condition` (an error counts as "not yet") every 20 ms until it holds; throws,
    /// with the last error, after `timeoutSeconds`.
    static func poll(_ what: String, timeoutSeconds: Double, _ condition: () throws -> Bool) throws {
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        var lastError: (any Error)?
        while true {
            do {
                if try condition() { return }
            } catch {
                lastError = error
            }
            guard ContinuousClock.now < deadline else {
                throw Failure(description: "timed out after \(timeoutSeconds) s waiting for \(what)" + (lastError.map { ": \($0)" } ?? ""))
            }
            usleep(20_000)
        }
    }
}
