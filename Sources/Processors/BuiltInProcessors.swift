import Pipeline

/// The processor factories this build provides. The processor chain (sanitize, redaction,
/// size_cap, seq, chain) is not built yet; a pipeline naming a processor fails validation.
public enum BuiltInProcessors {
    public static let all: [ProcessorFactory] = []
}
