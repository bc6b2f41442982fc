/// What the CUDA tests can use on this machine: NVRTC (found through NVRTC_LIB / CUDA_INCLUDE or a CUDA
/// toolkit) for the compile tests, and a device for the device tests — the real one when the driver sees
/// a GPU, else the CPU emulator built beside the tests (libCUDAEmulator.so), which runs the same kernel
/// sources on the host. Without NVRTC, or with neither, they are skipped.

import CUDABackend
import GPT2TestSupport
import Synchronization
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

enum CUDATestEnvironment {
    /// A compiler when NVRTC and its headers are found, else nil.
    static let compiler: NVRTCCompiler? = {
        guard let compiler = try? NVRTCCompiler(), !compiler.includeFolders.isEmpty else { return nil }
        return compiler
    }()

    static var hasNVRTC: Bool { compiler != nil }

    /// The emulator library SwiftPM built next to the test bundle.
    static let emulatorLibrary = buildProductsDirectory.appendingPathComponent("libCUDAEmulator.so").path

    /// The libraries the device tests open: the process's own settings when they reach a real GPU,
    /// otherwise the emulator in place of libcuda and libcuBLASLt. Either way the compiled kernels are cached in
    /// the tests' own cache folder (`TestPaths.cacheHome`) unless GPT2_KERNEL_CACHE names one.
    static let paths: CUDALibraryPaths = {
        var real = CUDALibraryPaths()
        real.environment["XDG_CACHE_HOME"] = TestPaths.cacheHome
        if CUDAAvailability.problem(paths: real) == nil { return real }
        var emulated = real
        emulated.environment["CUDA_DRIVER_LIB"] = emulatorLibrary
        emulated.environment["CUBLASLT_LIB"] = emulatorLibrary
        return emulated
    }()

    /// Whether `paths` lead to the emulator rather than a GPU.
    static var isEmulated: Bool { paths.environment["CUDA_DRIVER_LIB"] == emulatorLibrary }

    /// A device (real, or emulated with NVRTC to compile its kernels) the device tests can run on.
    static let hasDevice: Bool = CUDAAvailability.problem(paths: paths) == nil && (hasNVRTC || !isEmulated)

    static let deviceSkipReason: Comment = "needs a CUDA device, or NVRTC (NVRTC_LIB, CUDA_INCLUDE) for the CUDA emulator"

    /// Runs `body` with the emulator running every block's threads last to first (`reverse`) or first to last, through
    /// `cuemu_set_thread_order`, which it exports for tests (no setenv: other threads read the environment), then
    /// back to first to last. The order is one setting for the process: tests that set it, in parallel suites, take
    /// turns (one's reset, between another's setting and its launch, ran that launch in the other order).
    static func withEmulatedThreadOrder<T>(reverse: Bool, _ body: () throws -> T) throws -> T {
        typealias Setter = @convention(c) (Int32) -> Void
        let setOrder = unsafeBitCast(try emulatorFunction("cuemu_set_thread_order"), to: Setter.self)
        return try threadOrderTurn.withLock { _ in
            setOrder(reverse ? 1 : 0)
            defer { setOrder(0) }
            return try body()
        }
    }

    private static let threadOrderTurn = Mutex(())

    /// Makes the emulator's cuBLASLt heuristic find no algorithm with the epilogue `code` (a cublasLtEpilogue_t;
    /// 0 refuses none), as a GPU's cuBLASLt may for some shapes, through `cuemu_refuse_epilogue`.
    static func refuseEmulatedEpilogue(_ code: UInt32) throws {
        typealias Setter = @convention(c) (UInt32) -> Void
        unsafeBitCast(try emulatorFunction("cuemu_refuse_epilogue"), to: Setter.self)(code)
    }

    /// How the emulator's heuristic reports the refused epilogue, through `cuemu_set_refusal_form`: 0 with
    /// CUBLAS_STATUS_NOT_SUPPORTED, 1 with success and no result, 2 with success and one result whose `state` is
    /// CUBLAS_STATUS_NOT_SUPPORTED (cublasLt.h: a result is valid only if its state is success).
    static func setEmulatedRefusalForm(_ form: Int32) throws {
        typealias Setter = @convention(c) (Int32) -> Void
        unsafeBitCast(try emulatorFunction("cuemu_set_refusal_form"), to: Setter.self)(form)
    }

    /// Makes the emulator's next cublasLtMatmul return `status` (a cublasStatus_t; 0 cancels) without computing, as
    /// a GPU's does after a fault, through `cuemu_fail_next_matmul`.
    static func failNextEmulatedMatmul(status: Int32) throws {
        typealias Setter = @convention(c) (Int32) -> Void
        unsafeBitCast(try emulatorFunction("cuemu_fail_next_matmul"), to: Setter.self)(status)
    }

    private static func emulatorFunction(_ name: String) throws -> UnsafeMutableRawPointer {
        guard let handle = dlopen(emulatorLibrary, RTLD_NOW | RTLD_LOCAL), let symbol = dlsym(handle, name) else {
            throw CUDAError.missingSymbol(library: "the CUDA emulator", path: emulatorLibrary, symbol: name, variable: "CUDA_DRIVER_LIB")
        }
        return symbol
    }

    /// The architectures CI compiles for (Ampere A100, Ada L4/4090, Hopper H100).
    static let ciArchitectures = ["sm_80", "sm_89", "sm_90"]
}
