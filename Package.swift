// swift-tools-version:6.0
import PackageDescription

// Hot loops index buffers held in classes; dynamic exclusivity checks cost about 10% of ingest time
// (measured with perf on a 50 MB JSONL file), so release builds of our own modules turn them off.
let fast: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Reprise",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "reprise", targets: ["reprise"]),
        .library(name: "RepriseCore", targets: ["RepriseCore"]),
        .library(name: "RepriseIngest", targets: ["RepriseIngest"]),
        .library(name: "RepriseTokenizer", targets: ["RepriseTokenizer"]),
        .library(name: "ReprisePipeline", targets: ["ReprisePipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // System libraries (C shims). Only one Swift module imports each of them.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0",
                       providers: [.apt(["libxml2-dev"]), .brew(["libxml2"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),

        .target(name: "RepriseCore", dependencies: [
            "CZstd", "CZlib",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: fast),
        .target(name: "RepriseIngest", dependencies: ["RepriseCore", "CLibXML2"], swiftSettings: fast),
        .target(name: "RepriseTokenizer", dependencies: ["RepriseCore"], swiftSettings: fast),
        .target(name: "ReprisePipeline", dependencies: [
            "RepriseCore", "RepriseIngest", "RepriseTokenizer",
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "reprise", dependencies: [
            "RepriseCore", "RepriseIngest", "ReprisePipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "RepriseCoreTests", dependencies: ["RepriseCore"]),
        .testTarget(name: "RepriseIngestTests", dependencies: ["RepriseIngest", "RepriseCore"]),
        .testTarget(name: "RepriseTokenizerTests", dependencies: ["RepriseTokenizer", "RepriseCore"]),
        // Runs the real `reprise` binary (built by `swift build`, which Tools/test runs first).
        .testTarget(name: "RepriseCLITests", dependencies: ["RepriseCore"]),
    ]
)
