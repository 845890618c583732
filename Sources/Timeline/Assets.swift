/// The stylesheet and the script (`Resources/app.css`, `app.js`, `dashboard.js`, compiled into
/// the binary), served from `/static/` (same origin, as the CSP requires: no inline script or
/// style anywhere).
///
/// `app.js` does the live updates: it opens the page's event stream and adds each new event to
/// the table and the SVG; event text is only ever set with `textContent`, never parsed as HTML.
/// `approvals.js` keeps the approvals inbox current (it reads the page again every few seconds).
/// `dashboard.js` keeps the dashboard's tiles live: each new event in the page's filter and
/// window adds to the counts, the denial rate and its agent's row; everything else refreshes with
/// the page. The stream leaves out rows the page's figures already counted.
enum Assets {
    static let css = String(decoding: PackageResources.app_css, as: UTF8.self)
    static let js =
        String(decoding: PackageResources.app_js, as: UTF8.self) + "\n" + String(decoding: PackageResources.dashboard_js, as: UTF8.self)
        + "\n" + String(decoding: PackageResources.approvals_js, as: UTF8.self)
}
