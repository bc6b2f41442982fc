/// Everything that can go wrong between gpt2 and CUDA, as one error type whose description a user can
/// act on: which library is missing and where it was looked for, which call failed and why, which kernel.

public enum CUDAError: Error, CustomStringConvertible {
    /// A shared library could not be opened from any candidate; `hint` says how to point gpt2 at it.
    case libraryNotFound(library: String, tried: [String], reason: String, hint: String)
    /// The library opened but lacks a function gpt2 needs (usually: too old).
    /// `variable`: the environment variable that can name the library.
    case missingSymbol(library: String, path: String, symbol: String, variable: String)
    /// A driver call returned an error.
    case driver(call: String, code: Int32, message: String)
    /// The driver works but sees no CUDA device.
    case noDevice
    /// A library of a newer CUDA (`libraryCUDA`, its major version) than the driver runs (`driverVersion`, 12040 for 12.4).
    /// `variable`: the variable that named the library (which stops gpt2's search for one the driver runs), if one did.
    case driverTooOld(library: String, path: String, libraryCUDA: Int, driverVersion: Int, variable: String?)
    /// The driver refused the image of a kernel file compiled by an NVRTC (`nvrtcVersion`, as (13, 0)) of a newer CUDA
    /// than the driver runs (`driverVersion`, 12040 for 12.4); `failure` is the driver call's own error, which names
    /// neither ("unsupported toolchain", "invalid image").
    case kernelsRefused(file: String, failure: String, nvrtcPath: String, nvrtcVersion: (major: Int, minor: Int), driverVersion: Int)
    /// NVRTC refused to compile a kernel file; `log` is NVRTC's own message.
    case compilation(file: String, architecture: String, log: String)
    /// Any other NVRTC or cuBLASLt call that failed, or what the backend refuses before it calls one: a model
    /// shape its kernels cannot run, a prebuilt kernel image that is missing (GPT2_KERNEL_IMAGES).
    case library(call: String, message: String)
    /// cuBLASLt's heuristic offered no algorithm for a GEMM (`gemm` describes its shape and epilogue): a GPU's
    /// cuBLASLt may have none with an epilogue for some shapes, and the backend then falls back to its own kernels.
    /// Only this error starts the fallback; any other failure of a GEMM stops the op.
    case noMatmulAlgorithm(gemm: String, reason: String)
    /// A diagnostic environment variable set to a value it does not take (refused, so that a misspelled setting is
    /// not silently taken for off).
    case environment(variable: String, value: String, expected: String)

    public var description: String {
        switch self {
        case .libraryNotFound(let library, let tried, let reason, let hint):
            return "\(library) not found (tried \(tried.joined(separator: ", "))): \(reason). \(hint)"
        case .missingSymbol(let library, let path, let symbol, let variable):
            return "\(path), opened as \(library), has no function \(symbol): it is another library (check \(variable), "
                + "where it names it), or one too old"
        case .driver(let call, let code, let message):
            return "CUDA driver call \(call) failed: \(message) (error \(code))"
        case .noDevice:
            return "the CUDA driver found no CUDA device"
        case .driverTooOld(let library, let path, let libraryCUDA, let driverVersion, let variable):
            // (the first Linux drivers of each CUDA major version, from NVIDIA's release notes)
            let minimum = [12: "525.60", 13: "580.65"][libraryCUDA].map { " (\($0) or later)" } ?? ""
            let update = "\(library) \(path) is CUDA \(libraryCUDA)'s, and this NVIDIA driver runs CUDA up to "
                + "\(CUDADriver.versionString(driverVersion)): update the driver to one for CUDA \(libraryCUDA)\(minimum)"
            // CUDA 12 is the only older CUDA whose libraries gpt2 looks for and whose NVRTC its kernels compile with (CI).
            guard driverVersion / 1000 == 12 else { return update }
            if let variable {
                return update + ", or point \(variable) at CUDA 12's \(library) (\(CUDALibraryPaths.cuda12Wheels) installs one), "
                    + "or unset it, and gpt2 looks for one this driver runs"
            }
            return update + ", or give gpt2 CUDA 12's libraries, which it takes on this driver where both are found: "
                + CUDALibraryPaths.cuda12Wheels + ", or a CUDA 12 toolkit with CUDA_HOME"
        case .kernelsRefused(let file, let failure, let nvrtcPath, let nvrtc, let driverVersion):
            let driverCUDA = CUDADriver.versionString(driverVersion)
            let refusal = "the NVIDIA driver refused the kernels of \(file) (\(failure)). NVRTC \(nvrtc.major).\(nvrtc.minor) "
                + "(\(nvrtcPath)) compiled them, and this driver runs CUDA up to \(driverCUDA): update the driver to "
                + "one for CUDA \(nvrtc.major).\(nvrtc.minor) or later"
            // (CUDA 12 is the oldest CUDA whose NVRTC compiles gpt2's kernels)
            guard driverVersion / 1000 >= 12 else { return refusal }
            return refusal + ", or give gpt2 an NVRTC of CUDA \(driverCUDA) or older: "
                + CUDALibraryPaths.nvrtcInstallAdvice(major: driverVersion / 1000, minor: driverVersion % 1000 / 10)
        case .compilation(let file, let architecture, let log):
            return "NVRTC could not compile \(file) for \(architecture):\n\(log)"
        case .library(let call, let message):
            return "\(call) failed: \(message)"
        case .noMatmulAlgorithm(let gemm, let reason):
            return "cuBLASLt has no algorithm for the GEMM \(gemm): \(reason)"
        case .environment(let variable, let value, let expected):
            return "\(variable)=\(value) is not a setting it takes: use \(expected)"
        }
    }
}

extension CUDAError {
    /// Whether this is cuBLASLt offering no algorithm for a GEMM (the one failure the epilogue fallbacks handle).
    var isMissingMatmulAlgorithm: Bool {
        if case .noMatmulAlgorithm = self { return true }
        return false
    }

    /// Whether this is the driver refusing kernels of a newer CUDA's NVRTC (which compiling them again cannot mend).
    var isKernelsRefused: Bool {
        if case .kernelsRefused = self { return true }
        return false
    }
}
