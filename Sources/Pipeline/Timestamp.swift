import Foundation

/// An instant with microsecond precision (PostgreSQL's `timestamptz` resolution), kept as an
/// integer so it round-trips exactly between the wire, the HMAC input and the database.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    /// Python's `datetime.isoformat()` of the UTC instant: `2026-01-02T03:04:05.000120+00:00`,
    /// the fraction omitted when microseconds are zero. This is the text the SDK hashes.
    public var description: String { pythonISOFormat }

    public var pythonISOFormat: String {
        let seconds = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
        let micros = Int(microseconds - seconds * 1_000_000)
        let (y, m, d) = Self.civil(fromDays: Int(seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400))
        let secondOfDay = Int(seconds - Int64(Self.days(y, m, d)) * 86400)
        // Digits by hand: Foundation's String(format:) is slow on Linux and this runs per HMAC.
        var out: [UInt8] = []
        out.reserveCapacity(32)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(0x30 + value / divisor % 10))
                divisor /= 10
            }
        }
        digits(y, 4); out.append(0x2D); digits(m, 2); out.append(0x2D); digits(d, 2); out.append(0x54)
        digits(secondOfDay / 3600, 2); out.append(0x3A); digits(secondOfDay / 60 % 60, 2); out.append(0x3A); digits(secondOfDay % 60, 2)
        if micros != 0 { out.append(0x2E); digits(micros, 6) }
        out.append(contentsOf: "+00:00".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses RFC 3339 date-times: `T` or space separator, a fraction of up to 6 digits (more only
    /// if they are zeros, so no precision is silently lost), `Z` or `±HH:MM` offset. A missing
    /// offset is refused: an audit time must be unambiguous.
    public init?(iso8601 text: String) {
        let b = Array(text.utf8)
        var i = 0
        func number(_ count: Int) -> Int? {
            guard i + count <= b.count else { return nil }
            var v = 0
            for k in 0..<count {
                let c = b[i + k]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += count
            return v
        }
        func expect(_ c: Character) -> Bool {
            guard i < b.count, b[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ")
        else { return nil }
        i += 1
        guard let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2) else { return nil }
        var micros = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits < 6 {
                    micros = micros * 10 + Int(b[i] - 48)
                } else if b[i] != 48 {
                    return nil  // sub-microsecond precision would be silently lost in storage
                }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 6) { micros *= 10 }
        }
        var offsetSeconds = 0
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let oh = number(2), expect(":"), let om = number(2), oh < 24, om < 60 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count, (1...9999).contains(year), (1...12).contains(month),
            day >= 1, day <= Self.daysInMonth(year, month), hour < 24, minute < 60, second < 60
        else { return nil }
        let days = Int64(Self.days(year, month, day))
        let seconds = days * 86400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        let microseconds = seconds * 1_000_000 + Int64(micros)
        // An offset can push the instant out of years 1…9999 (`0001-01-01T00:00:00+01:00`); Python's
        // datetime, whose text the HMAC covers, cannot represent it, so it is refused here too.
        guard Self.pythonRange.contains(microseconds) else { return nil }
        self.microseconds = microseconds
    }

    /// Python's `datetime.min` … `datetime.max` in UTC.
    static let pythonRange = Int64(days(1, 1, 1)) * 86_400_000_000...(Int64(days(9999, 12, 31)) * 86400 + 86399) * 1_000_000 + 999_999

    static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        switch m {
        case 2: (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
