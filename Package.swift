// swift-tools-version:6.0
import PackageDescription

/// Release builds of the runtime target AVX2/FMA (x86-64-v3) on x86_64 hosts, where the
/// vectorised loops run twice as wide; SEGSERVE_PORTABLE=1 builds for baseline x86-64.
var runtimeFlags = ["-Ounchecked"]
#if arch(x86_64)
if Context.environment["SEGSERVE_PORTABLE"] == nil { runtimeFlags += ["-target-cpu", "haswell"] }
#endif

let package = Package(
    name: "segserve",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "segserve", targets: ["segserve"]),
        .executable(name: "segserve-bench", targets: ["segserve-bench"]),
        .library(name: "LDMSeg", targets: ["LDMSeg"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Tests only: writes the hostile archives the checkpoint reader is tested on.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // System libraries.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // zlib's CRC-32 (several GB/s) checks checkpoint records as they are read (the tests'
        // ZIPFoundation links zlib too, under its own module name).
        .systemLibrary(name: "CSystemZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libjpeg and libpng report errors by longjmp, which Swift cannot catch: small C shims do.
        .target(name: "CImageShims", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),

        // AVX-512 kernels, chosen at run time by CPU feature.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // Tensors, ops and safetensors on OpenBLAS.
        .target(name: "NNRuntime", dependencies: ["COpenBLAS", "CKernels"],
                swiftSettings: [.unsafeFlags(runtimeFlags, .when(configuration: .release))]),
        // PNG/JPEG codecs and pixel buffers.
        .target(name: "Imaging", dependencies: ["CPNG", "CImageShims"]),
        // The LDMSeg model: blocks, UNet, encoders, DDIM, post-processing, pipeline.
        .target(name: "LDMSeg", dependencies: ["NNRuntime", .product(name: "HeapModule", package: "swift-collections")]),
        // From a client's files to a result's files: input decoding, inpainting masks,
        // categories from semantic maps, the panoptic PNG, segments JSON and overlay.
        .target(name: "Pipeline", dependencies: ["LDMSeg", "Imaging"]),
        // Official PyTorch checkpoints to model directories, offline: a restricted unpickler,
        // the zip archive (read by its own checked reader: ZIPFoundation traps on hostile offsets),
        // the name mapping and the safetensors/config writers.
        .target(name: "Conversion", dependencies: ["NNRuntime", "CSystemZlib"]),
        // Panoptic quality as panopticapi computes it, semantic metrics: offline only.
        .target(name: "Evaluation", dependencies: ["Imaging"]),
        // HTTP/1.1 over POSIX sockets; knows nothing of segmentation.
        .target(name: "HTTPServer"),
        // Jobs, their inputs and results in SQLite (WAL): the durable queue.
        .target(name: "JobStore", dependencies: [
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // What the API and the workers share: the configuration, a job's options (one schema),
        // its callback address, the metrics.
        .target(name: "ServiceCore", dependencies: [
            "JobStore", "LDMSeg", "Pipeline", "NNRuntime",
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Yams", package: "Yams"),
        ]),
        // Runs jobs: the worker pool, leases, retention, callback deliveries; speaks no HTTP of its own.
        .target(name: "Worker", dependencies: [
            "ServiceCore", "JobStore", "LDMSeg", "Pipeline", "NNRuntime",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            // Callback deliveries: to the address checked, TLS verified for the name.
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // The HTTP API of openapi.yaml: routes, handlers, keys, the page, event streams; the one
        // layer that speaks HTTP.
        .target(name: "API", dependencies: [
            "ServiceCore", "HTTPServer", "JobStore", "LDMSeg", "Imaging", "Pipeline", "NNRuntime",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The service `segserve serve` runs: the API, the workers and the store wired together.
        .target(name: "Service", dependencies: [
            "API", "Worker", "ServiceCore", "HTTPServer", "JobStore", "LDMSeg", "Pipeline", "NNRuntime",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "segserve", dependencies: [
            "LDMSeg", "Imaging", "Pipeline", "Evaluation", "Service", "ServiceCore", "Conversion",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "segserve-bench", dependencies: [
            "NNRuntime", "LDMSeg", "Imaging",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Test targets: one per source target, added as each gains tests.
        .target(name: "TestSupport", dependencies: ["NNRuntime", "HTTPServer", "Imaging"], path: "Tests/TestSupport"),
        .testTarget(name: "NNRuntimeTests", dependencies: ["NNRuntime", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "NNRuntime"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LDMSegTests", dependencies: ["LDMSeg", "NNRuntime", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "LDMSeg", "Imaging"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation"]),
        .testTarget(name: "ConversionTests", dependencies: ["Conversion", "NNRuntime", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "TestSupport"]),
        .testTarget(name: "JobStoreTests", dependencies: ["JobStore", "TestSupport"]),
        .testTarget(name: "ServiceCoreTests", dependencies: ["ServiceCore", "TestSupport", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "APITests", dependencies: ["API", "ServiceCore", "HTTPServer", "JobStore", "LDMSeg", "Imaging", "Pipeline", "NNRuntime", "TestSupport"]),
        .testTarget(name: "ServiceTests", dependencies: [
            "Service", "API", "Worker", "ServiceCore", "HTTPServer", "JobStore", "LDMSeg", "Imaging", "Pipeline", "TestSupport",
            .product(name: "Yams", package: "Yams"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], resources: [.copy("Fixtures")]),
    ]
)
