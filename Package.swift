// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "governance-collector",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "governance-collector", targets: ["governance-collector"]),
        .executable(name: "governance-bench", targets: ["governance-bench"]),
        .library(name: "Collector", targets: ["Collector"]),
    ],
    traits: [
        .trait(name: "PlatformBridge", description: "The platform_bridge exporter (needs libcurl)."),
        .default(enabledTraits: ["PlatformBridge"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
    ],
    targets: [
        // C libraries required by the design card.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),

        // Typed configuration: YAML + environment + defaults, with provenance and validation.
        .target(name: "Config", dependencies: [.product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // Event model, JSON that keeps number text, component protocols, fan-out.
        .target(name: "Pipeline", dependencies: [
            "Config",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),
        .target(name: "CurlHTTP", dependencies: ["CCurl"], swiftSettings: strict),
        .target(name: "Processors", dependencies: ["Pipeline", "Config"], swiftSettings: strict),
        .target(name: "Exporters", dependencies: [
            "Pipeline", "Config", "CLibPQ",
            .target(name: "CurlHTTP", condition: .when(traits: ["PlatformBridge"])),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),
        .target(name: "Receivers", dependencies: [
            "Pipeline", "Config",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),
        // The embeddable collector: factory registry of built-in components + service group.
        .target(name: "Collector", dependencies: [
            "Pipeline", "Config", "Receivers", "Processors", "Exporters",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // Throwaway PostgreSQL clusters for tests and the benchmark.
        .target(name: "LocalPostgres", dependencies: ["Exporters"], swiftSettings: strict),
        // A real platform ingest endpoint (and a test CA) for tests and the benchmark.
        .target(name: "PlatformPeer", dependencies: [
            "Pipeline", "LocalPostgres",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),
        .executableTarget(name: "governance-collector", dependencies: [
            "Collector",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        .executableTarget(name: "governance-bench", dependencies: [
            "Collector", "LocalPostgres", "CurlHTTP", "Processors", "PlatformPeer",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline"], swiftSettings: strict),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "Collector", "Receivers"], swiftSettings: strict),
        .testTarget(name: "ProcessorTests", dependencies: ["Processors", "Pipeline", "Config"], swiftSettings: strict),
        .testTarget(name: "BridgeTests", dependencies: ["Exporters", "Config", "Pipeline"], swiftSettings: strict),
        // Integration: real PostgreSQL clusters, real sockets, the real binary.
        .testTarget(name: "CollectorTests", dependencies: [
            "Collector", "Config", "LocalPostgres", "CurlHTTP", "Exporters", "Receivers", "PlatformPeer",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
    ]
)
