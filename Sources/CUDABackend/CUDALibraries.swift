/// Opens the CUDA driver (libcuda), NVRTC and cuBLASLt with dlopen at run time, so the binary links none
/// of them; each library type resolves the symbols it uses, and a missing library is reported by name.

import CCUDA
import GPT2

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// An opened shared library: the handle and the path it was opened from.
struct SharedLibrary: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    let path: String
    let name: String
    /// The environment variable that can name it (`NVRTC_LIB`, …), which an error about it names.
    let variable: String
    /// The candidates before `path` that loaded but were not preferred (see `open`).
    var passedOver: [String] = []

    /// Opens the first of `candidates` (a path, or a soname searched the usual way) that loads and that `preferred`
    /// accepts, else the first that loads.
    static func open(_ name: String, variable: String, candidates: [String], hint: String,
                     preferred: (SharedLibrary) -> Bool = { _ in true }) throws -> SharedLibrary {
        var reason: String?   // the first candidate's failure: the most specific one
        var first: SharedLibrary?
        var passedOver: [String] = []
        for candidate in candidates {
            guard let handle = dlopen(candidate, RTLD_NOW | RTLD_LOCAL) else {
                if reason == nil { reason = dlerror().map { String(cString: $0) } ?? "dlopen failed" }
                continue
            }
            var library = SharedLibrary(handle: handle, path: candidate, name: name, variable: variable)
            if preferred(library) {
                if let first { dlclose(first.handle) }
                library.passedOver = passedOver
                return library
            }
            passedOver.append(candidate)
            if first == nil { first = library } else { dlclose(handle) }
        }
        if let first { return first }
        throw CUDAError.libraryNotFound(library: name, tried: candidates, reason: reason ?? "no candidate", hint: hint)
    }

    /// Whether a library of CUDA `major` runs on a driver of CUDA `driverVersion` (13000 for 13.0), or nil for no
    /// driver: a library needs a driver of its major version or later; minor versions are compatible within one.
    static func runs(major: Int, onDriver driverVersion: Int?) -> Bool {
        driverVersion.map { major <= $0 / 1000 } ?? true
    }

    /// The function `symbol`, cast to its C function-pointer type.
    func function<Function>(_ symbol: String, as type: Function.Type) throws -> Function {
        guard let address = dlsym(handle, symbol) else {
            throw CUDAError.missingSymbol(library: name, path: path, symbol: symbol, variable: variable)
        }
        return unsafeBitCast(address, to: type)
    }
}

/// NVRTC's entry points.
public final class NVRTCLibrary: @unchecked Sendable {
    let library: SharedLibrary
    let getErrorString: PFN_nvrtcGetErrorString
    let createProgram: PFN_nvrtcCreateProgram
    let destroyProgram: PFN_nvrtcDestroyProgram
    let compileProgram: PFN_nvrtcCompileProgram
    let getPTXSize: PFN_nvrtcGetPTXSize
    let getPTX: PFN_nvrtcGetPTX
    let getCUBINSize: PFN_nvrtcGetCUBINSize
    let getCUBIN: PFN_nvrtcGetCUBIN
    let getProgramLogSize: PFN_nvrtcGetProgramLogSize
    let getProgramLog: PFN_nvrtcGetProgramLog
    /// NVRTC's version, as (major, minor).
    public let version: (major: Int, minor: Int)
    /// The architectures it compiles for, as 10·major + minor (89 for sm_89), ascending; nil when it cannot say.
    public let supportedArchitectures: [Int]?
    /// `supportedArchitectures` as NVRTC names them ("sm_75, sm_80, …"); nil when it cannot say.
    public var supportedArchitectureNames: String? {
        supportedArchitectures.map { $0.map { "sm_\($0)" }.joined(separator: ", ") }
    }
    /// The file it was opened from.
    public var path: String { library.path }
    /// NVRTCs found before it that were passed over, being of a CUDA newer than the driver's.
    public var passedOver: [String] { library.passedOver }
    /// Whether `driver` runs its CUDA (a major version newer than the driver's is not promised to load its kernels).
    public func runs(on driver: CUDADriver) -> Bool { SharedLibrary.runs(major: version.major, onDriver: driver.version) }

    /// Opens NVRTC from `paths`; with `driverVersion` (the driver's CUDA, 12040 for 12.4), the first found whose CUDA
    /// that driver runs (CUDA 12's where CUDA 13's is found too and the driver is 12.x), else the first found.
    public init(paths: CUDALibraryPaths = CUDALibraryPaths(), driverVersion: Int? = nil) throws {
        library = try SharedLibrary.open(
            "NVRTC (libnvrtc)", variable: "NVRTC_LIB", candidates: paths.nvrtc,
            hint: paths.hint(variable: "NVRTC_LIB", library: "a libnvrtc.so.13") ?? "Set CUDA_HOME to a CUDA toolkit, or "
                + CUDALibraryPaths.wheelAdvice + " (or set NVRTC_LIB to a libnvrtc.so.13 and CUDA_INCLUDE to the folder holding cuda_bf16.h)",
            preferred: { SharedLibrary.runs(major: (try? Self.version(of: $0))?.major ?? 0, onDriver: driverVersion) })
        // NVRTC dlopens libnvrtc-builtins by soname at compile time. Some wheels carry no RPATH, so load the
        // copy next to libnvrtc first; the later dlopen by soname then finds it already loaded.
        Self.preloadBuiltins(nextTo: library.path)
        getErrorString = try library.function("nvrtcGetErrorString", as: PFN_nvrtcGetErrorString.self)
        createProgram = try library.function("nvrtcCreateProgram", as: PFN_nvrtcCreateProgram.self)
        destroyProgram = try library.function("nvrtcDestroyProgram", as: PFN_nvrtcDestroyProgram.self)
        compileProgram = try library.function("nvrtcCompileProgram", as: PFN_nvrtcCompileProgram.self)
        getPTXSize = try library.function("nvrtcGetPTXSize", as: PFN_nvrtcGetPTXSize.self)
        getPTX = try library.function("nvrtcGetPTX", as: PFN_nvrtcGetPTX.self)
        getCUBINSize = try library.function("nvrtcGetCUBINSize", as: PFN_nvrtcGetCUBINSize.self)
        getCUBIN = try library.function("nvrtcGetCUBIN", as: PFN_nvrtcGetCUBIN.self)
        getProgramLogSize = try library.function("nvrtcGetProgramLogSize", as: PFN_nvrtcGetProgramLogSize.self)
        getProgramLog = try library.function("nvrtcGetProgramLog", as: PFN_nvrtcGetProgramLog.self)
        version = try Self.version(of: library)
        supportedArchitectures = Self.supportedArchitectures(of: library)
    }

    /// What `nvrtcVersion` of `library` says.
    private static func version(of library: SharedLibrary) throws -> (major: Int, minor: Int) {
        let function = try library.function("nvrtcVersion", as: PFN_nvrtcVersion.self)
        var major: Int32 = 0, minor: Int32 = 0
        _ = function(&major, &minor)
        return (Int(major), Int(minor))
    }

    private static func supportedArchitectures(of library: SharedLibrary) -> [Int]? {
        guard let count = try? library.function("nvrtcGetNumSupportedArchs", as: PFN_nvrtcGetNumSupportedArchs.self),
              let list = try? library.function("nvrtcGetSupportedArchs", as: PFN_nvrtcGetSupportedArchs.self) else { return nil }
        var n: Int32 = 0
        guard count(&n) == 0, n > 0 else { return nil }
        var architectures = [Int32](repeating: 0, count: Int(n))
        guard list(&architectures) == 0 else { return nil }
        return architectures.map(Int.init).sorted()
    }

    /// NVRTC's message for `result`.
    func message(_ result: nvrtcResult) -> String {
        getErrorString(result).map { String(cString: $0) } ?? "NVRTC error \(result)"
    }

    private static func preloadBuiltins(nextTo path: String) {
        guard path.contains("/") else { return }
        let folder = FileSystem.directoryName(path)
        for name in FileSystem.contents(of: folder) ?? [] where name.hasPrefix("libnvrtc-builtins.so") {
            _ = dlopen(folder + "/" + name, RTLD_NOW | RTLD_GLOBAL)
        }
    }
}

/// cuBLASLt's entry points: the handle, and the GEMM descriptors, heuristics and matmul the backend uses.
public final class CUBLASLtLibrary: @unchecked Sendable {
    let library: SharedLibrary
    let create: PFN_cublasLtCreate
    let destroy: PFN_cublasLtDestroy
    let getStatusString: PFN_cublasLtGetStatusString?
    let matmulDescCreate: PFN_cublasLtMatmulDescCreate
    let matmulDescDestroy: PFN_cublasLtMatmulDescDestroy
    let matmulDescSetAttribute: PFN_cublasLtMatmulDescSetAttribute
    let matrixLayoutCreate: PFN_cublasLtMatrixLayoutCreate
    let matrixLayoutDestroy: PFN_cublasLtMatrixLayoutDestroy
    let preferenceCreate: PFN_cublasLtMatmulPreferenceCreate
    let preferenceDestroy: PFN_cublasLtMatmulPreferenceDestroy
    let preferenceSetAttribute: PFN_cublasLtMatmulPreferenceSetAttribute
    let algoGetHeuristic: PFN_cublasLtMatmulAlgoGetHeuristic
    let matmul: PFN_cublasLtMatmul
    /// The library's version as one number (e.g. 130100 for 13.1.0).
    public let version: Int
    /// The CUDA major version it belongs to (13 for 130100), which the driver must run.
    public var cudaMajor: Int { version / 10000 }
    /// "13.1.0" for 130100.
    public var versionString: String { "\(version / 10000).\(version / 100 % 100).\(version % 100)" }

    /// Why it cannot run on `driver`, or nil when it can: a CUDA library needs a driver of its major version or later
    /// (minor versions are compatible within one).
    public func incompatibility(with driver: CUDADriver) -> CUDAError? {
        SharedLibrary.runs(major: cudaMajor, onDriver: driver.version)
            ? nil : .driverTooOld(library: "cuBLASLt", path: path, libraryCUDA: cudaMajor, driverVersion: driver.version,
                                  variable: namedByVariable ? "CUBLASLT_LIB" : nil)
    }

    /// Whether CUBLASLT_LIB named it, which stops the search for another (one a driver can run).
    private let namedByVariable: Bool

    public var path: String { library.path }
    /// cuBLASLts found before it that were passed over, being of a CUDA newer than the driver's.
    public var passedOver: [String] { library.passedOver }

    /// Opens cuBLASLt from `paths`; with `driverVersion` (the driver's CUDA, 12040 for 12.4), the first found whose CUDA
    /// that driver runs, else the first found (which `incompatibility(with:)` then names).
    public init(paths: CUDALibraryPaths = CUDALibraryPaths(), driverVersion: Int? = nil) throws {
        namedByVariable = paths.environment["CUBLASLT_LIB"].map { !$0.isEmpty } ?? false
        library = try SharedLibrary.open(
            "cuBLASLt (libcublasLt)", variable: "CUBLASLT_LIB", candidates: paths.cublasLt,
            hint: paths.hint(variable: "CUBLASLT_LIB", library: "a libcublasLt.so.13")
                ?? "Set CUDA_HOME to a CUDA toolkit, or " + CUDALibraryPaths.wheelAdvice + " (or set CUBLASLT_LIB to a libcublasLt.so.13)",
            preferred: { SharedLibrary.runs(major: ((try? Self.version(of: $0)) ?? 0) / 10000, onDriver: driverVersion) })
        create = try library.function("cublasLtCreate", as: PFN_cublasLtCreate.self)
        destroy = try library.function("cublasLtDestroy", as: PFN_cublasLtDestroy.self)
        getStatusString = try? library.function("cublasLtGetStatusString", as: PFN_cublasLtGetStatusString.self)
        matmulDescCreate = try library.function("cublasLtMatmulDescCreate", as: PFN_cublasLtMatmulDescCreate.self)
        matmulDescDestroy = try library.function("cublasLtMatmulDescDestroy", as: PFN_cublasLtMatmulDescDestroy.self)
        matmulDescSetAttribute = try library.function("cublasLtMatmulDescSetAttribute", as: PFN_cublasLtMatmulDescSetAttribute.self)
        matrixLayoutCreate = try library.function("cublasLtMatrixLayoutCreate", as: PFN_cublasLtMatrixLayoutCreate.self)
        matrixLayoutDestroy = try library.function("cublasLtMatrixLayoutDestroy", as: PFN_cublasLtMatrixLayoutDestroy.self)
        preferenceCreate = try library.function("cublasLtMatmulPreferenceCreate", as: PFN_cublasLtMatmulPreferenceCreate.self)
        preferenceDestroy = try library.function("cublasLtMatmulPreferenceDestroy", as: PFN_cublasLtMatmulPreferenceDestroy.self)
        preferenceSetAttribute = try library.function("cublasLtMatmulPreferenceSetAttribute", as: PFN_cublasLtMatmulPreferenceSetAttribute.self)
        algoGetHeuristic = try library.function("cublasLtMatmulAlgoGetHeuristic", as: PFN_cublasLtMatmulAlgoGetHeuristic.self)
        matmul = try library.function("cublasLtMatmul", as: PFN_cublasLtMatmul.self)
        version = try Self.version(of: library)
    }

    /// What `cublasLtGetVersion` of `library` says (130100 for 13.1.0).
    private static func version(of library: SharedLibrary) throws -> Int {
        Int(try library.function("cublasLtGetVersion", as: PFN_cublasLtGetVersion.self)())
    }

    /// Throws a `CUDAError.library` naming `call` unless `status` is CUBLAS_STATUS_SUCCESS.
    func check(_ status: cublasStatus_t, _ call: @autoclosure () -> String) throws {
        guard status != Int32(CCUBLAS_STATUS_SUCCESS) else { return }
        throw CUDAError.library(call: call(), message: statusText(status))
    }

    /// The library's name for `status`, with its number.
    func statusText(_ status: cublasStatus_t) -> String {
        let text = getStatusString.flatMap { $0(status) }.map { String(cString: $0) } ?? "cublasStatus \(status)"
        return "\(text) (status \(status))"
    }
}
