/// Every kernel file compiles with NVRTC for the architectures CI targets, each exports the kernels the
/// backend will launch under their C names, and the on-disk cache hits on a repeat and keys by architecture.

import CUDABackend
import CUDAKernels
import Foundation
import GPT2
import GPT2TestSupport
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

@Suite(.enabled(if: CUDATestEnvironment.hasNVRTC, "needs NVRTC: set NVRTC_LIB (libnvrtc.so.*) and CUDA_INCLUDE (cuda_bf16.h)"))
struct KernelCompileTests {
    /// The `extern "C"` kernels each file must export; the host side launches them by these names.
    static let expectedKernels: [String: [String]] = [
        "adamw.cu": ["adamw_update"],
        "attention.cu": ["attention_forward", "attention_backward_preprocess", "attention_backward_dkv", "attention_backward_dq", "attention_forward_row"],
        "attention_tensor_cores.cu": [16, 32, 64, 128].flatMap {
            ["attention_forward_tc_hs\($0)", "attention_backward_dkv_tc_hs\($0)", "attention_backward_dq_tc_hs\($0)"]
        },
        "classifier.cu": ["classifier_forward_backward"],
        "elementwise.cu": ["residual_forward", "cast_float_to_bf16", "cast_bf16_to_float", "bias_forward", "bias_backward_partial", "partials_accumulate"],
        "encoder.cu": ["encoder_forward", "encoder_backward_wpe", "encoder_backward_wte"],
        "gelu.cu": ["gelu_forward", "gelu_backward"],
        "layernorm.cu": ["layernorm_forward", "residual_layernorm_forward", "layernorm_backward"],
        "norm.cu": ["norm_squared_partial", "norm_squared_final"],
    ]

    /// ... and no kernel spills registers to local memory there: a spill makes a kernel slow on every GPU, and
    /// only ptxas can tell without one.
    @Test(arguments: CUDATestEnvironment.ciArchitectures)
    func everyKernelFileCompilesToCubinWithoutSpills(architecture name: String) throws {
        let compiler = try #require(CUDATestEnvironment.compiler)
        let architecture = try #require(GPUArchitecture(name))
        for (file, source) in CUDAKernelSources.all {
            let compiled = try compiler.compile(file: file, source: source, for: architecture, reportingResources: true)
            #expect(compiled.image.starts(with: [0x7F, 0x45, 0x4C, 0x46]), "\(file): a cubin is an ELF file")
            #expect(Set(compiled.resources.map(\.kernel)) == Set(Self.expectedKernels[file] ?? []), "\(file): ptxas reported every kernel")
            for usage in compiled.resources {
                #expect(!usage.spills && usage.stackFrameBytes == 0,
                        "\(usage.kernel) (\(name)) spills: \(usage.spillStoreBytes) B stored, \(usage.spillLoadBytes) B loaded, \(usage.stackFrameBytes) B stack")
                #expect(usage.registers > 0 && usage.registers <= 255, "\(usage.kernel) (\(name)): \(usage.registers) registers")
            }
        }
    }

    /// An architecture this NVRTC does not compile for is refused before NVRTC runs, naming the ones it does and where
    /// to look: NVRTC's own error is a bare "invalid value for --gpu-architecture", once per kernel file.
    @Test(arguments: [("sm_12", "an older NVRTC"), ("sm_990", "a newer NVRTC")])
    func anArchitectureNVRTCDoesNotKnowIsRefusedWithTheOnesItDoes(architecture name: String, advice: String) throws {
        let compiler = try #require(CUDATestEnvironment.compiler)
        let supported = try #require(compiler.library.supportedArchitectures)
        #expect(CUDATestEnvironment.ciArchitectures.allSatisfy { name in supported.contains { "sm_\($0)" == name } }, "\(supported)")
        let source = try #require(CUDAKernelSources.source(named: "norm.cu"))
        let refused = try #require(throws: CUDAError.self) {
            try compiler.compile(file: "norm.cu", source: source, for: try #require(GPUArchitecture(name)))
        }
        let text = String(describing: refused)
        #expect(text.contains("does not compile for \(name), only for ") && text.contains("sm_80, ") && text.contains(advice), "\(text)")
        try compiler.requireSupport(for: try #require(GPUArchitecture("compute_90")))
    }

    /// The check above can fail: a kernel held to 64 registers per thread (blocks of 1024 threads) with 96
    /// values live at once spills, and ptxas says so.
    @Test func aKernelShortOfRegistersIsReportedAsSpilling() throws {
        let compiler = try #require(CUDATestEnvironment.compiler)
        let source = """
            extern "C" __global__ void __launch_bounds__(1024, 1) pressure(float* out, const float* in) {
                float v[96];
                #pragma unroll
                for (int i = 0; i < 96; i++) v[i] = in[threadIdx.x + i * 1024];
                float s = 0.0f;
                #pragma unroll
                for (int i = 0; i < 96; i++) s = fmaf(s, v[i], 1.0f);        // every value once forward …
                #pragma unroll
                for (int i = 95; i >= 0; i--) s = fmaf(s, v[i], 0.5f);       // … and again backward: all live at once
                out[threadIdx.x] = s;
            }
            """
        let compiled = try compiler.compile(file: "pressure.cu", source: source, for: GPUArchitecture(major: 8, minor: 9),
                                            reportingResources: true)
        let usage = try #require(compiled.resources.first)
        #expect(compiled.resources.count == 1 && usage.kernel == "pressure")
        #expect(usage.registers <= 64 && usage.spills, "\(usage)")
    }

    @Test func everyKernelIsExportedUnmangled() throws {
        let compiler = try #require(CUDATestEnvironment.compiler)
        #expect(Set(Self.expectedKernels.keys) == Set(CUDAKernelSources.all.map(\.name)))
        for (file, source) in CUDAKernelSources.all {
            let compiled = try compiler.compile(file: file, source: source, for: GPUArchitecture(major: 8, minor: 0, isVirtual: true))
            let ptx = String(decoding: compiled.image.prefix { $0 != 0 }, as: UTF8.self)
            for kernel in Self.expectedKernels[file] ?? [] {
                #expect(ptx.contains(".entry \(kernel)("), "\(file) does not export \(kernel)")
            }
        }
    }

    @Test func brokenKernelReportsFileAndLog() throws {
        let compiler = try #require(CUDATestEnvironment.compiler)
        #expect {
            _ = try compiler.compile(file: "broken.cu", source: "extern \"C\" __global__ void f() { undeclared(); }",
                                     for: GPUArchitecture(major: 9, minor: 0))
        } throws: { error in
            let text = "\(error)"
            return text.contains("broken.cu") && text.contains("sm_90") && text.contains("undeclared")
        }
    }

    @Test func cacheHitsOnRepeatAndKeysByArchitecture() throws {
        let compiler = try #require(CUDATestEnvironment.compiler)
        let folder = try TestPaths.temporaryDirectory("kernel-cache").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cache = KernelCache(folder: folder)
        let (file, source) = try #require(CUDAKernelSources.all.first { $0.name == "gelu.cu" })
        let sm89 = GPUArchitecture(major: 8, minor: 9), sm90 = GPUArchitecture(major: 9, minor: 0)

        let first = try cache.image(file: file, source: source, compiler: compiler, architecture: sm89)
        let second = try cache.image(file: file, source: source, compiler: compiler, architecture: sm89)
        #expect(!first.fromCache)
        #expect(second.fromCache)
        #expect(second.image == first.image)
        // one flipped bit in the stored image: the entry no longer matches its checksum, and is compiled again
        let path = cache.path(file: file, architecture: sm89, key: cache.key(file: file, source: source, compiler: compiler, architecture: sm89))
        var entry = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(entry.count == first.image.count + 8)
        entry[entry.count / 2] ^= 0x10
        try Data(entry).write(to: URL(fileURLWithPath: path))
        let third = try cache.image(file: file, source: source, compiler: compiler, architecture: sm89)
        #expect(!third.fromCache && third.replacedDamagedEntry && third.image == first.image)
        #expect(try cache.image(file: file, source: source, compiler: compiler, architecture: sm89).fromCache)

        let other = try cache.image(file: file, source: source, compiler: compiler, architecture: sm90)
        #expect(!other.fromCache, "a different architecture must not reuse the sm_89 image")
        #expect(cache.key(file: file, source: source, compiler: compiler, architecture: sm89)
                != cache.key(file: file, source: source, compiler: compiler, architecture: sm90))
    }
}

@Suite struct KernelCacheKeyTests {
    @Test func keyCoversSourceHeadersOptionsAndVersion() {
        func key(source: String = "a", header: String = "h", options: [String] = ["--gpu-architecture=sm_90"],
                 version: String = "13.0") -> String {
            KernelCache.key(file: "x.cu", source: source, headers: [("common.cuh", header)], options: options, nvrtcVersion: version)
        }
        let base = key()
        #expect(base.count == 64)
        #expect(key() == base)
        #expect(key(source: "b") != base)
        #expect(key(header: "h2") != base)
        #expect(key(options: ["--gpu-architecture=sm_89"]) != base)
        #expect(key(version: "13.1") != base)
        // Each part is hashed apart from the next: the same characters split differently give another key.
        #expect(KernelCache.key(file: "ab", source: "c", headers: [], options: [], nvrtcVersion: "13.0")
                != KernelCache.key(file: "a", source: "bc", headers: [], options: [], nvrtcVersion: "13.0"))
    }
}

/// ptxas's verbose log, parsed without NVRTC: the lines as ptxas (CUDA 13) prints them.
struct KernelResourceUsageTests {
    @Test func parsesRegistersSpillsStackAndSharedMemoryPerKernel() {
        let log = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Compiling entry function 'bias_backward_partial' for 'sm_89'
            ptxas info    : Function properties for bias_backward_partial
            ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 29 registers, used 1 barriers, 1024 bytes smem, 376 bytes cmem[0]
            ptxas info    : Compile time = 6.867 ms
            ptxas info    : Compiling entry function 'heavy' for 'sm_89'
            ptxas info    : Function properties for heavy
            ptxas         .     96 bytes stack frame, 88 bytes spill stores, 84 bytes spill loads
            ptxas info    : Used 32 registers, used 0 barriers, 380 bytes cmem[0], 16 bytes cmem[2]
            """
        #expect(KernelResourceUsage.parse(ptxasLog: log) == [
            KernelResourceUsage(kernel: "bias_backward_partial", registers: 29, staticSharedBytes: 1024),
            KernelResourceUsage(kernel: "heavy", registers: 32, spillStoreBytes: 88, spillLoadBytes: 84, stackFrameBytes: 96),
        ])
        #expect(!KernelResourceUsage.parse(ptxasLog: log)[0].spills && KernelResourceUsage.parse(ptxasLog: log)[1].spills)
        #expect(KernelResourceUsage.parse(ptxasLog: "").isEmpty)
        // Either kind of spill alone is a spill.
        #expect(KernelResourceUsage(kernel: "k", registers: 1, spillStoreBytes: 4).spills)
        #expect(KernelResourceUsage(kernel: "k", registers: 1, spillLoadBytes: 4).spills)
    }
}
