import AuditStore
import Config
import Crypto
import Foundation
import Hummingbird
import Logging
import Pipeline

/// The approvals inbox (`/approvals`): the gates the SDK forwarded, pending first, and a person's
/// grant or deny. A decision is set in the database once (the first wins, on any collector) and
/// then recorded as the collector's own audit event in the gate's workflow, chained like any row.
extension TimelineServer {
    func addApprovalRoutes(to signedIn: RouterGroup<UIRequestContext>) {
        signedIn.get("/approvals") { request, context in
            try await self.approvalsPage(workflow: try request.queryFields()["workflow"].flatMap { $0.isEmpty ? nil : $0 }, context.visit)
        }
        signedIn.post("/approvals/:workflow/:id") { request, context in
            let form = try await self.form(DecisionForm.self, request, context)
            return try await self.decide(
                workflow: context.parameters.get("workflow") ?? "", id: context.parameters.get("id") ?? "", form: form, context.visit)
        }
    }

    private func approvalsPage(workflow: String?, _ visit: Visit, notice: String? = nil, status: HTTPResponse.Status = .ok) async throws
        -> Response
    {
        let rows = try await gates.list(workflow: workflow).filter { visit.reads($0.workflow) }
        var page = ApprovalsView.page(rows, workflow: workflow)
        page.notice = notice
        return pages.page(title: "Approvals", page, visit, status: status)
    }

    private func decide(workflow: String, id: String, form: DecisionForm, _ visit: Visit) async throws -> Response {
        guard let requestID = UUID(uuidString: id) else { throw PageError(status: .badRequest, message: "That is not a gate's request id.") }
        guard let decision = form.decision.flatMap(GateDecision.init(rawValue:)) else {
            throw PageError(status: .badRequest, message: "decision must be granted or denied.")
        }
        let reason = form.reason.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        guard (reason?.utf8.count ?? 0) <= 1000 else {
            return try await approvalsPage(workflow: nil, visit, notice: "reason: at most 1000 bytes.", status: .badRequest)
        }
        guard let person = visit.person?.name, visit.person?.manages(workflow) == true else {
            throw PageError(status: .forbidden, message: "Only an admin or an owner of \(workflow) decides its gates.")
        }
        switch try await gates.decide(requestID, workflow: workflow, decision: decision, by: person, reason: reason) {
        case .decided:
            logger.notice("ui.gate_decided", metadata: ["workflow": "\(workflow)", "request_id": "\(requestID)", "decision": "\(decision)"])
            if let gate = try await gates.gate(requestID, workflow: workflow) {
                try await record(ApprovalsView.decisionEvent(gate, decision: decision, by: person, reason: reason))
            }
            return UIResponses.redirect("/approvals")
        case .alreadyDecided(let verdict):
            return try await approvalsPage(
                workflow: nil, visit, notice: "That gate was already \(verdict.rawValue); nothing changed.", status: .conflict)
        case .expired:
            return try await approvalsPage(workflow: nil, visit, notice: "That gate has expired: it can no longer be decided.", status: .conflict)
        case .unknown:
            throw PageError(status: .notFound, message: "There is no such gate.")
        }
    }

    /// The decision's audit event, committed through the UI's pipeline (its chain, its checkpoints).
    private func record(_ event: AuditEvent) async throws {
        guard let pipeline else { return }
        let outcome = try await pipeline.submit([event], from: .collector).first
        guard outcome?.isAccepted == true else {
            logger.error("ui.gate_event_refused", metadata: ["outcome": "\(String(describing: outcome))"])
            throw PageError(
                status: .internalServerError, message: "The decision is set, but its audit event was refused: \(String(describing: outcome)).")
        }
    }
}

struct DecisionForm: UIForm {
    var csrf: String?
    var decision: String?
    var reason: String?
}

/// The inbox's model, and what a decision records.
enum ApprovalsView {
    static func page(_ rows: [GateTable.Row], workflow: String?) -> ApprovalsPage {
        func card(_ row: GateTable.Row) -> ApprovalsPage.Gate {
            ApprovalsPage.Gate(
                workflow: row.workflow, requestID: row.requestID.lowercasedString, agent: row.agentID, kind: row.kind,
                actionHash: row.actionHash, age: duration(row.ageSeconds) + " ago",
                expiry: row.expiresInSeconds > 0 ? "in " + duration(row.expiresInSeconds) : duration(-row.expiresInSeconds) + " ago",
                expiresSoon: row.state == "pending" && row.expiresInSeconds < 300, state: row.state,
                decided: row.decidedAt.map { "\(row.state) by \(row.decidedBy ?? "?") at \($0)" }, reason: row.reason,
                events: "/timeline?meta=request_id%3D" + row.requestID.lowercasedString)
        }
        return ApprovalsPage(
            workflow: workflow, pending: rows.filter { $0.state == "pending" }.map(card),
            decided: rows.filter { $0.state == "granted" || $0.state == "denied" }.map(card),
            expired: rows.filter { $0.state == "expired" }.map(card))
    }

    /// `audit.approval.granted` or `.denied` by the collector's own agent, in the gate's workflow.
    /// The reason stays in the gate's row: the event holds its SHA-256, so an auditor can match
    /// it without the text leaving with any copy of the event.
    static func decisionEvent(_ gate: GateTable.Row, decision: GateDecision, by person: String, reason: String?) -> AuditEvent {
        var metadata: [JSONValue.Member] = [
            .init("request_id", .string(gate.requestID.lowercasedString)), .init("approval_kind", .string(gate.kind)),
            .init("gate_agent_id", .string(gate.agentID)), .init("action_hash", .string(gate.actionHash)),
            .init("decided_by", .string(person)), .init("by", .string("platform")),
        ]
        if let reason { metadata.append(.init("reason_sha256", .string(SHA256.hash(data: Data(reason.utf8)).hexString))) }
        let name = "\(gate.workflow)\n\(gate.requestID.lowercasedString)"
        return AuditEvent(
            eventID: UUID.named("audit.approval", name), sessionID: UUID.named("audit.approval.session", name), agentID: SystemIdentity.agent,
            kind: "audit.approval.\(decision.rawValue)", metadata: .object(metadata), createdAt: .now(), workflow: gate.workflow)
    }

    /// `42 s`, `5 min`, `3 h`, `2 d`.
    static func duration(_ seconds: Int64) -> String {
        switch seconds {
        case ..<60: "\(max(seconds, 0)) s"
        case ..<3600: "\(seconds / 60) min"
        case ..<86400: "\(seconds / 3600) h"
        default: "\(seconds / 86400) d"
        }
    }
}
