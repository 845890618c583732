import Mustache

/// The pages, as Mustache templates (`Resources/*.mustache`, compiled into the binary: nothing
/// to install beside it). `{{name}}` is HTML-escaped by Mustache; the only unescaped value is
/// `{{{body}}}`, which is a page these templates rendered. Every value from an event also passes
/// `VisibleText.escape`.
enum Templates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, bytes) in [
            ("layout", PackageResources.layout_mustache), ("login", PackageResources.login_mustache),
            ("timeline", PackageResources.timeline_mustache), ("detail", PackageResources.detail_mustache),
            ("workflows", PackageResources.workflows_mustache), ("session", PackageResources.session_mustache),
            ("dashboard", PackageResources.dashboard_mustache), ("message", PackageResources.message_mustache),
            ("approvals", PackageResources.approvals_mustache), ("people", PackageResources.people_mustache),
            ("keys", PackageResources.keys_mustache), ("link", PackageResources.link_mustache),
            ("signed-in", PackageResources.signed_in_mustache),
        ] {
            // The templates are part of the build; one that does not parse fails every UI test.
            try! library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        return library
    }()
}
