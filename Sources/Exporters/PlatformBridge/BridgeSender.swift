#if PlatformBridge
    import AuditStore
    import Config
    import CurlHTTP
    import Foundation
    import Logging
    import Pipeline

    /// The bridge's sender: one event at a time, in order, with the seed's response rules. An
    /// actor on a thread of its own (`BlockingExecutor`), so the libcurl handle and the state
    /// connection it owns block only that thread; its waits (the queue, backoff, the flush
    /// deadline) are awaits on the collector's clock, which hold no thread.
    actor BridgeSender: QueueSender {
        enum Delivery { case delivered, dropped, disabled, interrupted }

        nonisolated let executor = BlockingExecutor(name: "platform_bridge")
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

        let config: PlatformBridgeConfig
        let counters: DeliveryCounters
        let logger: Logger
        let control: ExportQueue
        let egress: Egress
        let database: AuditDatabase?
        let token: String
        let poster: GuardedPoster
        /// Relay mode (`relay_batch_events` > 0): the other collector's batch endpoint.
        let batchPoster: GuardedPoster?
        let warnings = CoalescedLog()
        let startedAt: Date

        var lastSeq: Int64 = 0
        /// Relay mode: the batch size the receiver last accepted after a 413 (its `max_batch_events`
        /// or body limit), so later batches are not split again; nil until a 413.
        var relayBatchFit: Int?
        var cursor: BridgeStateStore.Cursor?
        var store: BridgeStateStore?
        var stateDirty = false
        /// Durable mode: this instance holds the target's advisory lock (on `store`'s session).
        var leading = false
        /// Since the state was last saved, and since the state connection was last tried (nil: never).
        var sinceSave: Stopwatch?
        var sinceConnectAttempt: Stopwatch?

        /// Outgoing metadata above this size is replaced by a marker (the seed's 64 KiB).
        static let maxMetadataBytes = 64 * 1024
        static let version = "0.1.0"

        init(exporter: PlatformBridgeExporter) {
            config = exporter.config
            counters = exporter.counters
            logger = exporter.logger
            control = exporter.control
            egress = exporter.egress
            database = exporter.database
            startedAt = exporter.createdAt
            token = config.ingestToken ?? ""
            let url = config.ingestURL ?? ""
            let requested = (try? DestinationPolicy.parseURL(url).get())?.host ?? .invalid("unparsable URL")
            var options = GuardedPoster.Options(
                url: url,
                headers: [
                    "Authorization: Bearer \(token)", "Content-Type: application/json",
                    "User-Agent: governance-collector/\(Self.version)",
                ],
                caFile: config.caFile,
                allowAddress: { [allowLoopback = config.allowLoopback] bytes in
                    let address: NormalizedHost = bytes.count == 4 ? .ipv4(bytes) : .ipv6(bytes)
                    return DestinationPolicy.isAllowedConnection(to: address, requestedHost: requested, allowLoopback: allowLoopback)
                })
            options.connectTimeoutMilliseconds = Int(config.connectTimeout * 1000)
            options.timeoutMilliseconds = Int(config.requestTimeout * 1000)
            options.resolve = config.resolve
            options.shouldAbort = { [control] in control.isPastDeadline }
            poster = GuardedPoster(options)
            batchPoster = config.relayBatchURL.map { url in
                var batch = options
                batch.url = url
                return GuardedPoster(batch)
            }
        }

        func run() async {
            if config.durable { await followTable() } else { await drainQueue() }
            saveState(force: true)
        }

        // MARK: Memory mode

        private func drainQueue() async {
            loadSeqIfAvailable()
            while true {
                let events = await control.popBatch(max: batchPoster != nil ? relayBatchSize : 1, timeout: 0.25, linger: 0)
                guard let event = events.first else {
                    if control.isFlushing { break }
                    saveState(force: false)
                    continue
                }
                let delivery =
                    batchPoster != nil ? await deliverBatch(events, budget: config.retryBudget) : await deliver(event, budget: config.retryBudget)
                if delivery == .interrupted { break }
                saveState(force: false)
            }
            let unsent = control.drain()
            logger.info(
                "platform.bridge.stopped",
                metadata: [
                    "sent": "\(counters[.sent])", "unsent_at_shutdown": "\(unsent)",
                    "dropped_queue_full": "\(counters[.droppedQueueFull])",
                ])
        }

        // MARK: Durable mode

        private func followTable() async {
            while !control.isPastDeadline {
                guard counters[.disabled] == 0, ensureStore(), let store else {
                    if control.isFlushing { break }
                    await control.sleep(counters[.disabled] == 0 ? 1 : 3600, untilFlush: true)
                    continue
                }
                do {
                    if !leading {
                        leading = try store.tryLead()
                        guard leading else {
                            if control.isFlushing { break }
                            if warnings.shouldLog("standby") != nil {
                                logger.info("platform.bridge.standby", metadata: ["reason": "another collector instance delivers to this target"])
                            }
                            await control.sleep(2, untilFlush: true)
                            continue
                        }
                        // A failed load must not fall through to a new cursor: that would skip events.
                        (lastSeq, cursor) = try store.load()
                    }
                    if cursor == nil {
                        cursor = try store.initialCursor(since: startedAt)
                        stateDirty = true
                        saveState(force: true)
                    }
                    let rows = try store.fetch(after: cursor!, limit: max(256, config.relayBatchEvents))
                    if rows.isEmpty {
                        counters.lagSeconds = 0
                        saveState(force: false)
                        if control.isFlushing { break }
                        await control.sleep(0.1)
                        continue
                    }
                    if batchPoster != nil {
                        if await relay(rows) == .interrupted { return }
                        saveState(force: false)
                        continue
                    }
                    for row in rows {
                        counters.lagSeconds = row.ageSeconds
                        if let stored = row.event {
                            if let event = egress.apply(stored) {
                                if await deliver(event, budget: nil) == .interrupted { return }
                            } else {
                                counters.add(.dropped4xx)
                            }
                        } else {
                            logger.error("platform.bridge.unreadable_row", metadata: ["chain_seq": "\(row.cursor.chainSeq)"])
                        }
                        if counters[.disabled] != 0 { break }
                        cursor = row.cursor
                        stateDirty = true
                    }
                    saveState(force: false)
                } catch {
                    logger.warning("platform.bridge.postgres_error", metadata: ["error": "\(error)"])
                    dropStore()
                    await control.sleep(1, untilFlush: true)
                }
            }
        }

        // MARK: One event

        /// Sends one event until it is accepted, refused for good, or out of budget (nil: no budget,
        /// durable mode). Interrupted only by the shutdown deadline.
        func deliver(_ original: AuditEvent, budget: Double?) async -> Delivery {
            guard counters[.disabled] == 0 else {
                counters.add(.dropped4xx)
                return .disabled
            }
            let event = prepare(original)
            var retries = RetrySchedule(maxBackoff: config.maxBackoff, budget: budget, clock: control.clock)
            var seq = lastSeq + 1
            var seqRetried = false
            while true {
                if control.isPastDeadline { return .interrupted }
                var body: [UInt8] = []
                body.reserveCapacity(1024)
                WireFormat.encode(event, seq: seq).write(into: &body)
                let timeLeft = control.flushTimeLeft.map { Int(max(0.001, $0) * 1000) }
                let verdict: BridgeVerdict
                switch poster.post(body, timeoutMilliseconds: timeLeft) {
                case .success(let response):
                    verdict = BridgeVerdict.classify(status: response.status, headers: response.headers, body: response.body, token: token)
                case .failure(let error):
                    warnIfRefused(poster)
                    verdict = .transient(error.description)
                }
                switch verdict {
                case .sent:
                    lastSeq = seq
                    stateDirty = true
                    counters.add(.sent)
                    return .delivered
                case .duplicate:
                    counters.add(.duplicates)
                    return .delivered
                case .disable(let reason):
                    disable(reason)
                    counters.add(.dropped4xx)
                    return .disabled
                case .seqConflict(let expected):
                    if !seqRetried, let expected, expected >= 1 {
                        seqRetried = true
                        seq = expected
                        lastSeq = expected - 1
                        stateDirty = true
                        counters.add(.retries)
                        continue
                    }
                    counters.add(.droppedSeqConflict)
                    warn("seq_conflict", "platform.bridge.dropped_seq_conflict", ["event_id": "\(event.eventID.lowercasedString)", "seq": "\(seq)"])
                    return .dropped
                case .drop(let status, let preview):
                    counters.add(.dropped4xx)
                    warn(
                        "4xx", "platform.bridge.dropped_4xx",
                        [
                            "status": "\(status)", "body": "\(preview)",
                            "event_id": "\(event.eventID.lowercasedString)",
                        ])
                    return .dropped
                case .rateLimited(let retryAfter):
                    if let stop = await backOff(&retries, retryAfter: retryAfter) { return stop }
                case .transient:
                    if let stop = await backOff(&retries, retryAfter: nil) { return stop }
                }
            }
        }

        /// Stops sending until restart (401 or 402), saying why once.
        func disable(_ reason: String) {
            counters.disable(reason: reason)
            logger.warning(
                "platform.bridge.self_disabled",
                metadata: [
                    "reason": "\(reason)", "token": "\(ConfigSection.fingerprint(token))",
                    "fix": "issue a new token on the workflow page, set platform_ingest_token and restart",
                ])
        }

        /// Waits before a retry; the delivery's end when there is none (out of budget: `events` counted).
        func backOff(_ retries: inout RetrySchedule, retryAfter: Double?, events: Int = 1) async -> Delivery? {
            switch await retries.wait(retryAfter: retryAfter, queue: control, counters: counters) {
            case .retry: return nil
            case .interrupted: return .interrupted
            case .outOfBudget:
                counters.add(.dropped5xx, events)
                return control.isPastDeadline ? .interrupted : .dropped
            case .noTimeBeforeShutdown: return control.isPastDeadline ? .interrupted : .dropped
            }
        }

        /// The outgoing copy: redacted, metadata capped at 64 KiB, the collector's seq not exposed.
        func prepare(_ event: AuditEvent) -> AuditEvent {
            var event = event
            if config.redact { event = egress.redact(event) }
            var size: [UInt8] = []
            event.metadata.write(into: &size)
            if size.count > Self.maxMetadataBytes {
                event.metadata = .object([
                    .init("_governance_truncated", .bool(true)),
                    .init("original_bytes", .number(String(size.count))),
                ])
            }
            return event
        }

        /// A post that failed because the SSRF policy refused the address it resolved to is retried
        /// like any transient failure, so it must at least say why.
        func warnIfRefused(_ poster: GuardedPoster) {
            guard let bytes = poster.lastRefusedAddress else { return }
            let address: NormalizedHost = bytes.count == 4 ? .ipv4(bytes) : .ipv6(bytes)
            warn(
                "address_refused", "platform.bridge.address_refused",
                [
                    "address": "\(DestinationPolicy.canonicalText(address))", "url": "\(config.displayURL)",
                    "reason": "\(DestinationPolicy.isRefused(address)?.reason ?? "refused")",
                ])
        }

        func warn(_ key: String, _ message: Logger.Message, _ metadata: Logger.Metadata) {
            guard let suppressed = warnings.shouldLog(key) else { return }
            var metadata = metadata
            metadata["similar_warnings_suppressed"] = "\(suppressed)"
            logger.warning(message, metadata: metadata)
        }

        // MARK: State in PostgreSQL

        private func ensureStore() -> Bool {
            if store != nil { return true }
            guard let database, (sinceConnectAttempt?.elapsed ?? .seconds(2)) > .seconds(1) else { return false }
            sinceConnectAttempt = Stopwatch(on: control.clock)
            do {
                let store = try BridgeStateStore(database: database, target: config.target)
                try store.migrate(durable: config.durable)
                self.store = store
                return true
            } catch {
                if warnings.shouldLog("state_connect") != nil {
                    logger.warning("platform.bridge.state_unavailable", metadata: ["error": "\(error)"])
                }
                return false
            }
        }

        /// Memory mode: the stored seq if PostgreSQL answers (else the platform's 409 heals it).
        private func loadSeqIfAvailable() {
            guard ensureStore(), let store else { return }
            do {
                lastSeq = try store.load().lastSeq
            } catch {
                dropStore()
            }
        }

        private func dropStore() {
            store = nil
            leading = false
        }

        private func saveState(force: Bool) {
            guard stateDirty, force || (sinceSave?.elapsed ?? .seconds(1)) >= .milliseconds(250) else { return }
            guard ensureStore(), let store else { return }
            do {
                try store.save(lastSeq: lastSeq, cursor: cursor)
                stateDirty = false
                sinceSave = Stopwatch(on: control.clock)
            } catch {
                dropStore()
            }
        }
    }
#endif
