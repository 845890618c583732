public import Foundation

/// One approval gate as the reference SDK forwards it (`POST /api/v1/bridge/gates/{id}`): what a
/// person needs to decide, and no more. The SDK never sends the single-use token or the payload
/// (it may hold PII); the action is known by its SHA-256.
public struct GateRequest: Sendable, Equatable {
    public var requestID: UUID
    public var agentID: String
    public var kind: String
    /// 64 lowercase hex digits.
    public var actionHash: String
    /// After this the gate can no longer be granted or denied by a person (the server's clock decides).
    public var expiresAt: Timestamp
    public var sdkVersion: String

    public init(requestID: UUID, agentID: String, kind: String, actionHash: String, expiresAt: Timestamp, sdkVersion: String) {
        (self.requestID, self.agentID, self.kind, self.actionHash) = (requestID, agentID, kind, actionHash)
        (self.expiresAt, self.sdkVersion) = (expiresAt, sdkVersion)
    }
}

/// A gate's verdict.
public enum GateDecision: String, Sendable {
    case granted, denied
}

/// What the SDK's poll is told: no reason ever (it must not reach the agent's LLM context).
public struct GateResolution: Sendable, Equatable {
    /// nil while pending.
    public var decision: GateDecision?
    public var decidedAt: Timestamp?

    public init(decision: GateDecision?, decidedAt: Timestamp?) {
        (self.decision, self.decidedAt) = (decision, decidedAt)
    }
}

/// What a decision did: the first one wins, and every later one changes nothing.
public enum GateDecisionOutcome: Sendable, Equatable {
    /// This decision is the gate's verdict.
    case decided
    /// The gate already had a verdict (this one or another): nothing changed.
    case alreadyDecided(GateDecision)
    /// Past its `expires_at` while pending: a person can no longer decide it.
    case expired
    /// No such gate in this workflow.
    case unknown
}

/// The approval gates of a pipeline's database, as the ingest receiver serves them to the SDK's
/// gate bridge. Gates are per workflow: one workflow never sees or decides another's.
public protocol ApprovalGates: Sendable {
    /// Records a forwarded gate; false when this workflow already had it (the SDK's retry).
    func open(_ gate: GateRequest, workflow: String) async throws(PipelineUnavailable) -> Bool
    /// The gate's verdict, or nil when this workflow has no such gate.
    func resolution(of requestID: UUID, workflow: String) async throws(PipelineUnavailable) -> GateResolution?
    /// The SDK resolved the gate locally (its CLI token) and says so: the inbox card closes.
    func resolvedBySDK(_ requestID: UUID, workflow: String, decision: GateDecision, decidedAt: Timestamp) async throws(PipelineUnavailable)
        -> GateDecisionOutcome
}
