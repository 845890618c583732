import Foundation

/// Replaces secret-shaped substrings with `[REDACTED:<kind>]`.
///
/// Built-in patterns are hand-written scanners run in one left-to-right pass over the UTF-8
/// bytes: each position is dispatched on its byte, and a matcher runs only where its trigger
/// can start (`sk`, `gh`, `xox`, `AKIA`, `ASIA`, `AIza`, `eyJ`, `Bearer`, `aws_secret_access_key`,
/// `-----BEGIN`, `://`, `=`, `:`) or where a run of base64 characters ends. A string with nothing
/// to redact is not copied. `extraPatterns` (NSRegularExpression) run afterwards, only when
/// configured.
///
/// Built-in kinds:
/// - `dsn`: `postgres`, `postgresql`, `mysql`, `mongodb`, `mongodb+srv`, `redis`, `rediss` URLs,
///   also with a driver suffix (`postgresql+asyncpg://`). Like the SDK, the whole URL up to the
///   next whitespace is replaced, credentials or not.
/// - `anthropic_key` `sk-ant-…`, `openai_key` `sk-…` (20+ of `[A-Za-z0-9_-]`, as the SDK),
///   `stripe_key` `sk_live_…`, `slack_token` `xoxb-…`/`xoxp-…`, `github_token`
///   `ghp_`/`ghs_`/`gho_` (30+ alphanumerics) and `github_pat_`, `google_api_key` `AIza…`,
///   `aws_access_key_id` `AKIA…`/`ASIA…` (16 of `[A-Z0-9]`). Unlike the SDK these must not
///   follow a letter or digit, so words like `task-management-dashboard-v2` keep their `sk-`.
/// - `aws_secret_access_key`: the SDK's rule, `aws_secret_access_key` (any case), one or more of
///   `"`, `'`, whitespace, `:`, `=`, then 40+ of `[A-Za-z0-9/+=]`; only the value is replaced.
/// - `bearer_token`: `Bearer <token>` (any case); the token is replaced when it has 8+ characters
///   including a digit, or 32+ characters, so prose ("bearer bonds") is left alone.
/// - `jwt`: `eyJ…` `.` `…` `.` `…` (base64url segments, first 10+ characters).
/// - `private_key`: PEM blocks whose label contains `PRIVATE KEY`, to `-----END …-----` (or to the
///   end of the text when the block is cut off).
/// - `url_password`: `scheme://user:password@host` keeps user and host.
/// - `credential`: the value of `password=…`, `passwd: …`, `secret=…`, `api_key=…` style pairs
///   (key name ending in one of `sensitiveKeySuffixes`); after `: ` an unquoted value must
///   contain a non-letter, so "Forgot password: click here" stays. In JSON, a string member
///   whose key is such a name is replaced whole.
/// - `base64`: a run of 40+ `[A-Za-z0-9+/]` (plus `=` padding) that mixes upper case, lower case
///   and digits, changes character class at 40%+ of adjacent pairs (random base64 averages 64%;
///   words, CamelCase names and paths stay well below), has at most one `/` per 10 characters,
///   and is not pure hex: UUIDs, hex SHA-256 digests and ordinary words are never touched.
public struct Redactor: Sendable {
    /// One configured pattern: every match of `regex` becomes `[REDACTED:<name>]`.
    public struct Pattern: Sendable {
        public let name: String
        public let regex: String
        let compiled: CompiledRegex

        /// Throws when `regex` is not a valid NSRegularExpression.
        public init(name: String, regex: String) throws {
            self.name = name
            self.regex = regex
            compiled = CompiledRegex(try NSRegularExpression(pattern: regex))
        }
    }

    public struct Config: Sendable {
        public var extraPatterns: [Pattern]
        /// Exact strings never redacted (a matched span, a whole `key=value` match, or a whole
        /// string value).
        public var allowlist: Set<String>

        public init(extraPatterns: [Pattern] = [], allowlist: Set<String> = []) {
            self.extraPatterns = extraPatterns
            self.allowlist = allowlist
        }
    }

    /// The built-in kind names, as they appear in `[REDACTED:<kind>]` and in the counts.
    public enum Kind {
        public static let dsn = "dsn"
        public static let anthropicKey = "anthropic_key"
        public static let openAIKey = "openai_key"
        public static let stripeKey = "stripe_key"
        public static let slackToken = "slack_token"
        public static let githubToken = "github_token"
        public static let googleAPIKey = "google_api_key"
        public static let awsAccessKeyID = "aws_access_key_id"
        public static let awsSecretAccessKey = "aws_secret_access_key"
        public static let bearerToken = "bearer_token"
        public static let jwt = "jwt"
        public static let privateKey = "private_key"
        public static let urlPassword = "url_password"
        public static let credential = "credential"
        public static let base64 = "base64"
        public static let all = [
            dsn, anthropicKey, openAIKey, stripeKey, slackToken, githubToken, googleAPIKey,
            awsAccessKeyID, awsSecretAccessKey, bearerToken, jwt, privateKey, urlPassword,
            credential, base64,
        ]
    }

    /// Key names (lower case, `-` read as `_`) whose values are credentials, matched as suffixes:
    /// `DB_PASSWORD`, `x-api-key`, `client_secret` all count.
    public static let sensitiveKeySuffixes = keySuffixes.map { "\($0)" }

    static let keySuffixes: [StaticString] = [
        "password", "passwd", "passphrase", "secret", "api_key", "apikey", "access_token", "auth_token",
        "refresh_token", "session_token", "api_token", "id_token", "secret_key", "private_key", "access_key",
    ]

    public let config: Config

    public init(_ config: Config = .init()) {
        self.config = config
    }

    /// The redacted text, or nil when nothing matched (and nothing was allocated).
    /// Redacts an event's `model` and metadata string values, adding to `counts` per kind.
    public func redact(_ event: inout AuditEvent, counts: inout [String: Int]) {
        if let model = event.model, let clean = redact(model, counts: &counts) { event.model = clean }
        if let clean = redact(event.metadata, counts: &counts) { event.metadata = clean }
    }

    public func redact(_ text: String) -> String? {
        var counts: [String: Int] = [:]
        return redact(text, counts: &counts)
    }

    /// The redacted text, or nil when nothing matched; adds one to `counts[kind]` per secret.
    public func redact(_ text: String, counts: inout [String: Int]) -> String? {
        if !config.allowlist.isEmpty, config.allowlist.contains(text) { return nil }
        var bytes = text
        var current: String? = bytes.withUTF8 { bytes in
            var scanner = Scanner(p: bytes, allowlist: config.allowlist)
            scanner.run()
            for (kind, n) in scanner.counts { counts[kind, default: 0] += n }
            return scanner.result
        }
        for pattern in config.extraPatterns {
            if let replaced = applyExtra(pattern, to: current ?? text, counts: &counts) { current = replaced }
        }
        return current
    }

    /// Redacts every string value at any depth (keys are kept; numbers, booleans and nulls are
    /// untouched). Returns the new value and the number of secrets replaced per kind.
    public func redact(_ json: JSONValue) -> (JSONValue, [String: Int]) {
        var counts: [String: Int] = [:]
        let result = redact(json, counts: &counts) ?? json
        return (result, counts)
    }

    /// Nil when nothing was redacted.
    public func redact(_ json: JSONValue, counts: inout [String: Int]) -> JSONValue? {
        switch json {
        case .string(let s):
            return redact(s, counts: &counts).map(JSONValue.string)
        case .array(let items):
            return items.mapChanged { redact($0, counts: &counts) }.map(JSONValue.array)
        case .object(let members):
            var copy: [JSONValue.Member]?
            for (index, member) in members.enumerated() {
                let clean: JSONValue?
                if case .string(let s) = member.value, Self.isSensitiveKey(member.key), isCredentialValue(s) {
                    counts[Kind.credential, default: 0] += 1
                    clean = .string("[REDACTED:\(Kind.credential)]")
                } else {
                    clean = redact(member.value, counts: &counts)
                }
                guard let clean else { continue }
                if copy == nil { copy = members }
                copy![index].value = clean
            }
            return copy.map(JSONValue.object)
        case .null, .bool, .number:
            return nil
        }
    }

    /// Whether a key name (as in `key=value` or a JSON member) names a credential.
    public static func isSensitiveKey(_ key: String) -> Bool {
        var key = key
        return key.withUTF8 { p in Scanner.isSensitiveIdentifier(p, 0, p.count) }
    }

    private func isCredentialValue(_ s: String) -> Bool {
        !s.isEmpty && !s.hasPrefix("[REDACTED") && !config.allowlist.contains(s) && !Scanner.isPlaceholderWord(s)
    }

    private func applyExtra(_ pattern: Pattern, to text: String, counts: inout [String: Int]) -> String? {
        let regex = pattern.compiled.regex
        let matches = regex.matches(in: text, range: NSRange(text.startIndex..., in: text))
        guard !matches.isEmpty else { return nil }
        var out = ""
        var copied = text.startIndex
        var replaced = 0
        for match in matches {
            guard match.range.length > 0, let range = Range(match.range, in: text), range.lowerBound >= copied else { continue }
            if config.allowlist.contains(String(text[range])) { continue }
            out += text[copied..<range.lowerBound]
            out += "[REDACTED:\(pattern.name)]"
            copied = range.upperBound
            replaced += 1
        }
        guard replaced > 0 else { return nil }
        out += text[copied...]
        counts[pattern.name, default: 0] += replaced
        return out
    }
}

/// NSRegularExpression is immutable once made and documented as safe to share across threads.
struct CompiledRegex: @unchecked Sendable {
    let regex: NSRegularExpression
    init(_ regex: NSRegularExpression) { self.regex = regex }
}

// MARK: - The built-in scanner

private struct Match {
    /// The bytes replaced.
    var start: Int
    var end: Int
    var kind: String
    /// The whole match (for example `password=hunter2`), also checked against the allowlist.
    var contextStart: Int
    var contextEnd: Int

    init(_ start: Int, _ end: Int, _ kind: String, context: Range<Int>? = nil) {
        self.start = start
        self.end = end
        self.kind = kind
        contextStart = context?.lowerBound ?? start
        contextEnd = context?.upperBound ?? end
    }
}

private struct Scanner {
    let p: UnsafeBufferPointer<UInt8>
    let n: Int
    let allowlist: Set<String>
    var out: [UInt8] = []
    var copied = 0
    var matched = false
    var counts: [String: Int] = [:]

    init(p: UnsafeBufferPointer<UInt8>, allowlist: Set<String>) {
        self.p = p
        n = p.count
        self.allowlist = allowlist
    }

    var result: String? { matched ? String(decoding: out, as: UTF8.self) : nil }

    // MARK: Byte classes

    @inline(__always) static func isUpper(_ b: UInt8) -> Bool { b &- 0x41 < 26 }
    @inline(__always) static func isLower(_ b: UInt8) -> Bool { b &- 0x61 < 26 }
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }
    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool { isUpper(b) || isLower(b) || isDigit(b) }
    @inline(__always) static func isBase64(_ b: UInt8) -> Bool { isAlnum(b) || b == 0x2B || b == 0x2F }
    /// `[A-Za-z0-9_-]`
    @inline(__always) static func isToken(_ b: UInt8) -> Bool { isAlnum(b) || b == 0x5F || b == 0x2D }
    @inline(__always) static func isHex(_ b: UInt8) -> Bool { isDigit(b) || (b | 0x20) &- 0x61 < 6 }
    @inline(__always) static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { isUpper(b) ? b | 0x20 : b }

    @inline(__always) func at(_ i: Int) -> UInt8 { i < n ? p[i] : 0 }

    /// The first bytes of the token matchers: `a`/`A` (AWS secret hint, AKIA, ASIA, AIza),
    /// `s` (sk-, sk_live_), `g` (gh*_), `x` (xox*-), `e` (eyJ), `b`/`B` (Bearer).
    @inline(__always) func mayMatchToken(_ b: UInt8, at i: Int) -> Bool {
        if b | 0x20 == 0x61, at(i + 1) | 0x20 == 0x77 { return true }  // aws_…, any position
        switch b {
        case 0x41, 0x73, 0x67, 0x78, 0x65, 0x62, 0x42: return i == 0 || !Self.isAlnum(p[i - 1])
        default: return false
        }
    }

    /// ASCII prefix test, case-sensitive.
    func has(_ literal: StaticString, at i: Int) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard i + count <= n else { return false }
        let l = literal.utf8Start
        for k in 0..<count where p[i + k] != l[k] { return false }
        return true
    }

    /// ASCII prefix test ignoring case; `literal` is lower case.
    func hasIgnoringCase(_ literal: StaticString, at i: Int) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard i + count <= n else { return false }
        let l = literal.utf8Start
        for k in 0..<count where Self.lower(p[i + k]) != l[k] { return false }
        return true
    }

    func run(from i: Int, while test: (UInt8) -> Bool) -> Int {
        var j = i
        while j < n, test(p[j]) { j += 1 }
        return j
    }

    /// The length of the whitespace character at `i` (Python's `str.isspace`), 0 if none.
    func whitespaceLength(at i: Int) -> Int {
        let b = p[i]
        if b < 0x80 { return Self.isSpace(b) || (b >= 0x1C && b <= 0x1F) ? 1 : 0 }
        let b1 = at(i + 1), b2 = at(i + 2)
        switch b {
        case 0xC2: return b1 == 0x85 || b1 == 0xA0 ? 2 : 0
        case 0xE1: return b1 == 0x9A && b2 == 0x80 ? 3 : 0
        case 0xE2:
            if b1 == 0x80, b2 <= 0x8A || b2 == 0xA8 || b2 == 0xA9 || b2 == 0xAF { return 3 }
            return b1 == 0x81 && b2 == 0x9F ? 3 : 0
        case 0xE3: return b1 == 0x80 && b2 == 0x80 ? 3 : 0
        default: return 0
        }
    }

    /// The end of the run of non-whitespace starting at `i` (the SDK's `\S+`).
    func nonSpaceEnd(from i: Int) -> Int {
        var j = i
        while j < n, whitespaceLength(at: j) == 0 { j += 1 }
        return j
    }

    // MARK: The pass

    mutating func run() {
        var i = 0
        var runStart = 0  // start of the current run of base64 characters
        while i < n {
            let b = p[i]
            if Self.isBase64(b) {
                if mayMatchToken(b, at: i), let m = tokenMatch(at: i), accept(m) {
                    flushRun(runStart, i)
                    emit(m)
                    i = m.end
                    runStart = i
                } else {
                    i += 1
                }
                continue
            }
            // The base64 run [runStart, i) ends here.
            if i - runStart >= 40, let m = base64Match(runStart, i), accept(m) {
                emit(m)
                i = m.end
                runStart = i
                continue
            }
            if let m = punctuationMatch(at: i), accept(m) {
                emit(m)
                i = m.end
            } else {
                i += 1
            }
            runStart = i
        }
        if n - runStart >= 40, let m = base64Match(runStart, n), accept(m) { emit(m) }
        if matched { out.append(contentsOf: UnsafeBufferPointer(rebasing: p[copied..<n])) }
    }

    /// A base64 run cut short by a token match: the part before the token counts on its own.
    private mutating func flushRun(_ runStart: Int, _ end: Int) {
        if end - runStart >= 40, let m = base64Match(runStart, end), m.end <= end, accept(m) { emit(m) }
    }

    private func accept(_ m: Match) -> Bool {
        guard m.start >= copied, m.end > m.start else { return false }
        // Already redacted (by an earlier pass or processor): keeps redaction idempotent.
        if UnsafeBufferPointer(rebasing: p[m.start..<m.end]).starts(with: "[REDACTED".utf8) { return false }
        guard !allowlist.isEmpty else { return true }
        if allowlist.contains(String(decoding: UnsafeBufferPointer(rebasing: p[m.start..<m.end]), as: UTF8.self)) { return false }
        if m.contextStart != m.start || m.contextEnd != m.end,
            allowlist.contains(String(decoding: UnsafeBufferPointer(rebasing: p[m.contextStart..<m.contextEnd]), as: UTF8.self))
        {
            return false
        }
        return true
    }

    private mutating func emit(_ m: Match) {
        if !matched {
            matched = true
            out.reserveCapacity(n)
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: p[copied..<m.start]))
        out.append(contentsOf: "[REDACTED:".utf8)
        out.append(contentsOf: m.kind.utf8)
        out.append(UInt8(ascii: "]"))
        copied = m.end
        counts[m.kind, default: 0] += 1
    }

    // MARK: Matchers that start at a letter or digit

    mutating func tokenMatch(at i: Int) -> Match? {
        let b = p[i]
        // AWS secret hint: no boundary needed (`MY_AWS_SECRET_ACCESS_KEY=`), as in the SDK.
        if b | 0x20 == 0x61, at(i + 1) | 0x20 == 0x77, let m = awsSecretMatch(at: i) { return m }
        guard i == 0 || !Self.isAlnum(p[i - 1]) else { return nil }
        switch b {
        case UInt8(ascii: "s"):
            if has("sk-", at: i) {
                if has("sk-ant-", at: i) {
                    let end = run(from: i + 7, while: Self.isToken)
                    if end - (i + 7) >= 20 { return Match(i, end, Redactor.Kind.anthropicKey) }
                }
                let end = run(from: i + 3, while: Self.isToken)
                if end - (i + 3) >= 20 { return Match(i, end, Redactor.Kind.openAIKey) }
            } else if has("sk_live_", at: i) {
                let end = run(from: i + 8, while: Self.isAlnum)
                if end - (i + 8) >= 16 { return Match(i, end, Redactor.Kind.stripeKey) }
            }
        case UInt8(ascii: "g"):
            if has("gh", at: i), at(i + 3) == UInt8(ascii: "_"),
                at(i + 2) == UInt8(ascii: "p") || at(i + 2) == UInt8(ascii: "s") || at(i + 2) == UInt8(ascii: "o")
            {
                let end = run(from: i + 4, while: Self.isAlnum)
                if end - (i + 4) >= 30 { return Match(i, end, Redactor.Kind.githubToken) }
            } else if has("github_pat_", at: i) {
                let end = run(from: i + 11, while: { Self.isAlnum($0) || $0 == 0x5F })
                if end - (i + 11) >= 22 { return Match(i, end, Redactor.Kind.githubToken) }
            }
        case UInt8(ascii: "x"):
            if has("xoxb-", at: i) || has("xoxp-", at: i) {
                let end = run(from: i + 5, while: { Self.isAlnum($0) || $0 == 0x2D })
                if end - (i + 5) >= 20 { return Match(i, end, Redactor.Kind.slackToken) }
            }
        case UInt8(ascii: "A"):
            if has("AKIA", at: i) || has("ASIA", at: i) {
                var end = i + 4
                while end < n, end - i < 21, Self.isUpper(p[end]) || Self.isDigit(p[end]) { end += 1 }
                if end - (i + 4) == 16, !Self.isAlnum(at(end)) { return Match(i, end, Redactor.Kind.awsAccessKeyID) }
            } else if has("AIza", at: i) {
                let end = run(from: i + 4, while: Self.isToken)
                if end - (i + 4) >= 35 { return Match(i, end, Redactor.Kind.googleAPIKey) }
            }
        case UInt8(ascii: "e"):
            if i >= jwtFailedUntil, has("eyJ", at: i) { return jwtMatch(at: i) }
        case UInt8(ascii: "B"), UInt8(ascii: "b"):
            if at(i + 1) | 0x20 == 0x65 { return bearerMatch(at: i) }
        default:
            break
        }
        return nil
    }

    func awsSecretMatch(at i: Int) -> Match? {
        guard hasIgnoringCase("aws_secret_access_key", at: i) else { return nil }
        var j = i + 21
        let separators = j
        while j < n, p[j] == 0x22 || p[j] == 0x27 || p[j] == 0x3A || p[j] == 0x3D || Self.isSpace(p[j]) { j += 1 }
        guard j > separators else { return nil }
        let end = run(from: j, while: { Self.isBase64($0) || $0 == 0x3D })
        guard end - j >= 40 else { return nil }
        return Match(j, end, Redactor.Kind.awsSecretAccessKey, context: i..<end)
    }

    /// Any later `eyJ` inside the same first segment fails the same way (`eyJ-eyJ-eyJ-…` would
    /// otherwise rescan the run from each start).
    var jwtFailedUntil = 0

    mutating func jwtMatch(at i: Int) -> Match? {
        let end1 = run(from: i, while: Self.isToken)
        guard end1 - i >= 10, at(end1) == 0x2E else { jwtFailedUntil = end1; return nil }
        let end2 = run(from: end1 + 1, while: Self.isToken)
        guard end2 - (end1 + 1) >= 3, at(end2) == 0x2E else { jwtFailedUntil = end1; return nil }
        let end3 = run(from: end2 + 1, while: Self.isToken)
        return Match(i, end3, Redactor.Kind.jwt)
    }

    func bearerMatch(at i: Int) -> Match? {
        guard hasIgnoringCase("bearer", at: i), at(i + 6) == 0x20 || at(i + 6) == 0x09 else { return nil }
        let start = run(from: i + 6, while: { $0 == 0x20 || $0 == 0x09 })
        var end = run(
            from: start,
            while: { b in
                Self.isAlnum(b) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E || b == 0x2B || b == 0x2F
            })
        end = run(from: end, while: { $0 == 0x3D })
        while end > start, p[end - 1] == 0x2E { end -= 1 }  // sentence punctuation
        let length = end - start
        var hasDigit = false
        for k in start..<end where Self.isDigit(p[k]) { hasDigit = true; break }
        guard (length >= 8 && hasDigit) || length >= 32 else { return nil }
        return Match(start, end, Redactor.Kind.bearerToken, context: i..<end)
    }

    // MARK: Matchers that start at punctuation

    mutating func punctuationMatch(at i: Int) -> Match? {
        switch p[i] {
        case UInt8(ascii: ":"):
            if at(i + 1) == 0x2F, at(i + 2) == 0x2F { return urlMatch(at: i) }
            return pairMatch(at: i)
        case UInt8(ascii: "="):
            return pairMatch(at: i)
        case UInt8(ascii: "-"):
            return has("-----BEGIN ", at: i) ? pemMatch(at: i) : nil
        default:
            return nil
        }
    }

    func pemMatch(at i: Int) -> Match? {
        let labelStart = i + 11
        let labelEnd = run(from: labelStart, while: { Self.isUpper($0) || Self.isDigit($0) || $0 == 0x20 })
        guard has("-----", at: labelEnd),
            contains("PRIVATE KEY", from: labelStart, to: labelEnd)
        else { return nil }
        var j = labelEnd + 5
        while j < n {
            if p[j] == 0x2D, has("-----END ", at: j) {
                let close = run(from: j + 9, while: { Self.isUpper($0) || Self.isDigit($0) || $0 == 0x20 })
                if has("-----", at: close) { return Match(i, close + 5, Redactor.Kind.privateKey) }
            }
            j += 1
        }
        return Match(i, n, Redactor.Kind.privateKey)  // cut off: redact to the end
    }

    func contains(_ literal: StaticString, from start: Int, to end: Int) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard end - start >= count else { return false }
        for k in start...(end - count) where has(literal, at: k) { return true }
        return false
    }

    static let databaseSchemes: [StaticString] = ["postgres", "postgresql", "mysql", "mongodb", "redis", "rediss"]

    /// `i` is the `:` of `://`.
    func urlMatch(at i: Int) -> Match? {
        var schemeStart = i
        while schemeStart > copied,
            Self.isAlnum(p[schemeStart - 1]) || p[schemeStart - 1] == 0x2B || p[schemeStart - 1] == 0x2E || p[schemeStart - 1] == 0x2D
        {
            schemeStart -= 1
        }
        while schemeStart < i, !Self.isUpper(p[schemeStart]), !Self.isLower(p[schemeStart]) { schemeStart += 1 }
        guard schemeStart < i else { return nil }

        // Database DSN: the part after the last `.`/`-` (where the SDK's `\b` would allow a
        // start), then a known scheme, optionally `+driver`.
        var baseStart = i
        while baseStart > schemeStart, p[baseStart - 1] != 0x2E, p[baseStart - 1] != 0x2D { baseStart -= 1 }
        let baseEnd = run(from: baseStart, while: { $0 != 0x2B && $0 != 0x3A })
        let isDatabase = Self.databaseSchemes.contains { scheme in
            scheme.utf8CodeUnitCount == baseEnd - baseStart && hasIgnoringCase(scheme, at: baseStart)
        }
        if isDatabase {
            let end = nonSpaceEnd(from: i + 3)
            return end > i + 3 ? Match(baseStart, end, Redactor.Kind.dsn) : nil
        }

        // Any other URL: only the password of its userinfo.
        let authorityStart = i + 3
        var authorityEnd = authorityStart
        var lastAt = -1
        while authorityEnd < n {
            let b = p[authorityEnd]
            if b == 0x2F || b == 0x3F || b == 0x23 || b == 0x22 || b == 0x27 || b == 0x3C || b == 0x3E || b == 0x60
                || b == 0x5C || whitespaceLength(at: authorityEnd) > 0
            {
                break
            }
            if b == 0x40 { lastAt = authorityEnd }
            authorityEnd += 1
        }
        guard lastAt > authorityStart else { return nil }
        var colon = authorityStart
        while colon < lastAt, p[colon] != 0x3A { colon += 1 }
        guard colon + 1 < lastAt else { return nil }
        return Match(colon + 1, lastAt, Redactor.Kind.urlPassword, context: schemeStart..<authorityEnd)
    }

    /// `i` is the `=` or `:` after a possible credential key.
    mutating func pairMatch(at i: Int) -> Match? {
        // The key: back over spaces, a closing quote (maybe escaped), then the name.
        var j = i
        while j > copied, p[j - 1] == 0x20 || p[j - 1] == 0x09 { j -= 1 }
        if j > copied, p[j - 1] == 0x22 || p[j - 1] == 0x27 {
            j -= 1
            if j > copied, p[j - 1] == 0x5C { j -= 1 }
        }
        let keyEnd = j
        while j > copied, Self.isToken(p[j - 1]) || p[j - 1] == 0x2E { j -= 1 }
        let keyStart = j
        guard keyEnd - keyStart >= 3, Self.isSensitiveIdentifier(p, keyStart, keyEnd) else { return nil }

        // The value.
        var k = i + 1
        if p[i] == 0x3A, at(k) == 0x3D { k += 1 }  // `:=`
        let afterSeparator = k
        k = run(from: k, while: { $0 == 0x20 || $0 == 0x09 })
        let spaced = k > afterSeparator
        guard k < n else { return nil }
        let valueStart: Int, valueEnd: Int, quoted: Bool
        // A quoted value ends at its closing quote within `maxQuoted` bytes; otherwise it is read
        // as unquoted, which keeps a stray quote from making every later pair rescan the text.
        let maxQuoted = 4096
        let opening = p[k] == 0x22 || p[k] == 0x27 ? 1 : (p[k] == 0x5C && (at(k + 1) == 0x22 || at(k + 1) == 0x27) ? 2 : 0)
        let closing: UInt8 = opening == 2 ? 0x5C : p[k]
        var close = k + opening
        if opening > 0 {
            while close < n, close - k <= maxQuoted, p[close] != closing { close += 1 }
        }
        if opening > 0, close < n, p[close] == closing {
            valueStart = k + opening
            valueEnd = close
            quoted = true
        } else {
            valueStart = k + opening
            var e = valueStart
            while e < n {
                let b = p[e]
                if b == 0x22 || b == 0x27 || b == 0x2C || b == 0x3B || b == 0x26 || b == 0x29 || b == 0x7D
                    || b == 0x5D || b == 0x3E || b == 0x3C || b == 0x5C || whitespaceLength(at: e) > 0
                {
                    break
                }
                e += 1
            }
            valueEnd = e
            quoted = false
        }
        guard valueEnd > valueStart else { return nil }
        let value = UnsafeBufferPointer(rebasing: p[valueStart..<valueEnd])
        if value.starts(with: "[REDACTED".utf8) || Self.isPlaceholderWord(value) { return nil }
        if p[i] == 0x3A, spaced, !quoted, value.allSatisfy({ Self.isUpper($0) || Self.isLower($0) }) { return nil }

        // A value that is itself a known secret is counted as that kind.
        if let inner = tokenMatch(at: valueStart) ?? (p[valueStart] == 0x2D && has("-----BEGIN ", at: valueStart) ? pemMatch(at: valueStart) : nil),
            inner.start == valueStart, inner.end >= valueEnd
        {
            return inner
        }
        return Match(valueStart, valueEnd, Redactor.Kind.credential, context: keyStart..<valueEnd)
    }

    static func isPlaceholderWord(_ s: String) -> Bool {
        var s = s
        return s.withUTF8 { isPlaceholderWord($0) }
    }

    /// Values that say a setting is present rather than carry it: `true`, `null`, `***`.
    static func isPlaceholderWord(_ v: UnsafeBufferPointer<UInt8>) -> Bool {
        if v.allSatisfy({ $0 == 0x2A }) { return true }
        for word: StaticString in ["true", "false", "null", "none", "nil"] where word.utf8CodeUnitCount == v.count {
            let w = word.utf8Start
            if (0..<v.count).allSatisfy({ lower(v[$0]) == w[$0] }) { return true }
        }
        return false
    }

    /// Whether `p[start..<end]` ends (ignoring case, `-` as `_`) with a sensitive key suffix.
    static func isSensitiveIdentifier(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        suffixes: for suffix in Redactor.keySuffixes {
            let count = suffix.utf8CodeUnitCount
            guard end - start >= count else { continue }
            let base = end - count
            let sfx = suffix.utf8Start
            for k in 0..<count {
                var b = lower(p[base + k])
                if b == 0x2D { b = 0x5F }
                if b != sfx[k] { continue suffixes }
            }
            return true
        }
        return false
    }

    // MARK: Base64 runs

    /// `[start, end)` is a maximal run of `[A-Za-z0-9+/]` of 40+ bytes.
    func base64Match(_ start: Int, _ end: Int) -> Match? {
        let length = end - start
        // Hex digests are the common long run: rule them out with a tight loop first.
        var hexEnd = p[start] == 0x30 && p[start + 1] | 0x20 == 0x78 ? start + 2 : start  // 0x…
        while hexEnd < end, Self.isHex(p[hexEnd]) { hexEnd += 1 }
        guard hexEnd < end else { return nil }
        var upper = false, lower = false, digit = false
        var slashes = 0, transitions = 0
        var previousClass: UInt8 = 255
        for k in start..<end {
            let b = p[k]
            let cls: UInt8
            if Self.isUpper(b) {
                upper = true; cls = 0
            } else if Self.isLower(b) {
                lower = true; cls = 1
            } else if Self.isDigit(b) {
                digit = true; cls = 2
            } else {
                cls = 3; if b == 0x2F { slashes += 1 }
            }
            if cls != previousClass, k > start { transitions += 1 }
            previousClass = cls
        }
        guard upper, lower, digit, slashes * 10 <= length, transitions * 10 >= 4 * (length - 1) else { return nil }
        var stop = end
        while stop < n, stop - end < 2, p[stop] == 0x3D { stop += 1 }
        return Match(start, stop, Redactor.Kind.base64, context: start..<end)
    }
}
