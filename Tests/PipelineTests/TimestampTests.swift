import Testing
@testable import Pipeline

/// 2026-01-02T03:04:05Z in microseconds since the epoch (python3: datetime(2026,1,2,3,4,5,tzinfo=utc)).
private let base: Int64 = 1_767_323_045_000_000

@Suite("Timestamp")
struct TimestampTests {
    @Test(
        "accepted forms of the same instant",
        arguments: [
            "2026-01-02T03:04:05.000120+00:00",
            "2026-01-02T03:04:05.000120Z",
            "2026-01-02T03:04:05.000120z",
            "2026-01-02 03:04:05.000120+00:00",
            "2026-01-02t03:04:05.000120-00:00",
            "2026-01-02T03:04:05.000120000+00:00",
        ])
    func parsesUTCForms(_ text: String) throws {
        let ts = try #require(Timestamp(iso8601: text))
        #expect(ts.microseconds == base + 120)
        #expect(ts.pythonISOFormat == "2026-01-02T03:04:05.000120+00:00")
    }

    @Test func positiveOffsetIsConvertedToUTC() throws {
        // python3: datetime.fromisoformat("2026-01-02T03:04:05.000120+05:30").astimezone(utc).isoformat()
        let ts = try #require(Timestamp(iso8601: "2026-01-02T03:04:05.000120+05:30"))
        #expect(ts.microseconds == 1_767_303_245_000_120)
        #expect(ts.pythonISOFormat == "2026-01-01T21:34:05.000120+00:00")
    }

    @Test func negativeOffsetIsConvertedToUTC() throws {
        let ts = try #require(Timestamp(iso8601: "2026-01-02T03:04:05-08:00"))
        #expect(ts.microseconds == 1_767_351_845_000_000)
        #expect(ts.pythonISOFormat == "2026-01-02T11:04:05+00:00")
    }

    @Test func offsetsCanCrossDayAndYearBoundaries() throws {
        #expect(Timestamp(iso8601: "2026-01-01T00:30:00+05:30")?.pythonISOFormat == "2025-12-31T19:00:00+00:00")
        #expect(Timestamp(iso8601: "2025-12-31T20:00:00-08:00")?.pythonISOFormat == "2026-01-01T04:00:00+00:00")
        // The same instant written in three zones compares equal.
        let a = Timestamp(iso8601: "2026-01-02T03:04:05Z")
        let b = Timestamp(iso8601: "2026-01-02T08:34:05+05:30")
        let c = Timestamp(iso8601: "2026-01-01T19:04:05-08:00")
        #expect(a != nil && a == b && b == c)
    }

    @Test("an offset that pushes the instant outside years 1…9999 is refused, the edges accepted")
    func outsidePythonsRange() {
        #expect(Timestamp(iso8601: "0001-01-01T00:00:00+00:01") == nil)
        #expect(Timestamp(iso8601: "9999-12-31T23:59:59-00:01") == nil)
        #expect(Timestamp(iso8601: "0001-01-01T00:00:00Z")?.pythonISOFormat == "0001-01-01T00:00:00+00:00")
        #expect(Timestamp(iso8601: "9999-12-31T23:59:59.999999Z")?.pythonISOFormat == "9999-12-31T23:59:59.999999+00:00")
    }

    @Test(
        "fractions of 1 to 6 digits",
        arguments: [
            (".1", Int64(100_000)), (".12", 120_000), (".123", 123_000), (".1234", 123_400), (".12345", 123_450),
            (".123456", 123_456), (".000001", 1), (".9", 900_000),
        ])
    func fractionDigits(_ fraction: String, _ micros: Int64) throws {
        let ts = try #require(Timestamp(iso8601: "2026-01-02T03:04:05\(fraction)Z"))
        #expect(ts.microseconds == base + micros)
    }

    @Test(
        "more than 6 fraction digits only when the extra ones are zeros",
        arguments: [
            ("2026-01-02T03:04:05.123456000Z", true), ("2026-01-02T03:04:05.1234560Z", true),
            ("2026-01-02T03:04:05.000000000+00:00", true),
            ("2026-01-02T03:04:05.123456789Z", false), ("2026-01-02T03:04:05.123456001Z", false),
            ("2026-01-02T03:04:05.0000001Z", false),
        ])
    func subMicrosecondDigits(_ text: String, _ accepted: Bool) {
        let ts = Timestamp(iso8601: text)
        #expect((ts != nil) == accepted)
        if accepted { #expect(ts!.microseconds % 1_000_000 == (text.contains(".123456") ? 123_456 : 0)) }
    }

    @Test(
        "refused",
        arguments: [
            "2026-01-02T03:04:05",  // no offset
            "2026-01-02T03:04:05.000120",  // no offset
            "2026-02-30T00:00:00Z",  // Feb 30
            "2026-02-29T00:00:00Z",  // 2026 is not a leap year
            "1900-02-29T00:00:00Z",  // century rule
            "2026-04-31T00:00:00Z",  // April has 30 days
            "2026-01-02T24:00:00Z",  // hour 24
            "2026-01-02T23:60:00Z",  // minute 60
            "2026-01-02T23:59:60Z",  // leap second
            "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "0000-01-01T00:00:00Z",
            "garbage", "", "2026-01-02", "2026-01-02T03:04Z", "2026-1-02T03:04:05Z", "2026-01-02X03:04:05Z",
            "2026-01-02T03:04:05.Z",  // empty fraction
            "2026-01-02T03:04:05+0530",  // offset without colon
            "2026-01-02T03:04:05+5:30",
            "2026-01-02T03:04:05+24:00", "2026-01-02T03:04:05+05:60",
            "2026-01-02T03:04:05Z ", " 2026-01-02T03:04:05Z", "2026-01-02T03:04:05ZZ",
            "2026-01-02T03:04:05 +00:00", "+2026-01-02T03:04:05Z", "２０２６-01-02T03:04:05Z",
        ])
    func refused(_ text: String) {
        #expect(Timestamp(iso8601: text) == nil, "accepted \(text)")
    }

    @Test func leapDaysAreAccepted() {
        #expect(Timestamp(iso8601: "2024-02-29T00:00:00Z")?.microseconds == 1_709_164_800_000_000)
        #expect(Timestamp(iso8601: "2000-02-29T00:00:00.000001Z")?.microseconds == 951_782_400_000_001)
    }

    /// Expected text computed with python3:
    /// `(datetime(1970,1,1,tzinfo=timezone.utc) + timedelta(microseconds=us)).isoformat()`.
    @Test(
        "pythonISOFormat matches datetime.isoformat()",
        arguments: [
            (Int64(1_767_323_045_000_120), "2026-01-02T03:04:05.000120+00:00"),
            (1_767_323_045_000_000, "2026-01-02T03:04:05+00:00"),
            (0, "1970-01-01T00:00:00+00:00"),
            (-1, "1969-12-31T23:59:59.999999+00:00"),
            (-999_999, "1969-12-31T23:59:59.000001+00:00"),
            (-1_000_000, "1969-12-31T23:59:59+00:00"),
            (-86_400_000_000, "1969-12-31T00:00:00+00:00"),
            (-86_400_000_001, "1969-12-30T23:59:59.999999+00:00"),
            (-301_246_199_999_500, "1960-06-15T08:30:00.000500+00:00"),
            (-2_203_934_400_000_000, "1900-02-28T12:00:00+00:00"),
            (-62_135_596_800_000_000, "0001-01-01T00:00:00+00:00"),
            (1_709_164_800_000_000, "2024-02-29T00:00:00+00:00"),
            (253_402_300_799_999_999, "9999-12-31T23:59:59.999999+00:00"),
        ])
    func pythonISOFormat(_ microseconds: Int64, _ expected: String) throws {
        let ts = Timestamp(microseconds: microseconds)
        #expect(ts.pythonISOFormat == expected)
        #expect(ts.description == expected)
        // And the text parses back to the same instant.
        #expect(Timestamp(iso8601: expected) == ts)
    }

    @Test func ordering() throws {
        let earlier = try #require(Timestamp(iso8601: "1969-12-31T23:59:59.999999Z"))
        let later = try #require(Timestamp(iso8601: "1970-01-01T00:00:00Z"))
        #expect(earlier < later)
        #expect(later.microseconds - earlier.microseconds == 1)
    }

    @Test func nowIsRecentAndFormattable() throws {
        let now = Timestamp.now()
        // After 2025-01-01 and before 2100-01-01.
        #expect(now.microseconds > 1_735_689_600_000_000)
        #expect(now.microseconds < 4_102_444_800_000_000)
        #expect(Timestamp(iso8601: now.pythonISOFormat) == now)
    }
}
