/// Where gpt2 looks for the CUDA libraries it opens (the driver, NVRTC, cuBLASLt) and for NVRTC's headers: explicit
/// variables, a toolkit, NVIDIA's PyPI wheels in the Python installations it can see, then the loader's search path.

import GPT2

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Where the CUDA libraries are looked for, from the environment: `NVRTC_LIB`, `CUBLASLT_LIB`,
/// `CUDA_DRIVER_LIB` (exact files), `CUDA_HOME` (a toolkit root), then `/usr/local/cuda`, then the CUDA 13 and 12
/// wheels of the active Python environment, of `pip install --user` and of the `python3` on `PATH` (`wheelFolders`),
/// then the dynamic loader's search path. Pointing `CUDA_DRIVER_LIB` and `CUBLASLT_LIB` at libCUDAEmulator.so runs
/// the backend on the CPU emulator.
public struct CUDALibraryPaths: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = CUDALibraryPaths.processEnvironment()) {
        self.environment = environment
    }

    /// The variables this type reads, taken from the process; a path's leading `~` is the home folder
    /// (`FileSystem.expandingHome`).
    public static func processEnvironment() -> [String: String] {
        var values: [String: String] = [:]
        for name in ["NVRTC_LIB", "CUBLASLT_LIB", "CUDA_DRIVER_LIB", "CUDA_HOME", "CUDA_INCLUDE", "GPT2_KERNEL_CACHE", "HOME", "XDG_CACHE_HOME",
                     "VIRTUAL_ENV", "CONDA_PREFIX", "PYENV_ROOT", "PATH"] {
            if let value = getenv(name) { values[name] = name == "PATH" ? String(cString: value) : FileSystem.expandingHome(String(cString: value)) }
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
        case nvrtc, cublasLt, headers   // (headers: cuda_bf16.h, which the kernels include)

        /// Its folder in the wheels of CUDA `major`, 13 or later (one folder for all) or 12 (one per package).
        func folder(cuda major: Int) -> String {
            if major >= 13 { return "cu\(major)/" + (self == .headers ? "include" : "lib") }
            switch self {
            case .nvrtc: return "cuda_nvrtc/lib"
            case .cublasLt: return "cublas/lib"
            case .headers: return "cuda_runtime/include"
            }
        }

        /// Where gpt2 looks: CUDA 13's, then CUDA 12's.
        var folders: [String] { [folder(cuda: 13), folder(cuda: 12)] }
    }

    /// The Python installations whose wheels count, most specific first: the active environment (`VIRTUAL_ENV`,
    /// `CONDA_PREFIX`), the user's own (`~/.local`, `pip install --user`), then that of each `python3` on `PATH` (the
    /// folder above its `bin`: a conda base, or a system Python that PyTorch was installed into; for Debian's in
    /// /usr/bin also /usr/local, where its pip installs as root), then pyenv's versions (`$PYENV_ROOT`, else
    /// `~/.pyenv`: its `python3` on `PATH` is a shim, whose folder is no installation's).
    var pythonRoots: [String] {
        var roots = [environment["VIRTUAL_ENV"], environment["CONDA_PREFIX"], environment["HOME"].map { $0 + "/.local" }]
            .compactMap { $0 }.filter { !$0.isEmpty }
        for entry in (environment["PATH"] ?? "").split(separator: ":") {
            let folder = FileSystem.withoutTrailingSlashes(String(entry))
            guard folder.hasPrefix("/"), FileSystem.baseName(folder) == "bin", FileSystem.exists(folder + "/python3") else { continue }
            let root = FileSystem.directoryName(folder)
            roots += root == "/usr" || root == "/" ? ["/usr", "/usr/local"] : [root]   // (/bin is /usr/bin where /usr is merged)
        }
        if let pyenv = environment["PYENV_ROOT"].flatMap({ $0.isEmpty ? nil : $0 }) ?? environment["HOME"].map({ $0 + "/.pyenv" }) {
            roots += FileSystem.paths(matching: FileSystem.globEscaped(pyenv) + "/versions/*").filter(FileSystem.isDirectory)
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

    /// How to install NVRTC and its headers of CUDA `major`.`minor` into a folder of their own (beside whatever other
    /// CUDA the Python environment has) and point gpt2 at them, in words for a message.
    static func nvrtcInstallAdvice(major: Int, minor: Int) -> String {
        let (suffix, release) = (major == 12 ? "-cu12" : "", "==\(major).\(minor).*")
        return "`pip install --target DIR nvidia-cuda-nvrtc\(suffix)\(release) nvidia-cuda-runtime\(suffix)\(release)`, then "
            + "NVRTC_LIB=DIR/nvidia/\(WheelPiece.nvrtc.folder(cuda: major))/libnvrtc.so.\(major) and "
            + "CUDA_INCLUDE=DIR/nvidia/\(WheelPiece.headers.folder(cuda: major))"
    }

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
