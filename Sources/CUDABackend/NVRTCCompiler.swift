/// Compiles one CUDA C++ kernel file with NVRTC: to a cubin for a real architecture (`sm_89`) or to PTX
/// for a virtual one (`compute_89`), with the embedded headers handed over in memory.

import CCUDA
import CUDAKernels

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A GPU architecture NVRTC can target: `sm_XY` (real: a cubin the driver loads as is) or `compute_XY`
/// (virtual: PTX the driver compiles when loading it).
public struct GPUArchitecture: Hashable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    /// Whether NVRTC emits PTX (`compute_XY`) rather than a cubin (`sm_XY`).
    public var isVirtual: Bool
    /// An `a` suffix (`sm_90a`): architecture-specific features, no forward compatibility.
    public var isSpecific: Bool = false

    public init(major: Int, minor: Int, isVirtual: Bool = false) {
        self.major = major
        self.minor = minor
        self.isVirtual = isVirtual
    }

    /// Parses `sm_89`, `sm_90a`, `compute_80`; nil for anything else.
    public init?(_ text: String) {
        let virtual = text.hasPrefix("compute_")
        guard virtual || text.hasPrefix("sm_") else { return nil }
        var digits = text.drop { $0 != "_" }.dropFirst()
        let specific = digits.hasSuffix("a")
        if specific { digits = digits.dropLast() }
        guard digits.count >= 2, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let major = Int(String(digits.dropLast())), let minor = Int(String(digits.suffix(1))) else { return nil }
        self.init(major: major, minor: minor, isVirtual: virtual)
        isSpecific = specific
    }

    /// The name NVRTC takes (`sm_89`).
    public var description: String { "\(isVirtual ? "compute" : "sm")_\(major)\(minor)\(isSpecific ? "a" : "")" }
    /// What NVRTC produces for it.
    public var outputKind: String { isVirtual ? "ptx" : "cubin" }
}

/// The result of compiling one kernel file.
public struct CompiledKernel: Sendable {
    public var file: String
    public var architecture: GPUArchitecture
    /// The cubin, or the PTX text with its terminating NUL (as `cuModuleLoadData` wants it).
    public var image: [UInt8]
    /// Wall-clock seconds NVRTC took (0 when the image came from the cache).
    public var seconds: Double
    /// Whether the image came from the on-disk cache.
    public var fromCache: Bool
    /// Each kernel's registers, spills and static shared memory, when asked for (cubins only).
    public var resources: [KernelResourceUsage] = []
    /// Why a freshly compiled image could not be stored in the kernel cache (a folder that cannot be written), so that
    /// every run compiles it again; nil when it was stored or was not to be.
    public var notCached: String?
    /// Whether it was compiled in place of a cache entry whose checksum did not match (changed on disk, cut short).
    public var replacedDamagedEntry = false
}

/// NVRTC plus the compile options and headers every kernel file gets.
public final class NVRTCCompiler: @unchecked Sendable {
    public let library: NVRTCLibrary
    /// Folders holding NVRTC's own headers (cuda_bf16.h, math_constants.h).
    public let includeFolders: [String]
    /// Headers given to NVRTC in memory, by the name kernels `#include` ("common.cuh").
    public let headers: [(name: String, source: String)]

    public init(library: NVRTCLibrary, includeFolders: [String],
                headers: [(name: String, source: String)] = CUDAKernelSources.headers) {
        self.library = library
        self.includeFolders = includeFolders
        self.headers = headers
    }

    /// NVRTC and the include folders found from the environment (see `CUDALibraryPaths`); with `driverVersion`, an
    /// NVRTC whose CUDA that driver runs where there is one (`NVRTCLibrary`).
    public convenience init(paths: CUDALibraryPaths = CUDALibraryPaths(), driverVersion: Int? = nil) throws {
        self.init(library: try NVRTCLibrary(paths: paths, driverVersion: driverVersion), includeFolders: paths.includeFolders)
    }

    /// "13.0" — part of every cache key.
    public var version: String { "\(library.version.major).\(library.version.minor)" }

    /// The options for `architecture`. No `--use_fast_math`: it would also make the fp32 parts (AdamW on the
    /// master weights, LayerNorm statistics, the loss, norms) approximate and flush denormals, loosening the
    /// parity tests against the CPU backend. Where an exponential's error of a few fp32 ulp is far below bf16's
    /// resolution, kernels ask for the fast one explicitly: attention.cu calls `__expf`; attention_tensor_cores.cu and
    /// classifier.cu call `exp2_approx` (common.cuh: one PTX ex2.approx.ftz, log2(e) folded into a scale they apply anyway).
    public func options(for architecture: GPUArchitecture) -> [String] {
        ["--gpu-architecture=\(architecture)", "-std=c++17"] + includeFolders.map { "-I\($0)" }
    }

    /// Throws unless this NVRTC compiles for `architecture`, naming the ones it does: asked for another, NVRTC
    /// fails every kernel file with a bare "invalid value for --gpu-architecture".
    public func requireSupport(for architecture: GPUArchitecture) throws {
        let number = 10 * architecture.major + architecture.minor
        guard let supported = library.supportedArchitectures, let names = library.supportedArchitectureNames,
              let oldest = supported.first, let newest = supported.last, !supported.contains(number) else { return }
        let elsewhere = number > newest ? "a newer NVRTC (NVRTC_LIB or CUDA_HOME) may know it"
                                        : number < oldest ? "an older NVRTC (NVRTC_LIB or CUDA_HOME) may know it" : "no NVRTC knows it"
        throw CUDAError.library(call: "NVRTC \(version) (\(library.path))",
                                message: "it does not compile for \(architecture), only for \(names); \(elsewhere)")
    }

    /// Compiles the kernel file `file` (its text `source`) for `architecture`; a failure carries NVRTC's log.
    /// With `reportingResources` (and a real architecture), ptxas also reports each kernel's resources.
    public func compile(file: String, source: String, for architecture: GPUArchitecture,
                        reportingResources: Bool = false) throws -> CompiledKernel {
        try requireSupport(for: architecture)
        let start = monotonicSeconds()
        var program: nvrtcProgram? = nil
        let created = withCStrings(headers.map(\.source)) { sources in
            withCStrings(headers.map(\.name)) { names in
                library.createProgram(&program, source, file, Int32(headers.count), sources, names)
            }
        }
        guard created == 0, program != nil else {
            throw CUDAError.library(call: "nvrtcCreateProgram(\(file))", message: library.message(created))
        }
        defer { _ = library.destroyProgram(&program) }

        let verbose = reportingResources && !architecture.isVirtual
        let options = options(for: architecture) + (verbose ? ["--ptxas-options=-v"] : [])
        let compiled = withCStrings(options) { library.compileProgram(program, Int32(options.count), $0) }
        guard compiled == 0 else {
            let log = programLog(program)
            throw CUDAError.compilation(file: file, architecture: architecture.description,
                                        log: log.isEmpty ? library.message(compiled) : log)
        }
        let image = try output(of: program, virtual: architecture.isVirtual)
        return CompiledKernel(file: file, architecture: architecture, image: image, seconds: monotonicSeconds() - start,
                              fromCache: false,
                              resources: verbose ? KernelResourceUsage.parse(ptxasLog: programLog(program)) : [])
    }

    private func programLog(_ program: nvrtcProgram?) -> String {
        var size = 0
        guard library.getProgramLogSize(program, &size) == 0, size > 1 else { return "" }
        var log = [CChar](repeating: 0, count: size)
        _ = library.getProgramLog(program, &log)
        return String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func output(of program: nvrtcProgram?, virtual: Bool) throws -> [UInt8] {
        var size = 0
        let sized = virtual ? library.getPTXSize(program, &size) : library.getCUBINSize(program, &size)
        guard sized == 0 else { throw CUDAError.library(call: "nvrtcGet\(virtual ? "PTX" : "CUBIN")Size", message: library.message(sized)) }
        var image = [UInt8](repeating: 0, count: size)
        let got = image.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: size) {
                virtual ? library.getPTX(program, $0) : library.getCUBIN(program, $0)
            }
        }
        guard got == 0 else { throw CUDAError.library(call: "nvrtcGet\(virtual ? "PTX" : "CUBIN")", message: library.message(got)) }
        return image
    }
}

/// Calls `body` with a C array of NUL-terminated copies of `strings`, valid only during the call.
func withCStrings<Result>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> Result) -> Result {
    let copies = strings.map { UnsafePointer<CChar>(strdup($0)) }
    defer { copies.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
    return copies.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Seconds on a monotonic clock, for timing.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}
