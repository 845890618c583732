import Pipeline

/// The processor factories this build provides.
public enum BuiltInProcessors {
    public static let all: [ProcessorFactory] = [SeqProcessor.factory, ChainProcessor.factory]
}
