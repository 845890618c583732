import FuzzSupport
import Config
import Exporters
import Pipeline
import CommitStages
import Processors

let environment = ["DATABASE_URL": "postgresql://fuzz@127.0.0.1/fuzz", "GOVERNANCE_AUDIT_SECRET": "fuzz-audit-secret-0123456789"]

/// The configuration loader: YAML into the line-numbered value tree, `${env:…}` expansion, and
/// every processor's and exporter's validation on its section (what `CollectorPlan.parse` does
/// for them). Any input must give settings or a ConfigError, never a crash.
@_cdecl("FuzzConfig_main")
public func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: bytes(data, count), as: UTF8.self)
    do {
        let root = try ConfigSection(
            path: "", file: "fuzz.yaml", value: ConfigValue.parse(yaml: text, file: "fuzz.yaml"),
            environment: environment, log: ProvenanceLog())
        for kind in ["processors", "exporters"] {
            guard let components = try? root.section(kind) else { continue }
            for id in components.keys {
                let type = String(id.split(separator: "/").first ?? "")
                guard let section = try? components.section(id) else { continue }
                if kind == "processors", let factory = BuiltInProcessors.all.first(where: { $0.type == type }) {
                    _ = try? factory.configure(section)
                } else if kind == "processors", let factory = BuiltInCommitStages.all.first(where: { $0.type == type }) {
                    _ = try? factory.component.configure(section)
                } else if let factory = BuiltInExporters.all.first(where: { $0.type == type }) {
                    _ = try? factory.configure(section)
                }
            }
        }
    } catch {
        _ = error.description
    }
    return 0
}
