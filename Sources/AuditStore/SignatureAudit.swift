public import Pipeline

/// What `governance-collector verify` says about agent signatures: how many rows carry each
/// stored `signature_status`, and whether every row stored as `signed` still verifies with its
/// key (found by its fingerprint among `keys`), recomputed from the row as the table holds it.
/// A row whose key is not known here is counted, not judged. Revocations do not matter here:
/// a signature made before its key was revoked is still that key's signature.
public struct SignatureAudit {
    public struct Failure: Sendable, CustomStringConvertible {
        public var chainSeq: Int64
        public var eventID: String
        public var fingerprint: String
        public var description: String {
            "signature: chain_seq=\(chainSeq) event_id=\(eventID): stored as signed, but does not verify with agent key \(fingerprint) (the row or its signature was changed)"
        }
    }

    public struct Report: Sendable {
        /// Rows per stored `signature_status`, by status.
        public var counts: [(status: String, rows: Int)] = []
        public var reverified = 0
        /// `signed` rows whose key is neither in the table nor configured.
        public var keyNotKnown = 0
        public var failures: [Failure] = []
        public var isClean: Bool { failures.isEmpty }
    }

    let connection: PGConnection
    let keys: [String: AgentPublicKey]

    /// `keys`: the fingerprints to check `signed` rows against (the table's and the configured).
    public init(connection: PGConnection, keys: [String: AgentPublicKey]) {
        self.connection = connection
        self.keys = keys
    }

    public func run(_ filter: ChainVerifier.Filter = .init(), batchSize: Int = 5000) throws(PGError) -> Report {
        var report = Report()
        let columns = try AuditSchema.columns(connection)
        let (conditions, params) = filter.conditions()
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        try connection.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? connection.exec("COMMIT") }
        report.counts = try connection.exec(
            "SELECT signature_status, count(*) FROM governance_audit_events \(whereClause) GROUP BY 1 ORDER BY 1", params
        )
        .rows.map { ($0[0] ?? "(null)", Int($0[1] ?? "0") ?? 0) }
        let signedClause = (conditions + ["signature_status = 'signed'"]).joined(separator: " AND ")
        try connection.exec(
            """
            DECLARE gc_signatures NO SCROLL CURSOR FOR
            SELECT \(AuditRow.selectColumns(in: columns)), chain_seq FROM governance_audit_events WHERE \(signedClause) ORDER BY chain_seq
            """, params)
        while true {
            let rows = try connection.exec("FETCH \(batchSize) FROM gc_signatures").rows
            if rows.isEmpty { break }
            for row in rows {
                let chainSeq = Int64(row[AuditRow.selectedCount] ?? "") ?? 0
                let eventID = row[0] ?? "?"
                guard let event = try? AuditRow.decode(row[0..<AuditRow.selectedCount]) else {
                    report.failures.append(Failure(chainSeq: chainSeq, eventID: eventID, fingerprint: "?"))
                    continue
                }
                switch recheck(event, chainSeq: chainSeq) {
                case .keyNotKnown: report.keyNotKnown += 1
                case .verified: report.reverified += 1
                case .failed(let failure):
                    report.reverified += 1
                    report.failures.append(failure)
                }
            }
        }
        return report
    }

    public enum Recheck: Sendable {
        case verified, keyNotKnown
        case failed(Failure)
    }

    /// One row stored as `signed`, checked with its key (metadata read back as the chain
    /// verifier reads it: numbers as Python prints them).
    public func recheck(_ stored: AuditEvent, chainSeq: Int64) -> Recheck {
        var event = stored
        event.metadata = event.metadata.pythonNormalized()
        let fingerprint = event.signingKeyFingerprint ?? ""
        if event.signature != nil, keys[fingerprint] == nil { return .keyNotKnown }
        let verdict = SignatureVerdict.check(event) { keys[$0].map(AgentKeyring.Entry.key) ?? .unknown }
        guard verdict.status == .signed else {
            return .failed(
                Failure(chainSeq: chainSeq, eventID: event.eventID.lowercasedString, fingerprint: fingerprint.isEmpty ? "(none)" : fingerprint))
        }
        return .verified
    }
}
