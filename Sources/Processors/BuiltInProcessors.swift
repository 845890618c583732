import Pipeline

/// The processor factories this build provides: `size_cap`, `sanitize` and `redaction` work on
/// one event at a time (redaction on the outgoing copies unless `local: true`); `seq` and
/// `chain` run inside the primary's commit, as does `budget`, which must come before them.
/// A pipeline lists processors in the order they run, normally size_cap, sanitize,
/// (redaction,) (budget,) seq, chain.
public enum BuiltInProcessors {
    public static let all: [ProcessorFactory] = [
        SizeCapProcessor.factory, SanitizeProcessor.factory, RedactionProcessor.factory,
        BudgetProcessor.factory, SeqProcessor.factory, ChainProcessor.factory,
    ]
}
