import Foundation
import AuditStore
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import Pipeline

/// Renders a page: its template inside the layout, with the session's CSRF token for its forms.
struct PageRenderer: Sendable {
    let requiresLogin: Bool

    func page<Model: PageModel>(
        title: String, _ model: Model, _ visit: Visit, status: HTTPResponse.Status = .ok, nav: Bool = true, refresh: String? = nil
    ) -> Response {
        let csrf = SessionID.csrfToken(for: visit.sessionID)
        let body = Templates.library.render(PageScope(csrf: csrf, page: model), withTemplate: Model.template) ?? ""
        let person = visit.person
        let layout = LayoutModel(
            title: title, body: body, csrf: csrf, refresh: refresh,
            nav: nav
                ? .init(
                    signedIn: requiresLogin && !visit.bearer, person: person.map { "\($0.name) (\($0.role.rawValue))" },
                    people: person?.role == .admin) : nil)
        let html = Templates.library.render(layout, withTemplate: "layout") ?? ""
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func message(_ title: String, _ text: String, _ visit: Visit, status: HTTPResponse.Status) -> Response {
        page(title: title, MessagePage(title: title, text: text), visit, status: status)
    }
}

/// Answers that are not pages.
enum UIResponses {
    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    static func plain(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = JSONValue.object([.init("ok", .bool(false)), .init("error", .string(message))]).serialized() + "\n"
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

}

/// A form a visitor posts: each carries the CSRF token bound to their session.
protocol UIForm: Decodable {
    var csrf: String? { get }
}

struct PlainForm: UIForm { var csrf: String? }
struct LoginForm: UIForm { var csrf: String?; var name: String?; var password: String? }
struct VerifyForm: UIForm { var csrf: String?; var event: String? }
struct TokenForm: UIForm { var csrf: String?; var workflow: String? }
struct AgentKeyForm: UIForm { var csrf: String?; var agent: String?; var pem: String? }
struct RevokeKeyForm: UIForm { var csrf: String?; var reason: String? }

extension Request {
    /// The query's parameters (`application/x-www-form-urlencoded`); a name given twice, or
    /// text that does not decode, is refused with what was wrong.
    func queryFields() throws -> [String: String] {
        do {
            return try URLEncodedFormDecoder().decode([String: String].self, from: uri.query ?? "")
        } catch {
            throw PageError(status: .badRequest, message: "The address's query cannot be read: \(error).")
        }
    }

    /// The posted form (at most 64 KiB); its CSRF token is the caller's to check.
    func decodedForm<Form: UIForm>(_ type: Form.Type) async throws -> Form {
        var request = self
        guard let body = try? await request.collectBody(upTo: 64 * 1024) else {
            throw PageError(status: .contentTooLarge, message: "The form is larger than 64 KiB.")
        }
        do {
            return try URLEncodedFormDecoder().decode(type, from: String(buffer: body))
        } catch {
            throw PageError(status: .badRequest, message: "The form cannot be read: \(error).")
        }
    }
}

/// A query string for a link (`name=value&…`, each percent-encoded).
func queryString(_ items: [(String, String)]) -> String {
    items.map { "\($0.0)=\(queryValue($0.1))" }.joined(separator: "&")
}

/// One value of a query string, percent-encoded (only unreserved characters stay as they are).
func queryValue(_ value: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
}
