@testable import AuditStore
import Testing

@Suite("CSV export cells")
struct EventExportTests {
    @Test(
        "a cell a spreadsheet could run as a formula stays text, full-width and after white space too",
        arguments: [
            "=1+1", "+1", "-1", "@SUM(A1)", "\u{FF1D}HYPERLINK(\"x\")", "\u{FF0B}1", " =1", "\n=1", "\t=1", "\r=1", "\u{0}x",
        ])
    func formulasKeptAsText(_ value: String) {
        let cell = EventExport.csvField(value)
        #expect(cell.hasPrefix("'") || cell.hasPrefix("\"'"), "\(cell.debugDescription)")
    }

    @Test("ordinary values are left alone", arguments: ["agent-1", "tool.call", "0.25", "é"])
    func ordinaryValues(_ value: String) {
        #expect(EventExport.csvField(value) == value)
    }
}
