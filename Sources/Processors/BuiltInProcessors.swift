public import Pipeline

/// The processor factories this build provides: `agent_signatures`, `size_cap`, `sanitize` and
/// `redaction` work on one event at a time (redaction on the outgoing copies unless `local: true`). The stages that
/// run inside the commit (`budget`, `seq`, `chain`) are in `CommitStages`. A pipeline lists
/// processors and stages in the order they run, normally (agent_signatures,) size_cap, sanitize,
/// (redaction,) (budget,) seq, chain.
public enum BuiltInProcessors {
    public static let all: [ProcessorFactory] = [
        AgentSignatureProcessor.factory, SizeCapProcessor.factory, SanitizeProcessor.factory, RedactionProcessor.factory,
    ]
}
