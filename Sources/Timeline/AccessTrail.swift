import AuditStore
import Foundation
import Logging
import Pipeline

/// The `access.*` audit events: who signed in, failed to, signed out, or changed who may do
/// what. They are the collector's own rows in its system workflow (no client can write there),
/// with the person as the agent, so they are chained, counted and checkpointed like any other.
enum AccessEvent {
    static func make(
        _ kind: String, person: String, session: String?, clientAddress: String?, details: [JSONValue.Member] = []
    ) -> AuditEvent {
        var metadata: [JSONValue.Member] = []
        if let session { metadata.append(.init("session", .string(session))) }
        if let clientAddress { metadata.append(.init("client_address", .string(clientAddress))) }
        metadata += details
        return AuditEvent(
            eventID: UUID(), sessionID: session.map { UUID.named("access.session", $0) } ?? UUID(), agentID: person, kind: "access.\(kind)",
            metadata: .object(metadata), createdAt: .now(), workflow: SystemIdentity.workflow)
    }
}

extension TimelineServer {
    /// Records that `visit`'s person did `kind` (a read or a change), with what they asked for.
    /// An open UI (no credentials configured) knows no one, so it records nothing.
    func recordAccess(_ kind: String, by visit: Visit, details: [JSONValue.Member] = []) async {
        guard let person = visit.person, person.method != "open" else { return }
        let session = visit.bearer ? nil : SessionID.fingerprint(visit.sessionID)
        var details = details
        if let key = visit.key {
            details += [.init("method", .string("api_key")), .init("key", .string(key.fingerprint))]
        } else if visit.bearer {
            details.append(.init("method", .string("token")))
        }
        await recordAccess(AccessEvent.make(kind, person: person.name, session: session, clientAddress: visit.clientAddress, details: details))
    }

    /// An `access.*` event through the UI's pipeline. A refusal is logged, not shown: the person
    /// has done nothing wrong, and the operator sees `ui.access_event_refused`.
    func recordAccess(_ event: AuditEvent) async {
        guard let pipeline else { return }
        do {
            let outcome = try await pipeline.submit([event], from: .collector).first
            if outcome?.isAccepted != true {
                logger.error("ui.access_event_refused", metadata: ["kind": "\(event.kind)", "outcome": "\(String(describing: outcome))"])
            }
        } catch {
            logger.error("ui.access_event_refused", metadata: ["kind": "\(event.kind)", "error": "\(error)"])
        }
    }
}
