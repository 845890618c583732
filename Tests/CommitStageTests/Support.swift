import Config
import Foundation
import Pipeline
import Testing

/// A configuration section as the collector would pass it to a factory.
func section(_ yaml: String, path: String) throws -> ConfigSection {
    try ConfigSection(
        path: path, file: "t.yaml", value: ConfigValue.parse(yaml: yaml, file: "t.yaml"),
        environment: [:], log: ProvenanceLog())
}

/// An event as the pipeline would hand it to the commit stages.
func makeEvent(
    agentID: String = "agent-1", session: UUID = UUID(), model: String? = nil, metadata: JSONValue = .object([]),
    hmac: String? = nil, workflow: String = "wf"
) -> AuditEvent {
    AuditEvent(
        eventID: UUID(), sessionID: session, agentID: agentID, kind: "tool.call", model: model,
        inputHash: nil, outputHash: nil, metadata: metadata,
        hmac: hmac, createdAt: Timestamp(microseconds: 1_767_323_045_000_000), workflow: workflow)
}
