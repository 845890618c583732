#if PlatformBridge
    import AuditStore
    import CurlHTTP
    import Foundation
    import Logging
    import Pipeline

    /// Relay mode: when the target is another governance-collector, the bridge posts up to
    /// `relay_batch_events` events per request to its batch endpoint, numbered consecutively per item
    /// sent (a collector keeps them as `client_seq` and never enforces them), and a retried batch is
    /// safe: the receiver answers `duplicate` for what it already stored.
    extension BridgeSender {
        /// Events per batch: `relay_batch_events`, or less once the receiver has said 413.
        var relayBatchSize: Int { min(max(1, config.relayBatchEvents), relayBatchFit ?? .max) }

        /// Durable mode: delivers `rows` (one fetch) as batches, moving the cursor past each batch's
        /// rows once it is delivered, so an interrupted fetch never sends a delivered batch again.
        func relay(_ rows: [AuditTableFollower.Row]) async -> Delivery {
            var batch: [AuditEvent] = []
            for (index, row) in rows.enumerated() {
                counters.lagSeconds = row.ageSeconds
                if let stored = row.event {
                    if let event = egress.apply(stored) { batch.append(event) } else { counters.add(.dropped4xx) }
                } else {
                    logger.error("platform.bridge.unreadable_row", metadata: ["chain_seq": "\(row.cursor.chainSeq)"])
                }
                guard batch.count >= relayBatchSize || index == rows.count - 1 else { continue }
                if !batch.isEmpty {
                    if await deliverBatch(batch, budget: nil) == .interrupted { return .interrupted }
                    if counters[.disabled] != 0 { return .disabled }
                    batch.removeAll(keepingCapacity: true)
                }
                cursor = row.cursor
                stateDirty = true
            }
            return .delivered
        }

        /// Sends one batch until it is answered, refused for good, or out of budget (nil: none).
        /// A 413 splits it in halves; each item's answer is counted as the single-event ones are.
        func deliverBatch(_ originals: [AuditEvent], budget: Double?) async -> Delivery {
            guard let batchPoster else { preconditionFailure("deliverBatch without relay_batch_events") }
            guard !originals.isEmpty else { return .delivered }
            guard counters[.disabled] == 0 else {
                counters.add(.dropped4xx, originals.count)
                return .disabled
            }
            let events = originals.map { prepare($0) }
            var retries = RetrySchedule(maxBackoff: config.maxBackoff, budget: budget, clock: control.clock)
            var seqRetried = false
            while true {
                if control.isPastDeadline { return .interrupted }
                var body: [UInt8] = [UInt8(ascii: "[")]
                body.reserveCapacity(events.count * 600)
                for (offset, event) in events.enumerated() {
                    if offset > 0 { body.append(UInt8(ascii: ",")) }
                    WireFormat.encode(event, seq: lastSeq + 1 + Int64(offset)).write(into: &body)
                }
                body.append(UInt8(ascii: "]"))
                let timeLeft = control.flushTimeLeft.map { Int(max(0.001, $0) * 1000) }
                let verdict: BridgeVerdict
                var answer: [UInt8] = []
                switch batchPoster.post(body, timeoutMilliseconds: timeLeft) {
                case .success(let response):
                    if response.status == 413, events.count > 1 {
                        let middle = events.count / 2
                        relayBatchFit = min(relayBatchFit ?? .max, events.count - middle)
                        let first = await deliverBatch(Array(originals[..<middle]), budget: budget)
                        if first == .interrupted || first == .disabled { return first }
                        return await deliverBatch(Array(originals[middle...]), budget: budget)
                    }
                    if response.status == 404 || response.status == 405 {
                        // The platform has no batch endpoint: dropping would lose every event for good.
                        disable(
                            "\(config.relayBatchURL ?? "the batch endpoint") answered \(response.status): not a governance-collector batch endpoint; relay_batch_events is for a collector target, set it to 0 for the platform"
                        )
                        counters.add(.dropped4xx, events.count)
                        return .disabled
                    }
                    verdict = BridgeVerdict.classify(status: response.status, headers: response.headers, body: response.body, token: token)
                    answer = response.body
                case .failure(let error):
                    warnIfRefused(batchPoster)
                    verdict = .transient(error.description)
                }
                switch verdict {
                case .sent, .duplicate:
                    let items =
                        verdict == .duplicate ? Array(repeating: .duplicate, count: events.count) : RelayAnswer.items(answer, count: events.count)
                    for (event, item) in zip(events, items) {
                        switch item {
                        case .stored: counters.add(.sent)
                        case .duplicate: counters.add(.duplicates)
                        case .rejected(let message):
                            counters.add(.dropped4xx)
                            warn(
                                "4xx", "platform.bridge.dropped_4xx",
                                [
                                    "status": "batch item", "body": "\(message)",
                                    "event_id": "\(event.eventID.lowercasedString)",
                                ])
                        }
                    }
                    lastSeq += Int64(events.count)
                    stateDirty = true
                    return .delivered
                case .disable(let reason):
                    disable(reason)
                    counters.add(.dropped4xx, events.count)
                    return .disabled
                case .seqConflict(let expected):
                    if !seqRetried, let expected, expected >= 1 {
                        seqRetried = true
                        lastSeq = expected - 1
                        stateDirty = true
                        counters.add(.retries)
                        continue
                    }
                    counters.add(.droppedSeqConflict, events.count)
                    return .dropped
                case .drop(let status, let preview):
                    counters.add(.dropped4xx, events.count)
                    warn("4xx", "platform.bridge.dropped_4xx", ["status": "\(status)", "body": "\(preview)", "events": "\(events.count)"])
                    return .dropped
                case .rateLimited(let retryAfter):
                    if let stop = await backOff(&retries, retryAfter: retryAfter, events: events.count) { return stop }
                case .transient:
                    if let stop = await backOff(&retries, retryAfter: nil, events: events.count) { return stop }
                }
            }
        }
    }

    /// Each item's result in a collector's batch answer (`ingest_http`'s `results`, in order).
    enum RelayAnswer: Equatable {
        case stored, duplicate
        case rejected(String)

        /// The items of `body`; an answer without readable results counts every item stored (the
        /// receiver said 2xx for the whole batch).
        static func items(_ body: [UInt8], count: Int) -> [RelayAnswer] {
            guard case .array(let results)? = (try? JSONParser.parse(body))?["results"], results.count == count else {
                return Array(repeating: .stored, count: count)
            }
            return results.map { result in
                switch result["status"]?.stringValue {
                case "duplicate": .duplicate
                case "rejected": .rejected(result["message"]?.stringValue ?? "rejected")
                default: .stored
                }
            }
        }
    }
#endif
