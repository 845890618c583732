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
        let budget = try processor("""
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
