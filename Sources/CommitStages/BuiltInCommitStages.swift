public import Pipeline

/// The commit stages this build provides. `budget` declares that it runs before `seq` and
/// `chain` and needs `chain`; the plan checks every pipeline against those declarations.
public enum BuiltInCommitStages {
    public static let all: [CommitStageFactory] = [BudgetStage.factory, SeqStage.factory, ChainStage.factory]
}
