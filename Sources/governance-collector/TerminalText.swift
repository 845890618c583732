/// Stored values made safe to print on a terminal. A row's text is anyone's: an escape sequence
/// could recolour the screen or rewrite a line, a newline could plant a fake summary line, a
/// bidi control could reorder what follows. Each such character is shown as `\u{…}`; in JSON
/// output, as a `\uXXXX` escape, so the line stays valid JSON with the same value.
enum TerminalText {
    /// C0 and C1 controls, DEL, the bidi controls, and the line and paragraph separators.
    static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    static func safe(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isUnsafe(scalar) { out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }

    /// A line of compact JSON (whose writer already escapes C0 controls): the rest of the unsafe
    /// characters, which can only stand inside its strings, escaped as JSON escapes.
    static func safeJSON(_ line: String) -> String {
        guard line.unicodeScalars.contains(where: isUnsafe) else { return line }
        var out = String.UnicodeScalarView()
        for scalar in line.unicodeScalars {
            if isUnsafe(scalar) {
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}

/// Prints text that may hold stored values (`TerminalText.safe`).
func printSafe(_ text: String) { print(TerminalText.safe(text)) }
