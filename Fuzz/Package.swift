// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets for the collector's parsers of untrusted input. Built only by
// scripts/fuzz.sh, with `-sanitize=fuzzer,address -parse-as-library` (libFuzzer supplies main).
// The OTLP, ingest and SSRF-policy targets need no HTTP server; FuzzConfig and FuzzDestinationPolicy
// link Exporters, which brings SwiftNIO in through the OTLP/gRPC exporter (about 8 minutes of
// sanitizer build on two cores).
let package = Package(
    name: "governance-collector-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "governance-collector", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzIngestJSON", dependencies: ["FuzzSupport", .product(name: "Pipeline", package: "governance-collector")]),
        .executableTarget(name: "FuzzOTLPProtobuf", dependencies: ["FuzzSupport", .product(name: "OTLP", package: "governance-collector")]),
        .executableTarget(name: "FuzzOTLPJSON", dependencies: ["FuzzSupport", .product(name: "OTLP", package: "governance-collector")]),
        .executableTarget(name: "FuzzOTLPTracesProtobuf", dependencies: ["FuzzSupport", .product(name: "OTLP", package: "governance-collector")]),
        .executableTarget(name: "FuzzOTLPTracesJSON", dependencies: ["FuzzSupport", .product(name: "OTLP", package: "governance-collector")]),
        .executableTarget(
            name: "FuzzConfig",
            dependencies: [
                "FuzzSupport",
                .product(name: "Config", package: "governance-collector"),
                .product(name: "Processors", package: "governance-collector"),
                .product(name: "CommitStages", package: "governance-collector"),
                .product(name: "Exporters", package: "governance-collector"),
            ]),
        .executableTarget(
            name: "FuzzDestinationPolicy", dependencies: ["FuzzSupport", .product(name: "Exporters", package: "governance-collector")]),
    ]
)
