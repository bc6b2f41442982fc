/// Every embedded kernel file loaded into the device: compiled by NVRTC (or taken from the kernel cache or
/// `GPT2_KERNEL_IMAGES`) for its architecture, and each kernel looked up by name.

import CCUDA
import CUDAKernels
import GPT2

/// The kernels of every embedded `.cu` file, loaded into one device's context.
struct KernelModules {
    /// The `extern "C"` kernels each file exports, by file: what the backend launches.
    static let kernelNames: [String: [String]] = [
        "adamw.cu": ["adamw_update"],
        "attention.cu": ["attention_forward", "attention_backward_preprocess", "attention_backward_dkv",
                         "attention_backward_dq", "attention_forward_row"],
        "attention_tensor_cores.cu": TensorCoreAttention.headSizes.flatMap { TensorCoreAttention.kernelNames(HS: $0) },
        "classifier.cu": ["classifier_forward_backward"],
        "elementwise.cu": ["residual_forward", "bias_forward", "bias_backward_partial", "partials_accumulate",
                             "cast_float_to_bf16", "cast_bf16_to_float"],
        "encoder.cu": ["encoder_forward", "encoder_backward_wpe", "encoder_backward_wte"],
        "gelu.cu": ["gelu_forward", "gelu_backward"],
        "layernorm.cu": ["layernorm_forward", "residual_layernorm_forward", "layernorm_backward"],
        "norm.cu": ["norm_squared_partial", "norm_squared_final"],
    ]

    /// Files whose kernels need a newer architecture than sm_70 (major compute capability); older devices
    /// load them as empty modules and the backend never launches their kernels.
    static let minimumMajor: [String: Int] = ["attention_tensor_cores.cu": 8]

    private var functions: [String: CUfunction] = [:]

    /// Compiles (or takes from the kernel cache, or from `GPT2_KERNEL_IMAGES`) every kernel file for the
    /// device's architecture and loads it.
    init(device: CUDADevice, paths: CUDALibraryPaths, log: (String) -> Void) throws {
        let architecture = device.properties.architecture
        let prebuilt = FileSystem.environmentPath("GPT2_KERNEL_IMAGES")
        var compiler: NVRTCCompiler?
        if prebuilt == nil {
            if let problem = paths.includeProblem {
                throw CUDAError.library(call: "NVRTC", message: problem + ", or GPT2_KERNEL_IMAGES to a folder written by `gpt2 kernels --out`")
            }
            do {
                compiler = try NVRTCCompiler(paths: paths, driverVersion: device.driver.version)
            } catch CUDAError.libraryNotFound(let library, let tried, let reason, let hint) {
                // (a machine without NVRTC has the other way in)
                throw CUDAError.libraryNotFound(library: library, tried: tried, reason: reason,
                                                hint: hint + "; or set GPT2_KERNEL_IMAGES to a folder written by `gpt2 kernels --out`")
            }
        }
        if let prebuilt, let problem = Self.prebuiltFolderProblem(prebuilt, architecture: architecture) {
            throw CUDAError.library(call: "GPT2_KERNEL_IMAGES", message: problem)
        }
        let cache = KernelCache(paths: paths)
        var unchanged: [String] = []   // the files loaded as they were (prebuilt or cached): one line for all of them
        for (file, source) in CUDAKernelSources.all {
            guard let names = Self.kernelNames[file] else { continue }   // a file the backend does not launch from
            if let prebuilt {
                let path = FileSystem.join(prebuilt, Self.prebuiltName(file: file, source: source, architecture: architecture))
                guard let bytes = try? ByteFile.contents(ofFile: path), !bytes.isEmpty else {
                    throw CUDAError.library(call: "GPT2_KERNEL_IMAGES", message: "no \(path): write it with "
                                                + "`gpt2 kernels --arch \(architecture) --out \(prebuilt)` from this same binary")
                }
                if let problem = KernelImage.problem(bytes) {
                    throw CUDAError.library(call: "GPT2_KERNEL_IMAGES", message: "\(path) is not whole (\(problem)): write it again with "
                                                + "`gpt2 kernels --arch \(architecture) --out \(prebuilt)` from this same binary")
                }
                unchanged.append(file)
                do {
                    try load(bytes, file: file, names: names, architecture: architecture, device: device)
                } catch let failure as CUDAError {
                    // (the driver's own error names neither the variable nor what to do: "unsupported toolchain", "no kernel image")
                    guard case .driver = failure else { throw failure }
                    throw CUDAError.library(call: "GPT2_KERNEL_IMAGES", message: "the driver refused \(path) (\(failure)): write the images "
                                                + "again with `gpt2 kernels --arch \(architecture) --out \(prebuilt)`, with an NVRTC of CUDA "
                                                + "\(device.driver.versionString) or older (what this driver runs) and from this same binary")
                }
            } else {
                let compiled = try cache.image(file: file, source: source, compiler: compiler!, architecture: architecture)
                if !compiled.fromCache {
                    log("kernels   \(file): compiled in \(formatFixed(compiled.seconds, digits: 2)) s"
                        + (compiled.replacedDamagedEntry ? " (the cached image did not match its checksum)" : "")
                        + (compiled.notCached.map { ", not cached: \($0)" } ?? ""))
                }
                do {
                    try load(compiled.image, file: file, names: names, compiler: compiler!, architecture: architecture, device: device)
                    if compiled.fromCache { unchanged.append(file) }
                } catch where compiled.fromCache && (error as? CUDAError)?.isKernelsRefused != true {
                    // A damaged cache entry (a disk error, a copy cut short) is only a cache: compile it again.
                    log("kernels   \(file): the cached image was refused (\(error)); compiling it again")
                    let fresh = try cache.image(file: file, source: source, compiler: compiler!, architecture: architecture, recompiling: true)
                    try load(fresh.image, file: file, names: names, compiler: compiler!, architecture: architecture, device: device)
                }
            }
        }
        if !unchanged.isEmpty {
            log("kernels   \(unchanged.count) of \(Self.kernelNames.count) files " + (prebuilt.map { "prebuilt in \($0)" } ?? "from the cache \(cache.folder)")
                + " for \(architecture)")
        }
        for (file, names) in Self.kernelNames
        where architecture.major >= Self.minimumMajor[file, default: 0] && names.contains(where: { functions[$0] == nil }) {
            throw CUDAError.library(call: "KernelModules", message: "\(file) is not among the embedded kernel sources")
        }
    }

    /// Loads `file`'s image into the device and looks up its kernels (none on a device too old for them).
    private mutating func load(_ image: [UInt8], file: String, names: [String], architecture: GPUArchitecture, device: CUDADevice) throws {
        let module = try device.loadModule(image, name: file)
        guard architecture.major >= Self.minimumMajor[file, default: 0] else { return }
        for name in names { functions[name] = try device.function(name, in: module) }
    }

    /// Loads an image `compiler` made, as `load`; a driver that refuses it while that NVRTC is of a newer CUDA than the
    /// driver runs (which NVIDIA does not promise to load) is told apart from other failures, with what to do about it.
    private mutating func load(_ image: [UInt8], file: String, names: [String], compiler: NVRTCCompiler,
                               architecture: GPUArchitecture, device: CUDADevice) throws {
        do {
            try load(image, file: file, names: names, architecture: architecture, device: device)
        } catch let failure as CUDAError {
            let nvrtc = compiler.library.version, driverVersion = device.driver.version
            guard case .driver = failure, nvrtc.major * 1000 + nvrtc.minor * 10 > driverVersion else { throw failure }
            throw CUDAError.kernelsRefused(file: file, failure: failure.description, nvrtcPath: compiler.library.path, nvrtcVersion: nvrtc,
                                           driverVersion: driverVersion)
        }
    }

    /// What is wrong with `folder` as `GPT2_KERNEL_IMAGES` (a file, or nothing there), with the command that fills one;
    /// nil when it is a folder.
    static func prebuiltFolderProblem(_ folder: String, architecture: GPUArchitecture?) -> String? {
        guard !FileSystem.isDirectory(folder) else { return nil }
        return "GPT2_KERNEL_IMAGES=\(folder) is \(FileSystem.exists(folder) ? "a file" : "not there"), not a folder of kernel images: "
            + "write one with `gpt2 kernels --arch \(architecture.map(\.description) ?? "sm_XY") --out FOLDER` and point it there"
    }

    /// The file name `gpt2 kernels --out` writes and `GPT2_KERNEL_IMAGES` is searched for: the file's stem,
    /// the architecture and 16 hex digits over the source and headers, so a stale image is never loaded.
    static func prebuiltName(file: String, source: String, architecture: GPUArchitecture) -> String {
        let key = KernelCache.key(file: file, source: source, headers: CUDAKernelSources.headers,
                                  options: [architecture.description], nvrtcVersion: "prebuilt")
        return KernelCache.imageName(file: file, architecture: architecture, key: key)
    }

    func function(_ name: String) -> CUfunction {
        guard let function = functions[name] else { preconditionFailure("kernel \(name) was not loaded") }
        return function
    }
}

extension CUDABackend {
    /// What is wrong with `folder` as `GPT2_KERNEL_IMAGES` (a file, or nothing there); nil when it is a folder.
    public static func prebuiltKernelFolderProblem(_ folder: String, architecture: GPUArchitecture?) -> String? {
        KernelModules.prebuiltFolderProblem(folder, architecture: architecture)
    }

    /// The file name under which `GPT2_KERNEL_IMAGES` must hold `file`'s image for `architecture`.
    public static func prebuiltKernelName(file: String, source: String, architecture: GPUArchitecture) -> String {
        KernelModules.prebuiltName(file: file, source: source, architecture: architecture)
    }
}
