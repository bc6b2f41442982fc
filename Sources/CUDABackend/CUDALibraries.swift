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

    /// Opens the first of `candidates` (a path, or a soname searched the usual way) that loads and that `preferred`
    /// accepts, else the first that loads.
    static func open(_ name: String, candidates: [String], hint: String,
                     preferred: (SharedLibrary) -> Bool = { _ in true }) throws -> SharedLibrary {
        var reason: String?   // the first candidate's failure: the most specific one
        var first: SharedLibrary?
        for candidate in candidates {
            guard let handle = dlopen(candidate, RTLD_NOW | RTLD_LOCAL) else {
                if reason == nil { reason = dlerror().map { String(cString: $0) } ?? "dlopen failed" }
                continue
            }
            let library = SharedLibrary(handle: handle, path: candidate, name: name)
            if preferred(library) {
                if let first { dlclose(first.handle) }
                return library
            }
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
        guard let address = dlsym(handle, symbol) else { throw CUDAError.missingSymbol(library: name, path: path, symbol: symbol) }
        return unsafeBitCast(address, to: type)
    }
}

/// Where the CUDA libraries are looked for, from the environment: `NVRTC_LIB`, `CUBLASLT_LIB`,
/// `CUDA_DRIVER_LIB` (exact files), `CUDA_HOME` (a toolkit root), then `/usr/local/cuda`, then the CUDA 13 and 12
/// wheels of the active Python environment, of `pip install --user` and of the `python3` on `PATH` (`wheelFolders`),
/// then the dynamic loader's search path. Pointing `CUDA_DRIVER_LIB` and `CUBLASLT_LIB` at libCUDAEmulator.so runs the backend on the CPU emulator.
public struct CUDALibraryPaths: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = CUDALibraryPaths.processEnvironment()) {
        self.environment = environment
    }

    /// The variables this type reads, taken from the process.
    public static func processEnvironment() -> [String: String] {
        var values: [String: String] = [:]
        for name in ["NVRTC_LIB", "CUBLASLT_LIB", "CUDA_DRIVER_LIB", "CUDA_HOME", "CUDA_INCLUDE", "GPT2_KERNEL_CACHE", "HOME", "XDG_CACHE_HOME",
                     "VIRTUAL_ENV", "CONDA_PREFIX", "PATH"] {
            if let value = getenv(name) { values[name] = String(cString: value) }
        }
        return values
    }

    /// The toolkit `lib64` folders to try, most specific first.
    var toolkitLibraryFolders: [String] {
        var folders: [String] = []
        if let home = environment["CUDA_HOME"], !home.isEmpty { folders.append(home + "/lib64") }
        folders.append("/usr/local/cuda/lib64")
        return folders
    }

    /// The folders, below `site-packages/nvidia`, where NVIDIA's PyPI wheels put one piece: CUDA 13's wheels
    /// (`pip install nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cublas`; PyTorch's CUDA 13 builds depend on them) all
    /// in `cu13`, CUDA 12's (the `-cu12` packages, for a driver older than CUDA 13's) one folder per package.
    enum WheelPiece {
        case nvrtc, cublasLt, headers

        var folders: [String] {
            switch self {
            case .nvrtc: return ["cu13/lib", "cuda_nvrtc/lib"]
            case .cublasLt: return ["cu13/lib", "cublas/lib"]
            case .headers: return ["cu13/include", "cuda_runtime/include"]   // cuda_bf16.h, which the kernels include
            }
        }
    }

    /// The Python installations whose wheels count, most specific first: the active environment (`VIRTUAL_ENV`,
    /// `CONDA_PREFIX`), the user's own (`~/.local`, `pip install --user`), then that of each `python3` on `PATH` (the
    /// folder above its `bin`: a conda base, or a system Python that PyTorch was installed into; for Debian's in
    /// /usr/bin also /usr/local, where its pip installs as root).
    var pythonRoots: [String] {
        var roots = [environment["VIRTUAL_ENV"], environment["CONDA_PREFIX"], environment["HOME"].map { $0 + "/.local" }]
            .compactMap { $0 }.filter { !$0.isEmpty }
        for entry in (environment["PATH"] ?? "").split(separator: ":") {
            let folder = FileSystem.withoutTrailingSlashes(String(entry))
            guard folder.hasPrefix("/"), FileSystem.baseName(folder) == "bin", FileSystem.exists(folder + "/python3") else { continue }
            let root = FileSystem.directoryName(folder)
            roots += root == "/usr" ? ["/usr", "/usr/local"] : [root]
        }
        var seen = Set<String>()
        return roots.map(FileSystem.withoutTrailingSlashes).filter { seen.insert($0).inserted }
    }

    /// The existing folders of the wheels that hold `piece` (in `lib/python3.X/site-packages`, or `dist-packages` where
    /// Debian's Python installs them), in `pythonRoots`' order; in each, CUDA 13's before CUDA 12's.
    func wheelFolders(_ piece: WheelPiece) -> [String] {
        pythonRoots.flatMap { root in
            piece.folders.flatMap { folder in
                FileSystem.paths(matching: FileSystem.globEscaped(root) + "/lib/python3*/*-packages/nvidia/" + folder)
            }
        }
    }

    /// Candidates for a library: the explicit variable alone if it is set, else toolkit folders, the wheel folders of
    /// `piece`, then sonames.
    func candidates(variable: String, piece: WheelPiece, sonames: [String]) -> [String] {
        if let explicit = environment[variable], !explicit.isEmpty { return [explicit] }
        let folders = toolkitLibraryFolders + wheelFolders(piece)
        return folders.flatMap { folder in sonames.map { folder + "/" + $0 } } + sonames
    }

    var nvrtc: [String] { candidates(variable: "NVRTC_LIB", piece: .nvrtc, sonames: ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]) }
    var cublasLt: [String] {
        candidates(variable: "CUBLASLT_LIB", piece: .cublasLt, sonames: ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"])
    }
    /// libcuda comes with the driver, not the toolkit; the loader finds it (the toolkit's copy is a stub).
    var driver: [String] {
        if let explicit = environment["CUDA_DRIVER_LIB"], !explicit.isEmpty { return [explicit] }
        return ["libcuda.so.1", "libcuda.so"]
    }

    /// What to do when the library that `variable` names does not open, or nil when it is unset (the search's own
    /// hint applies): a path that is wrong is the variable's to fix, not a library to install.
    func hint(variable: String, library: String) -> String? {
        guard let value = environment[variable], !value.isEmpty else { return nil }
        return "\(variable) names it: point \(variable) at \(library), or unset it to let gpt2 search for one"
    }

    /// Why NVRTC would not find cuda_bf16.h in `includeFolders`, or nil when one holds it.
    public var includeProblem: String? {
        if includeFolders.contains(where: { FileSystem.isFile($0 + "/cuda_bf16.h") }) { return nil }
        if let explicit = environment["CUDA_INCLUDE"], !explicit.isEmpty {
            return "CUDA_INCLUDE=\(explicit) holds no cuda_bf16.h: point it at the folder that does (a toolkit's include/, or the "
                + "nvidia/cu13/include folder of the nvidia-cuda-runtime wheel, nvidia/cuda_runtime/include of nvidia-cuda-runtime-cu12)"
        }
        return "no folder with cuda_bf16.h found: set CUDA_INCLUDE (or CUDA_HOME), or " + Self.wheelAdvice
    }

    /// How to get NVRTC, its headers and cuBLASLt without a toolkit, in words for a message.
    static let wheelAdvice = "run `pip install nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cublas` (CUDA 13) in the active Python "
        + "environment or with --user, where gpt2 finds them (with a driver older than CUDA 13's: " + cuda12Wheels + ")"

    /// The CUDA 12 wheels, in words for a message.
    static let cuda12Wheels = "`pip install nvidia-cuda-nvrtc-cu12 nvidia-cuda-runtime-cu12 nvidia-cublas-cu12`"

    /// The folders NVRTC's headers (cuda_bf16.h …) are looked for in: `CUDA_INCLUDE`, else the toolkit's and the wheels'.
    public var includeFolders: [String] {
        if let explicit = environment["CUDA_INCLUDE"], !explicit.isEmpty { return [explicit] }
        var folders: [String] = []
        if let home = environment["CUDA_HOME"], !home.isEmpty { folders.append(home + "/include") }
        folders.append("/usr/local/cuda/include")
        folders += wheelFolders(.headers)
        return folders.filter { FileSystem.isDirectory($0) }
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

    /// Opens NVRTC from `paths`; with `driverVersion` (the driver's CUDA, 12040 for 12.4), the first found whose CUDA
    /// that driver runs (CUDA 12's where CUDA 13's is found too and the driver is 12.x), else the first found.
    public init(paths: CUDALibraryPaths = CUDALibraryPaths(), driverVersion: Int? = nil) throws {
        library = try SharedLibrary.open(
            "NVRTC (libnvrtc)", candidates: paths.nvrtc,
            hint: paths.hint(variable: "NVRTC_LIB", library: "a libnvrtc.so.13") ?? "Set CUDA_HOME to a CUDA toolkit, or "
                + CUDALibraryPaths.wheelAdvice + " (or set NVRTC_LIB to a libnvrtc.so.13 and CUDA_INCLUDE to the folder holding cuda_bf16.h)",
            preferred: { SharedLibrary.runs(major: Self.version(of: $0)?.major ?? 0, onDriver: driverVersion) })
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
        guard let version = Self.version(of: library) else {
            throw CUDAError.missingSymbol(library: library.name, path: library.path, symbol: "nvrtcVersion")
        }
        self.version = version
        supportedArchitectures = Self.supportedArchitectures(of: library)
    }

    private static func version(of library: SharedLibrary) -> (major: Int, minor: Int)? {
        guard let function = try? library.function("nvrtcVersion", as: PFN_nvrtcVersion.self) else { return nil }
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
            ? nil : .driverTooOld(library: "cuBLASLt", path: path, libraryCUDA: cudaMajor, driverCUDA: driver.versionString)
    }

    public var path: String { library.path }

    /// Opens cuBLASLt from `paths`; with `driverVersion` (the driver's CUDA, 12040 for 12.4), the first found whose CUDA
    /// that driver runs, else the first found (which `incompatibility(with:)` then names).
    public init(paths: CUDALibraryPaths = CUDALibraryPaths(), driverVersion: Int? = nil) throws {
        library = try SharedLibrary.open(
            "cuBLASLt (libcublasLt)", candidates: paths.cublasLt,
            hint: paths.hint(variable: "CUBLASLT_LIB", library: "a libcublasLt.so.13")
                ?? "Set CUDA_HOME to a CUDA toolkit, or " + CUDALibraryPaths.wheelAdvice + " (or set CUBLASLT_LIB to a libcublasLt.so.13)",
            preferred: { library in
                let version = (try? library.function("cublasLtGetVersion", as: PFN_cublasLtGetVersion.self)).map { Int($0()) } ?? 0
                return SharedLibrary.runs(major: version / 10000, onDriver: driverVersion)
            })
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
        version = Int(try library.function("cublasLtGetVersion", as: PFN_cublasLtGetVersion.self)())
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
