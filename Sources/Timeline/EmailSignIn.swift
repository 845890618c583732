import AuditStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOPosix
import Pipeline

#if PlatformBridge
    import CurlHTTP
#endif

/// Sign-in links by e-mail (`ui.email_sign_in`), as the hosted platform sends them. A person
/// whose name is their address asks on the sign-in page; the link works once, for `link_ttl`,
/// and only in the browser that asked (its session id's SHA-256 is stored with the link's).
///
/// The session cookie is `SameSite=Strict`, so a browser opening the link from a mail client
/// does not send it: the link's page therefore sets no cookie and asks for one click, a
/// same-site post that carries the cookie of the browser that asked.
extension TimelineServer {
    /// Requests per address within the sign-in window before links stop being sent.
    static let linksPerAddress = 3

    func addEmailSignInRoutes(to router: RouterGroup<UIRequestContext>) {
        guard config.emailSignIn != nil else { return }
        router.post("/login/email") { request, context in try await self.sendLink(request, context) }
        router.get("/login/link") { request, context in
            let token = try request.queryFields()["token"] ?? ""
            return self.pages.page(title: "Sign in", LinkPage(token: token), context.visit, nav: false)
        }
        // No CSRF token: the page above was served without the visitor's cookie. The link's
        // secret and its binding to the browser that asked are what this post proves.
        router.post("/login/link") { request, context in
            let form = try await request.decodedForm(LinkForm.self)
            return try await self.useLink(form.token ?? "", context.visit)
        }
    }

    private func sendLink(_ request: Request, _ context: UIRequestContext) async throws -> Response {
        let visit = context.visit
        let form: EmailLinkForm
        do {
            form = try await self.form(EmailLinkForm.self, request, context)
        } catch let error as PageError {
            return loginPage(visit, error: error.message, status: error.status)
        }
        let address = (form.email ?? "").trimmingCharacters(in: .whitespaces)
        let answer = loginPage(
            visit, error: nil, notice: "If \(address) belongs to someone here, a sign-in link is on its way. It works once, in this browser.",
            status: .ok)
        guard address.contains("@"), Person.isValidName(address), let mail = config.emailSignIn else { return answer }
        let requests = try await people.countFailure(keys: ["email:" + address.lowercased()], windowSeconds: throttle.windowSeconds)
        let user = try await people.user(address)
        var sent = false
        if requests > Self.linksPerAddress {
            logger.warning("ui.signin_link_limited", metadata: ["client_address": "\(visit.clientAddress ?? "?")"])
        } else if let user, !user.fromIdentityProvider {
            let link = SessionID.random()
            try await people.addLink(
                linkSHA256: SessionID.sha256(link), person: user.name, browserSHA256: SessionID.sha256(visit.sessionID), seconds: Int(mail.linkTTL))
            sent = await deliver(link: link, to: user.name, mail)
        }
        await recordAccess(
            AccessEvent.make(
                "signin_link_requested", person: "anonymous", session: nil, clientAddress: visit.clientAddress,
                details: [.init("account", .string(address)), .init("sent", .bool(sent))]))
        return answer
    }

    /// Sends the link; false (and logged) when the mail server refused it or is off.
    private func deliver(link: String, to address: String, _ mail: EmailSignIn) async -> Bool {
        let url = "\(mail.publicURL)/login/link?token=\(link)"
        let message = EmailLinkMessage.make(from: mail.from, to: address, url: url, minutes: Int(mail.linkTTL) / 60)
        #if PlatformBridge
            do {
                try await NIOThreadPool.singleton.runIfActive {
                    try CurlMail.send(url: mail.smtpURL, from: mail.from, to: address, message: message, caFile: mail.caFile)
                }
                logger.info("ui.signin_link_sent")
                return true
            } catch {
                logger.error("ui.signin_link_failed", metadata: ["error": "\(error)"])
                return false
            }
        #else
            logger.error("ui.signin_link_failed", metadata: ["error": "this build has no libcurl (the PlatformBridge trait)"])
            return false
        #endif
    }

    private func useLink(_ link: String, _ visit: Visit) async throws -> Response {
        let name =
            SessionID.isWellFormed(link) && !visit.sessionID.isEmpty
            ? try await people.useLink(linkSHA256: SessionID.sha256(link), browserSHA256: SessionID.sha256(visit.sessionID)) : nil
        guard let name, let user = try await people.user(name), !user.fromIdentityProvider, let person = Person(user, method: "email") else {
            await recordAccess(
                AccessEvent.make(
                    "signin_failed", person: "anonymous", session: nil, clientAddress: visit.clientAddress,
                    details: [.init("method", .string("email"))]))
            return loginPage(
                visit,
                error: "This link has expired, was used already, or was opened in another browser than the one that asked for it. Ask for a new one.",
                status: .unauthorized)
        }
        let id = try await sessions.start(person, clientAddress: visit.clientAddress)
        visit.replaceSession(id, person: person, cookie: sessions.signedInCookie(id))
        logger.info("ui.login", metadata: ["person": "\(person.name)"])
        await recordAccess("signin", by: visit, details: [.init("method", .string("email")), .init("role", .string(person.role.rawValue))])
        return UIResponses.redirect("/timeline")
    }
}

/// The mail: plain text, one link.
enum EmailLinkMessage {
    static func make(from: String, to: String, url: String, minutes: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return [
            "From: governance-collector <\(from)>", "To: <\(to)>", "Subject: Your sign-in link", "Date: \(formatter.string(from: Date()))",
            "Message-ID: <\(UUID().uuidString.lowercased())@\(from.split(separator: "@").last ?? "localhost")>", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
            "Someone, probably you, asked to sign in to governance-collector as \(to).", "",
            "Open this link in the same browser within \(minutes) minutes. It works once:", "", url, "",
            "If you did not ask, ignore this mail: nobody can use the link from another browser.", "",
        ].joined(separator: "\r\n")
    }
}

struct EmailLinkForm: UIForm {
    var csrf: String?
    var email: String?
}

/// Carries no CSRF token (see `addEmailSignInRoutes`).
struct LinkForm: UIForm {
    var csrf: String?
    var token: String?
}

struct LinkPage: PageModel {
    static let template = "link"
    var token: String
}
