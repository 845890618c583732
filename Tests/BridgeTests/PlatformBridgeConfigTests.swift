import Config
@testable import Exporters
import Testing

@Suite("platform bridge: configuration")
struct PlatformBridgeConfigTests {
    func read(_ yaml: String, env: [String: String] = [:]) throws(ConfigError) -> PlatformBridgeConfig {
        let root = try ConfigSection(
            path: "", file: "t.yaml", value: ConfigValue.parse(yaml: yaml.isEmpty ? "{}" : yaml, file: "t.yaml"),
            environment: env, log: ProvenanceLog())
        return try PlatformBridgeConfig.read(root)
    }

    let url = "https://governance.example.com/api/v1/ingest/events"

    @Test("nothing configured: off, silently")
    func off() throws {
        #expect(try read("").activation == .off)
    }

    @Test("credentials without the enable flag: off, with the reason")
    func credentialsWithoutFlag() throws {
        let c = try read("", env: ["GOVERNANCE_PLATFORM_INGEST_URL": url, "GOVERNANCE_PLATFORM_INGEST_TOKEN": "wf_x"])
        #expect(c.activation == .offWithCredentials(reason: "platform_bridge_enabled is not true"))
        let noToken = try read("platform_bridge_enabled: true\nplatform_ingest_url: \(url)")
        #expect(noToken.activation == .offWithCredentials(reason: "platform_ingest_token is not set"))
    }

    @Test("all three set: active")
    func active() throws {
        let c = try read(
            "",
            env: [
                "GOVERNANCE_PLATFORM_INGEST_URL": " \(url) ", "GOVERNANCE_PLATFORM_INGEST_TOKEN": " wf_x ",
                "GOVERNANCE_PLATFORM_BRIDGE_ENABLED": "yes",
            ])
        guard case .active(let parsed) = c.activation else { Issue.record("expected active"); return }
        #expect(parsed.path == "/api/v1/ingest/events")
        #expect(c.ingestToken == "wf_x")
        #expect(c.displayURL == "https://governance.example.com:443/api/v1/ingest/events")
    }

    @Test("explicit configuration wins; the environment fills only what is unset")
    func precedence() throws {
        let c = try read(
            "platform_bridge_enabled: false\nmax_queue_size: 50",
            env: [
                "GOVERNANCE_PLATFORM_BRIDGE_ENABLED": "true", "GOVERNANCE_PLATFORM_MAX_QUEUE_SIZE": "9",
                "GOVERNANCE_PLATFORM_TRUSTED_HOSTS": "Governance.Example.COM., api.example.com",
            ])
        #expect(c.enabled == false)
        #expect(c.maxQueueSize == 50)
        #expect(c.trustedHosts == ["governance.example.com", "api.example.com"])
    }

    @Test(
        "a refused URL fails at start-up naming the key",
        arguments: [
            "http://governance.example.com/x", "https://169.254.169.254/", "https://2852039166/", "https://10.0.0.1/",
            "https://user@governance.example.com/", "https://metadata.google.internal./",
        ])
    func refusedURL(_ bad: String) throws {
        do {
            _ = try read("platform_bridge_enabled: true\nplatform_ingest_token: wf_x\nplatform_ingest_url: \"\(bad)\"")
            Issue.record("\(bad) was accepted")
        } catch {
            #expect(error.key == "platform_ingest_url")
            #expect(!error.description.contains("wf_x"))
        }
    }

    @Test("a host outside platform_trusted_hosts is refused")
    func trustedHosts() throws {
        #expect(throws: ConfigError.self) {
            try read(
                "platform_bridge_enabled: true\nplatform_ingest_token: wf_x\nplatform_ingest_url: \(url)\nplatform_trusted_hosts: [other.example.com]"
            )
        }
        #expect(throws: Never.self) {
            try read(
                "platform_bridge_enabled: true\nplatform_ingest_token: wf_x\nplatform_ingest_url: \(url)\nplatform_trusted_hosts: [GOVERNANCE.example.com.]"
            )
        }
    }

    @Test("a bad boolean in the environment names the key and the variable")
    func badBoolean() throws {
        do {
            _ = try read("", env: ["GOVERNANCE_PLATFORM_BRIDGE_ENABLED": "maybe"])
            Issue.record("accepted `maybe`")
        } catch {
            #expect(error.key == "platform_bridge_enabled")
            #expect(error.description.contains("GOVERNANCE_PLATFORM_BRIDGE_ENABLED"))
        }
    }

    @Test("relay_batch_events posts to the collector's batch endpoint; a URL that is not one fails at start-up naming the key")
    func relayBatch() throws {
        #expect(try read("platform_ingest_url: \(url)").relayBatchURL == nil)
        #expect(try read("platform_ingest_url: \(url)\nrelay_batch_events: 500").relayBatchURL == url + "/batch")
        do {
            _ = try read("platform_ingest_url: https://governance.example.com/ingest\nrelay_batch_events: 500")
            Issue.record("accepted a relay URL without a batch endpoint")
        } catch {
            #expect(error.description.contains("relay_batch_events"))
            #expect(error.description.contains("/api/v1/ingest/events"))
        }
    }
}
