import Config
import Foundation
import Pipeline
@testable import CommitStages
import Testing

@Suite("budget: an event's cost")
struct BudgetCostTests {
    func processor(_ yaml: String) throws -> BudgetStage {
        BudgetStage(config: try BudgetConfig.read(section(yaml, path: "processors.budget")))
    }

    @Test("cost_field wins; else token usage at the model's price per million, the \"*\" price for other models")
    func tokenPrices() throws {
        let budget = try processor(
            """
            daily_usd: { "*": 10 }
            prices:
              gpt-4o: { input: 2.5, output: 10 }
              "*": { input: 1 }
            """)
        let usage: JSONValue = .object([.init("gen_ai.usage.input_tokens", .number("1000")), .init("gen_ai.usage.output_tokens", .number("200"))])
        #expect(budget.cost(of: makeEvent(model: "gpt-4o", metadata: usage)) == Decimal(string: "0.0045"))
        #expect(budget.cost(of: makeEvent(model: "other", metadata: usage)) == Decimal(string: "0.001"))
        let openInference: JSONValue = .object([.init("llm.token_count.prompt", .number("4000"))])
        #expect(budget.cost(of: makeEvent(model: "gpt-4o", metadata: openInference)) == Decimal(string: "0.01"))
        let both: JSONValue = .object([.init("cost_usd", .number("0.5")), .init("gen_ai.usage.input_tokens", .number("1000"))])
        #expect(budget.cost(of: makeEvent(model: "gpt-4o", metadata: both)) == Decimal(string: "0.5"))
        #expect(budget.cost(of: makeEvent(model: "gpt-4o")) == nil)
        let negative: JSONValue = .object([.init("gen_ai.usage.input_tokens", .number("-5"))])
        #expect(budget.cost(of: makeEvent(model: "gpt-4o", metadata: negative)) == nil)
    }

    @Test(
        "a price matches the request model, then the response model, then it without its release date, then the longest key it starts with, then \"*\"; the same run costs the same through any instrumentation"
    )
    func priceMatching() throws {
        let budget = try processor(
            """
            daily_usd: { "*": 10 }
            prices:
              gpt-4o: { input: 2.5, output: 10 }
              gpt-4o-mini: { input: 0.15, output: 0.6 }
              claude-3-5-sonnet: { input: 3, output: 15 }
              "*": { input: 1, output: 1 }
            """)
        let config = budget.config
        let (gpt4o, mini, sonnet, fallback) = (
            config.prices["gpt-4o"], config.prices["gpt-4o-mini"], config.prices["claude-3-5-sonnet"], config.prices["*"]
        )
        #expect(config.price(request: "gpt-4o", response: "gpt-4o-2024-08-06") == gpt4o)
        #expect(config.price(request: nil, response: "gpt-4o-2024-08-06") == gpt4o, "the date suffix goes")
        #expect(config.price(request: nil, response: "gpt-4o-mini-2024-07-18") == mini, "not gpt-4o's price")
        #expect(config.price(request: nil, response: "claude-3-5-sonnet-20241022") == sonnet)
        #expect(config.price(request: "gpt-4o-mini-audio-preview", response: nil) == mini, "the longest key it starts with")
        #expect(config.price(request: "gpt-4o-mini", response: "gpt-4o-2024-08-06") == mini, "the request model first")
        #expect(config.price(request: nil, response: "llama-3") == fallback)
        #expect(BudgetConfig.withoutReleaseDate("gpt-4o") == nil && BudgetConfig.withoutReleaseDate("model-2024-1-06") == nil)

        // One chat, 1,000 tokens in and 200 out, as each instrumentation reports it.
        let genAI: JSONValue = .object([
            .init("gen_ai.request.model", .string("gpt-4o")), .init("gen_ai.usage.input_tokens", .number("1000")),
            .init("gen_ai.usage.output_tokens", .number("200")),
        ])
        let openInference: JSONValue = .object([
            .init("llm.token_count.prompt", .number("1000")), .init("llm.token_count.completion", .number("200")),
        ])
        let sdk: JSONValue = .object([
            .init(
                "token_usage",
                .object([
                    .init("prompt_tokens", .number("1000")), .init("completion_tokens", .number("200")),
                    .init("total_tokens", .number("1200")),
                ]))
        ])
        let anthropic: JSONValue = .object([
            .init("token_usage", .object([.init("input_tokens", .number("1000")), .init("output_tokens", .number("200"))]))
        ])
        let langfuseUsage: JSONValue = .object([
            .init(
                "langfuse.observation.usage_details",
                .string(#"{"completion_tokens": 200, "prompt_tokens": 1000, "total_tokens": 1200, "prompt_tokens_details": null}"#))
        ])
        for (model, metadata) in [
            ("gpt-4o-2024-08-06", genAI), ("gpt-4o-2024-08-06", openInference), ("gpt-4o", sdk), ("gpt-4o", anthropic),
            ("gpt-4o", langfuseUsage),
        ] {
            #expect(budget.cost(of: makeEvent(model: model, metadata: metadata)) == Decimal(string: "0.0045"), "\(metadata)")
        }
    }

    @Test("cached input tokens at the cache prices when configured, as each instrumentation reports them; without cache prices they cost as input")
    func cachePrices() throws {
        let budget = try processor(
            """
            daily_usd: { "*": 10 }
            prices:
              gpt-4o: { input: 2.5, output: 10, cache_read: 1.25, cache_write: 3.125 }
              plain: { input: 2.5, output: 10 }
            """)
        // One call: 1,000 input tokens of which 600 read from the cache and 100 written to it, 200 output.
        // 300 × 2.5 + 600 × 1.25 + 100 × 3.125 + 200 × 10 = 3,812.5 per million.
        let genAI: JSONValue = .object([
            .init("gen_ai.usage.input_tokens", .number("1000")), .init("gen_ai.usage.output_tokens", .number("200")),
            .init("gen_ai.usage.cache_read.input_tokens", .number("600")),
            .init("gen_ai.usage.cache_creation.input_tokens", .number("100")),
        ])
        let openInference: JSONValue = .object([
            .init("llm.token_count.prompt", .number("1000")), .init("llm.token_count.completion", .number("200")),
            .init("llm.token_count.prompt_details.cache_read", .number("600")),
            .init("llm.token_count.prompt_details.cache_write", .number("100")),
        ])
        // Anthropic's names: its input_tokens leaves out what was read from or written to the cache.
        let anthropic: JSONValue = .object([
            .init(
                "token_usage",
                .object([
                    .init("input_tokens", .number("300")), .init("output_tokens", .number("200")),
                    .init("cache_read_input_tokens", .number("600")), .init("cache_creation_input_tokens", .number("100")),
                ]))
        ])
        for metadata in [genAI, openInference, anthropic] {
            #expect(budget.cost(of: makeEvent(model: "gpt-4o", metadata: metadata)) == Decimal(string: "0.0038125"), "\(metadata)")
        }
        // OpenAI's: prompt_tokens_details.cached_tokens (the SDK's token_usage, Langfuse's usage_details). 400 × 2.5 + 600 × 1.25 + 200 × 10.
        let openAI = #"{"prompt_tokens": 1000, "completion_tokens": 200, "prompt_tokens_details": {"cached_tokens": 600}}"#
        let sdk: JSONValue = .object([.init("token_usage", try JSONParser.parse(Array(openAI.utf8)))])
        let langfuse: JSONValue = .object([.init("langfuse.observation.usage_details", .string(openAI))])
        for metadata in [sdk, langfuse] {
            #expect(budget.cost(of: makeEvent(model: "gpt-4o", metadata: metadata)) == Decimal(string: "0.00375"), "\(metadata)")
        }
        // Without cache prices, every input token is priced as input (Anthropic's cached ones included).
        #expect(budget.cost(of: makeEvent(model: "plain", metadata: genAI)) == Decimal(string: "0.0045"))
        #expect(budget.cost(of: makeEvent(model: "plain", metadata: anthropic)) == Decimal(string: "0.0045"))
        // The row says how many tokens were priced at a cache price.
        var event = makeEvent(model: "gpt-4o", metadata: genAI)
        budget.recordCost(in: &event)
        #expect(
            event.metadata["cost_basis"]
                == .object([
                    .init("price", .string("gpt-4o")), .init("cache_read_tokens", .number("600")),
                    .init("cache_write_tokens", .number("100")),
                ]))
    }

    @Test(
        "a model call's row records its cost and the price it used, or why it has none; a client-chained row, a row with a cost and a row that is no model call are left as sent"
    )
    func costRecordedInTheRow() throws {
        let budget = try processor(
            """
            daily_usd: { "*": 10 }
            prices:
              gpt-4o: { input: 2.5, output: 10 }
              "*": { input: 1, output: 1 }
            """)
        let usage: JSONValue = .object([.init("gen_ai.usage.input_tokens", .number("1000")), .init("gen_ai.usage.output_tokens", .number("200"))])
        func recorded(_ event: AuditEvent) -> JSONValue {
            var event = event
            budget.recordCost(in: &event)
            return event.metadata
        }
        #expect(recorded(makeEvent(model: "gpt-4o-2024-08-06", metadata: usage))["cost_usd"] == .number("0.0045"))
        #expect(recorded(makeEvent(model: "gpt-4o-2024-08-06", metadata: usage))["cost_basis"] == .object([.init("price", .string("gpt-4o"))]))
        #expect(
            recorded(makeEvent(model: "llama-3", metadata: usage))["cost_basis"]
                == .object([.init("price", .string("*")), .init("fallback", .bool(true))]))
        #expect(recorded(makeEvent(model: "gpt-4o"))["cost_basis"] == .object([.init("usage", .string("missing"))]))
        #expect(recorded(makeEvent(model: "gpt-4o"))["cost_usd"] == nil)
        let chained = makeEvent(model: "gpt-4o", metadata: usage, hmac: "client-hmac")
        #expect(recorded(chained) == chained.metadata, "a client's HMAC covers its metadata as sent")
        let costed: JSONValue = .object([.init("cost_usd", .number("0.5"))])
        #expect(recorded(makeEvent(model: "gpt-4o", metadata: costed)) == costed)
        #expect(recorded(makeEvent(metadata: usage)) == usage, "no model: not a model call")
        let unpriced = try processor("daily_usd: { \"*\": 10 }")
        var event = makeEvent(model: "gpt-4o", metadata: usage)
        unpriced.recordCost(in: &event)
        #expect(event.metadata["cost_basis"] == .object([.init("price", .string("none"))]))
    }

    @Test("without a price table, token usage costs nothing")
    func noPrices() throws {
        let budget = try processor("daily_usd: { \"*\": 10 }")
        #expect(budget.cost(of: makeEvent(model: "gpt-4o", metadata: .object([.init("gen_ai.usage.input_tokens", .number("1000"))]))) == nil)
    }

    @Test("a misspelled price key names the fix")
    func priceTypo() throws {
        let error = try #require(throws: ConfigError.self) { try processor("daily_usd: { a: 1 }\nprices: { m: { inptu: 1 } }") }
        #expect(error.key == "processors.budget.prices.m.inptu")
        #expect(error.fix.contains("input"))
    }
}
