import Config
import Foundation
import Logging
import Pipeline
@testable import Processors

/// An event as a receiver would hand it to the processors.
func makeEvent(
    agentID: String = "agent-1", kind: String = "tool.call", model: String? = nil,
    inputHash: String? = nil, outputHash: String? = nil, metadata: JSONValue = .object([]),
    hmac: String? = nil
) -> AuditEvent {
    AuditEvent(
        eventID: UUID(), sessionID: UUID(), agentID: agentID, kind: kind, model: model,
        inputHash: inputHash, outputHash: outputHash, metadata: metadata,
        hmac: hmac, createdAt: Timestamp(microseconds: 1_767_323_045_000_000), workflow: "wf")
}

/// A configuration section as the collector would pass it to a factory.
func section(_ yaml: String, path: String) throws -> ConfigSection {
    try ConfigSection(
        path: path, file: "t.yaml", value: ConfigValue.parse(yaml: yaml, file: "t.yaml"),
        environment: [:], log: ProvenanceLog())
}

/// Builds a processor through its factory, as the collector does.
func build(_ factory: ProcessorFactory, _ yaml: String = "") throws -> any EventProcessor {
    let builder = try factory.configure(section(yaml, path: "processors.\(factory.type)"))
    return try builder(BuildContext(id: factory.type, logger: .init(label: "test")))
}

/// The HMAC a client-chained event carries (its value is irrelevant to the processors).
let clientHMAC = String(repeating: "ab", count: 32)
