/// What only the collector itself writes: its agent and workflow (`governance.system`: checkpoint
/// events, retention seals, chain key rotation markers) and the `audit.*` kinds. A client that
/// claims them is refused, so no tenant's row can pass for the collector's own evidence.
public enum SystemIdentity {
    public static let agent = "governance.system"
    public static let workflow = "governance.system"
    public static let kindPrefix = "audit."

    /// The refusal of a client's event that claims the collector's agent or an `audit.*` kind; nil otherwise.
    public static func claim(by event: AuditEvent) -> EventRejection? {
        if event.agentID == agent {
            return EventRejection(field: "agent_id", message: "`\(agent)` is the collector's own agent; clients cannot write as it", status: 403)
        }
        if event.kind.hasPrefix(kindPrefix) {
            return EventRejection(
                field: "payload.kind",
                message:
                    "`\(kindPrefix)*` kinds are the collector's own evidence (checkpoints, retention seals, key rotation); clients cannot write them",
                status: 403)
        }
        return nil
    }

    /// Workflow names a token may carry: valid, and not the collector's own.
    public static func isClientWorkflow(_ name: String) -> Bool {
        IngestToken.isValidWorkflowName(name) && name != workflow
    }
}
