// swift-tools-version:6.1
import PackageDescription

/// Release builds are whole-module optimised at -O, which keeps `precondition`s: they guard internal invariants (a
/// tensor's bounds, a GPU scratch buffer's size) that -Ounchecked removes. -O measured as fast for the tokenizer and
/// the data path (BENCHMARKS.md, "Release builds at -O").
let fast: [SwiftSetting] = [.unsafeFlags(["-O", "-wmo"], .when(configuration: .release))]

/// The CPU backend's release build keeps -Ounchecked (its AdamW ran ~9 % slower at -O; its shapes are checked in the
/// debug builds the tests use), and it is optimised in debug builds too: its SIMD loops run ~30× slower at -Onone,
/// which made every model-sized test (the real 50257-token classifier) take minutes. `-enable-testing` still applies.
let optimizedEvenInDebug: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
                                            .unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "gpt2-swift",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gpt2", targets: ["GPT2CLI"]),
        .library(name: "GPT2", targets: ["GPT2"]),
        // The CUDA emulator: a CPU stand-in for libcuda and libcublasLt that runs the kernel sources on the
        // host, so the CUDA backend's tests run without a GPU (CUDA_DRIVER_LIB / CUBLASLT_LIB point at it).
        .library(name: "CUDAEmulator", type: .dynamic, targets: ["CUDAEmulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .plugin(name: "EmbedBuildInfo", capability: .buildTool()),   // BuildInfo.swift: the commit being built
        .target(name: "GPT2", swiftSettings: fast, plugins: ["EmbedBuildInfo"]),
        .target(name: "CPUBackend", dependencies: ["GPT2", "COpenBLAS"], swiftSettings: optimizedEvenInDebug),
        // CUDA: no link dependency. CCUDA declares the types; CUDABackend dlopens the libraries at run time.
        .target(name: "CCUDA"),
        .executableTarget(name: "EmbedKernelsTool", path: "Plugins/EmbedKernelsTool"),
        .plugin(name: "EmbedKernels", capability: .buildTool(), dependencies: ["EmbedKernelsTool"]),
        .target(name: "CUDAKernels", plugins: ["EmbedKernels"]),   // Kernels/*.cu → CUDAKernelSources
        .target(name: "CUDABackend", dependencies: ["GPT2", "CCUDA", "CUDAKernels"], swiftSettings: fast),
        // C++: the kernels compiled for the host (device/ stands in for CUDA's headers), optimised in debug
        // builds too, since the CUDA tests run whole training steps through it.
        .target(
            name: "CUDAEmulator", dependencies: ["CCUDA"],
            exclude: ["checks"],   // kernels that break the rules, #included by Kernels.cpp, compiled by the tests
            cxxSettings: [.headerSearchPath("device"), .unsafeFlags(["-O2", "-fno-strict-aliasing", "-Wno-unknown-pragmas"])]),
        // The CUDA-vs-CPU parity checks, shared by CUDABackendTests and `gpt2 selftest cuda`.
        .target(name: "CUDAParity", dependencies: ["GPT2", "CPUBackend", "CUDABackend"], swiftSettings: fast),
        .executableTarget(
            name: "GPT2CLI",
            dependencies: [
                "GPT2", "CPUBackend", "CUDABackend", "CUDAParity", "COpenBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast),
        .target(name: "GPT2TestSupport", dependencies: ["GPT2"], path: "Tests/GPT2TestSupport"),
        .testTarget(name: "GPT2Tests", dependencies: ["GPT2", "GPT2TestSupport"]),
        .testTarget(
            name: "CPUBackendTests", dependencies: ["CPUBackend", "GPT2", "GPT2TestSupport"],
            exclude: ["Fixtures"]),   // read through #filePath; written by scripts/gpt2_reference.py
        .testTarget(
            name: "CUDABackendTests",
            dependencies: ["CUDABackend", "CUDAKernels", "CUDAParity", "CPUBackend", "GPT2", "GPT2TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["GPT2CLI", "GPT2TestSupport", "CUDAKernels"]),
    ],
    cxxLanguageStandard: .cxx17
)
