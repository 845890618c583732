import Config
import Foundation
import Pipeline
@testable import Processors
import Testing

private let redactor = Redactor()

/// The redacted text (the input when nothing matched) and the counts.
private func redacted(_ text: String, with r: Redactor = redactor) -> (String, [String: Int]) {
    var counts: [String: Int] = [:]
    let out = r.redact(text, counts: &counts)
    #expect((out == nil) == counts.isEmpty, "nil exactly when nothing was counted")
    return (out ?? text, counts)
}

private let jwtSample =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

@Suite("Redactor: every kind, positive")
struct RedactorPositiveTests {
    /// (input, redacted output, the one kind counted).
    static let positives: [(String, String, String)] = [
        // Database DSNs: the SDK's schemes, any case, with a driver suffix, whole URL replaced.
        ("connect postgres://app:s3cret@db.internal:5432/prod failed", "connect [REDACTED:dsn] failed", "dsn"),
        ("url=postgresql+asyncpg://u:p@h/db", "url=[REDACTED:dsn]", "dsn"),
        ("mongodb+srv://user:pw@cluster0.example.net/x?retryWrites=true", "[REDACTED:dsn]", "dsn"),
        ("cache redis://:pw@cache:6379/0 down", "cache [REDACTED:dsn] down", "dsn"),
        ("rediss://default:pw@cache:6380", "[REDACTED:dsn]", "dsn"),
        ("MYSQL://root:pw@h/db", "[REDACTED:dsn]", "dsn"),
        ("jdbc:postgresql://h/db?password=x", "jdbc:[REDACTED:dsn]", "dsn"),
        // Provider keys.
        ("key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789 end", "key [REDACTED:anthropic_key] end", "anthropic_key"),
        ("OPENAI=sk-proj-abcdEFGH1234ijklMNOP5678", "OPENAI=[REDACTED:openai_key]", "openai_key"),
        ("(sk-abcdefghijklmnopqrst)", "([REDACTED:openai_key])", "openai_key"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe [REDACTED:stripe_key]", "stripe_key"),
        ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "[REDACTED:slack_token]", "slack_token"),
        ("user token xoxp-1234567890-abcdefghijklmnop", "user token [REDACTED:slack_token]", "slack_token"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED:github_token]", "github_token"),
        ("ghs_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 x", "[REDACTED:github_token] x", "github_token"),
        ("gho_16C7e42F292c6912E7710c838347Ae178B4a", "[REDACTED:github_token]", "github_token"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "[REDACTED:github_token]", "github_token"),
        ("maps AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "maps [REDACTED:google_api_key]", "google_api_key"),
        ("id=AKIAIOSFODNN7EXAMPLE;", "id=[REDACTED:aws_access_key_id];", "aws_access_key_id"),
        ("temp ASIAY34FZKBOKMUTVV7A", "temp [REDACTED:aws_access_key_id]", "aws_access_key_id"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [REDACTED:aws_secret_access_key]", "aws_secret_access_key"
        ),
        (
            "export MY_AWS_SECRET_ACCESS_KEY=\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"",
            "export MY_AWS_SECRET_ACCESS_KEY=\"[REDACTED:aws_secret_access_key]\"", "aws_secret_access_key"
        ),
        // What the seed promises and the SDK misses.
        ("Authorization: Bearer abc123def456ghi789", "Authorization: Bearer [REDACTED:bearer_token]", "bearer_token"),
        ("bearer\tAbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh.", "bearer\t[REDACTED:bearer_token].", "bearer_token"),
        ("token \(jwtSample) expired", "token [REDACTED:jwt] expired", "jwt"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA\\n-----END RSA PRIVATE KEY----- tail",
            "[REDACTED:private_key] tail", "private_key"
        ),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (cut off", "[REDACTED:private_key]", "private_key"),
        ("https://alice:hunter2@example.com/path", "https://alice:[REDACTED:url_password]@example.com/path", "url_password"),
        ("amqp://guest:gu@st@rabbit:5672", "amqp://guest:[REDACTED:url_password]@rabbit:5672", "url_password"),
        ("password=hunter2", "password=[REDACTED:credential]", "credential"),
        ("DB_PASSWORD: 's3cr3t pass'", "DB_PASSWORD: '[REDACTED:credential]'", "credential"),
        ("login passwd:hunter2 ok", "login passwd:[REDACTED:credential] ok", "credential"),
        ("GET /x?api_key=abc123&page=2", "GET /x?api_key=[REDACTED:credential]&page=2", "credential"),
        ("{\"client_secret\":\"abc\",\"x\":1}", "{\"client_secret\":\"[REDACTED:credential]\",\"x\":1}", "credential"),
        ("x-api-key: k3y-value", "x-api-key: [REDACTED:credential]", "credential"),
        ("secret = letmein", "secret = [REDACTED:credential]", "credential"),
        ("blob dGhpcyBpcyBhIHNlY3JldCB2YWx1ZSB0aGF0IGlzIGxvbmcgZW5vdWdoISE= end", "blob [REDACTED:base64] end", "base64"),
        ("vBY/AFdD+LGQs/lcIPg5SfJWf/2iOTXz4PNJkdTWYag=", "[REDACTED:base64]", "base64"),
        ("k=22jBqXKgfjB8ehI4eKSlrxRKplA1UFt384MEpiNaSPoayOCkGlHaxNUUaWEu1ALZ", "k=[REDACTED:base64]", "base64"),
    ]

    @Test("secrets are replaced with [REDACTED:<kind>]", arguments: positives)
    func positive(_ input: String, _ expected: String, _ kind: String) {
        let (out, counts) = redacted(input)
        #expect(out == expected)
        #expect(counts == [kind: 1])
    }

    @Test func valueThatIsAKnownSecretCountsAsItsKind() {
        #expect(redacted("api_key=sk-ant-api03-abcdefghijklmnopqrstuvwxyz").0 == "api_key=[REDACTED:anthropic_key]")
        #expect(redacted("password: \(jwtSample)").1 == ["jwt": 1])
    }

    @Test func countsPerKind() {
        let text = "a postgres://u:p@h/db b mysql://r:p@h/x c \(jwtSample) d AKIAIOSFODNN7EXAMPLE e password=x1"
        let (out, counts) = redacted(text)
        #expect(counts == ["dsn": 2, "jwt": 1, "aws_access_key_id": 1, "credential": 1])
        #expect(out == "a [REDACTED:dsn] b [REDACTED:dsn] c [REDACTED:jwt] d [REDACTED:aws_access_key_id] e password=[REDACTED:credential]")
    }

    @Test func redactionIsIdempotent() {
        let text = "postgres://u:p@h/db Bearer abc123def456ghi789 password=hunter2 https://a:b@c \(jwtSample)"
        let once = redacted(text).0
        #expect(redactor.redact(once) == nil)
    }

    /// What the scanner actually emits over the positive cases, not a hand-kept count: a kind it
    /// can emit but no case covers, or a name in `Kind.all` it never emits, fails here.
    @Test func thePositiveCasesCoverEveryKindTheScannerEmits() {
        let emitted = Set(Self.positives.flatMap { redacted($0.0).1.keys })
        #expect(emitted == Set(Redactor.Kind.all))
        #expect(Redactor.Kind.all.count == Set(Redactor.Kind.all).count, "no kind is listed twice")
    }
}

@Suite("Redactor: negatives (must not be redacted)")
struct RedactorNegativeTests {
    @Test(
        "ordinary text, ids and hashes are left alone",
        arguments: [
            // Ids and digests the audit log needs.
            "550e8400-e29b-41d4-a716-446655440000",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "0xE3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "objects/e3/b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "550e8400e29b41d4a716446655440000550e8400e29b41d4a716446655440000",
            // Prose, words, identifiers and paths.
            "The quick brown fox jumps over the lazy dog; the secret ingredient is love.",
            "Pneumonoultramicroscopicsilicovolcanoconiosis",
            "AbstractSingletonProxyFactoryBeanDefinitionRegistryPostProcessor",
            "/var/lib/postgresql/15/main/base/16384/2619",
            "/Users/alice/Projects/App2/Sources/Processors/Redaction",
            "The bearer of this letter is authorized. Bearer authentication is in RFC 6750.",
            "Forgot password: click here",
            "the secret: ingredient",
            "password=true, secret=***, api_key=null",
            "postgres is a database; mysql and redis too",
            "postgresql:// (empty)",
            // Near misses of every prefix.
            "task-management-dashboard-version2",
            "sk-short",
            "sk_live_short",
            "xoxb-123",
            "ghp_short gh_pages",
            "github_pat_short",
            "AIzaShort",
            "AKIA1234 AKIAIOSFODNN7EXAMPLEX ASIAPACIFIC region",
            "aws_secret_access_key is stored in vault",
            "eyJhbGciOiJIUzI1NiJ9 eyJ-eyJ-eyJ",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----",
            "https://alice@example.com https://example.com:8443/x mailto:alice@example.com",
            "ratio 3:2, a=b, x: 1",
            "gpt-4o-2024-08-06",
        ])
    func negative(_ input: String) {
        #expect(redactor.redact(input) == nil, "\(redactor.redact(input) ?? "")")
    }

    @Test func emptyAndNonASCIIText() {
        #expect(redactor.redact("") == nil)
        #expect(redactor.redact("日本語のテキスト 😀 café") == nil)
        #expect(redactor.redact("password=日本語\u{3000}tail") == "password=[REDACTED:credential]\u{3000}tail")
    }
}

@Suite("Redactor: configuration")
struct RedactorConfigTests {
    @Test func allowlistKeepsExactStrings() throws {
        let r = try #require(
            try build(
                RedactionProcessor.factory,
                """
                allowlist:
                  - AKIAIOSFODNN7EXAMPLE
                  - password=changeme
                  - postgres://localhost/dev
                """) as? RedactionProcessor
        ).redactor
        #expect(r.redact("id AKIAIOSFODNN7EXAMPLE") == nil)
        #expect(r.redact("id AKIAIOSFODNN7EXAMPLF") == "id [REDACTED:aws_access_key_id]")
        #expect(r.redact("password=changeme") == nil)
        #expect(r.redact("password=changeme2") == "password=[REDACTED:credential]")
        #expect(r.redact("postgres://localhost/dev") == nil)
        // In JSON the allowlist applies to the string value.
        let (json, counts) = r.redact(
            JSONValue.object([
                .init("password", .string("AKIAIOSFODNN7EXAMPLE")),
                .init("url", .string("postgres://localhost/dev")),
            ]))
        #expect(counts.isEmpty)
        #expect(json["password"] == .string("AKIAIOSFODNN7EXAMPLE"))
        #expect(json["url"] == .string("postgres://localhost/dev"))
    }

    @Test func extraPatterns() throws {
        let processor = try #require(
            try build(
                RedactionProcessor.factory,
                """
                extra_patterns:
                  - name: employee_id
                    regex: 'EMP-[0-9]{6}'
                  - name: ssn
                    regex: '\\b[0-9]{3}-[0-9]{2}-[0-9]{4}\\b'
                allowlist: [EMP-000000]
                """) as? RedactionProcessor)
        var counts: [String: Int] = [:]
        let out = processor.redactor.redact(
            "EMP-123456 and EMP-654321, not EMP-000000; ssn 123-45-6789; key sk-abcdefghijklmnopqrstu", counts: &counts)
        #expect(out == "[REDACTED:employee_id] and [REDACTED:employee_id], not EMP-000000; ssn [REDACTED:ssn]; key [REDACTED:openai_key]")
        #expect(counts == ["employee_id": 2, "ssn": 1, "openai_key": 1])
        #expect(processor.redactor.redact("nothing here") == nil)
    }

    @Test func invalidRegexIsAConfigErrorNamingTheKey() throws {
        let error = try #require(throws: ConfigError.self) {
            try build(
                RedactionProcessor.factory,
                """
                extra_patterns:
                  - name: fine
                    regex: 'ok[0-9]+'
                  - name: broken
                    regex: '([a-z'
                """)
        }
        #expect(error.key == "processors.redaction.extra_patterns[1].regex")
        #expect(error.file == "t.yaml")
    }

    @Test func otherConfigErrors() {
        #expect(throws: ConfigError.self) { try build(RedactionProcessor.factory, "extra_patterns:\n  - name: x") }
        #expect(throws: ConfigError.self) { try build(RedactionProcessor.factory, "extra_patterns:\n  - name: 'a b'\n    regex: x") }
        #expect(throws: ConfigError.self) { try build(RedactionProcessor.factory, "extra_patterns:\n  - name: a\n    regex: x\n    flags: i") }
        #expect(throws: ConfigError.self) { try build(RedactionProcessor.factory, "locale: true") }
    }

    @Test func publicInitForBenchmarks() throws {
        let r = Redactor(.init(extraPatterns: [try Redactor.Pattern(name: "x", regex: "XX[0-9]+")], allowlist: []))
        #expect(r.redact("id XX12") == "id [REDACTED:x]")
        #expect(throws: (any Error).self) { try Redactor.Pattern(name: "bad", regex: "(") }
    }
}

@Suite("Redactor: hostile input")
struct RedactorHostileTests {
    /// Each of these would make a naive matcher rescan the text from every trigger, so four
    /// times the input would cost sixteen times the work; a linear scan costs four. Work is this
    /// thread's CPU time (the least of three runs), which a busy machine does not inflate as it
    /// does the wall clock.
    @Test func pathologicalRepetitionsStayLinear() {
        let inputs: [(name: String, make: (Int) -> String)] = [
            ("eyJ-", { String(repeating: "eyJ-", count: 20_000 * $0) }),
            ("AKIA", { String(repeating: "AKIA", count: 20_000 * $0) }),
            ("password=", { String(repeating: "password=\"[REDACTED ", count: 3_000 * $0) }),
            ("a…://", { String(repeating: "a", count: 80_000 * $0) + "://" }),
            ("Bearer", { String(repeating: "Bearer ", count: 10_000 * $0) }),
            ("BEGIN PUBLIC KEY", { String(repeating: "-----BEGIN PUBLIC KEY-----", count: 3_000 * $0) }),
            ("x:", { String(repeating: "x:", count: 40_000 * $0) }),
        ]
        for (name, make) in inputs {
            let (small, large) = (make(1), make(4))
            let cost = (small: leastCPUTime { _ = redactor.redact(small) }, large: leastCPUTime { _ = redactor.redact(large) })
            #expect(cost.large < cost.small * 8, "\(name): \(cost.small) for n, \(cost.large) for 4n")
        }
    }

    @Test func base64RunsOnEitherSideOfATokenAreSeparate() {
        let blob = "JAprlc2ufBH2szEzLWcclIgtm6tPUQvPXXzFcs6CJtln"
        #expect(redacted("\(blob) sk-abcdefghijklmnopqrstu \(blob)").1 == ["base64": 2, "openai_key": 1])
    }

    @Test func jsonRedactsValuesNotKeys() throws {
        let metadata = try JSONParser.parse(
            #"""
            {"password":"hunter2","db":{"url":"postgres://u:p@h/db","n":1e1000},
             "list":["Bearer abc123def456ghi789",42,null,true],
             "sk-abcdefghijklmnopqrstu":"key name kept","token_count":12,"api_key":"","has_password":true}
            """#)
        let (out, counts) = redactor.redact(metadata)
        #expect(counts == ["credential": 1, "dsn": 1, "bearer_token": 1])
        #expect(
            out.serialized()
                == #"{"password":"[REDACTED:credential]","db":{"url":"[REDACTED:dsn]","n":1e1000},"list":["Bearer [REDACTED:bearer_token]",42,null,true],"sk-abcdefghijklmnopqrstu":"key name kept","token_count":12,"api_key":"","has_password":true}"#
        )
    }

    @Test func recursesToTheParsersDepthLimit() throws {
        let depth = JSONParser.defaultMaxDepth
        let text = String(repeating: #"{"a":"#, count: depth - 1) + #"["postgres://u:p@h/db"]"# + String(repeating: "}", count: depth - 1)
        let (out, counts) = redactor.redact(try JSONParser.parse(text))
        #expect(counts == ["dsn": 1])
        #expect(out.serialized().contains("[REDACTED:dsn]"))
    }

    @Test func hugeNumbersAreUntouched() throws {
        let metadata = try JSONParser.parse(
            #"{"n":123456789012345678901234567890123456789012345678901234567890,"e":1e1000,"s":"1234567890123456789012345678901234567890123"}"#)
        let (out, counts) = redactor.redact(metadata)
        #expect(counts.isEmpty)
        #expect(out == metadata)
    }
}

/// The least CPU time this thread spent in `body` over three runs.
private func leastCPUTime(_ body: () -> Void) -> Duration {
    func now() -> Duration {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }
    return (0..<3).map { _ in
        let start = now()
        body()
        return now() - start
    }.min()!
}
