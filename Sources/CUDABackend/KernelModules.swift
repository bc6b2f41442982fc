/// Every embedded kernel file loaded into the device, and the launch of one kernel by name with its
/// arguments packed the way cuLaunchKernel wants them (one pointer per argument value).

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
        "elementwise.cu": ["residual_forward", "bias_forward", "bias_backward_partial", "partials_accumulate"],
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
        let prebuilt = FileSystem.environment("GPT2_KERNEL_IMAGES").flatMap { $0.isEmpty ? nil : $0 }
        var compiler: NVRTCCompiler?
        if prebuilt == nil {
            if let problem = paths.includeProblem {
                throw CUDAError.library(call: "NVRTC", message: problem + ", or GPT2_KERNEL_IMAGES to a folder written by `gpt2 kernels --out`")
            }
            compiler = try NVRTCCompiler(paths: paths)
        }
        let cache = KernelCache(paths: paths)
        for (file, source) in CUDAKernelSources.all {
            guard let names = Self.kernelNames[file] else { continue }   // a file the backend does not launch from
            if let prebuilt {
                let path = FileSystem.join(prebuilt, Self.prebuiltName(file: file, source: source, architecture: architecture))
                guard let bytes = try? ByteFile.contents(ofFile: path), !bytes.isEmpty else {
                    throw CUDAError.library(call: "GPT2_KERNEL_IMAGES", message: "no \(path): write it with "
                                                + "`gpt2 kernels --arch \(architecture) --out \(prebuilt)` from this same binary")
                }
                log("kernels   \(file): prebuilt \(path)")
                try load(bytes, file: file, names: names, architecture: architecture, device: device)
            } else {
                let compiled = try cache.image(file: file, source: source, compiler: compiler!, architecture: architecture)
                log("kernels   \(file): " + (compiled.fromCache ? "cached" : "compiled in \(formatFixed(compiled.seconds, digits: 2)) s"))
                do {
                    try load(compiled.image, file: file, names: names, architecture: architecture, device: device)
                } catch where compiled.fromCache {
                    // A damaged cache entry (a disk error, a copy cut short) is only a cache: compile it again.
                    log("kernels   \(file): the cached image was refused (\(error)); compiling it again")
                    let fresh = try cache.image(file: file, source: source, compiler: compiler!, architecture: architecture, recompiling: true)
                    try load(fresh.image, file: file, names: names, architecture: architecture, device: device)
                }
            }
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

    /// The file name `gpt2 kernels --out` writes and `GPT2_KERNEL_IMAGES` is searched for: the file's stem,
    /// the architecture and 16 hex digits over the source and headers, so a stale image is never loaded.
    static func prebuiltName(file: String, source: String, architecture: GPUArchitecture) -> String {
        let key = KernelCache.key(file: file, source: source, headers: CUDAKernelSources.headers,
                                  options: [architecture.description], nvrtcVersion: "prebuilt")
        let stem = file.hasSuffix(".cu") ? String(file.dropLast(3)) : file
        return "\(stem)-\(architecture)-\(key.prefix(16)).\(architecture.outputKind)"
    }

    func function(_ name: String) -> CUfunction {
        guard let function = functions[name] else { preconditionFailure("kernel \(name) was not loaded") }
        return function
    }
}

/// One kernel argument, stored with the C type the kernel declares.
enum KernelArgument {
    case pointer(CUdeviceptr)   // T*
    case int(Int)               // int
    case size(Int)              // size_t / unsigned long long
    case float(Float)           // float
}

/// Grid or block dimensions.
struct Dim3: CustomStringConvertible {
    var x: Int, y: Int, z: Int
    init(_ x: Int, _ y: Int = 1, _ z: Int = 1) { (self.x, self.y, self.z) = (x, y, z) }
    var description: String { "(\(x),\(y),\(z))" }
}

/// ⌈a / b⌉ for positive b.
func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }

extension CUDABackend {
    /// Queues kernel `name` on the stream. A grid with a zero dimension means no work and launches nothing.
    /// `work` is what the launch does, for the profile's rates (none counted unless given).
    func launch(_ name: String, grid: Dim3, block: Dim3, sharedBytes: Int = 0, work: @autoclosure () -> KernelWork = KernelWork(),
                _ arguments: [KernelArgument]) {
        guard grid.x > 0, grid.y > 0, grid.z > 0 else { return }
        ensureContext()
        precondition(grid.x < (1 << 31) && grid.y <= 65535 && grid.z <= 65535, "\(name): grid \(grid) exceeds CUDA's limits")
        precondition(block.x * block.y * block.z <= 1024, "\(name): block \(block) has more than 1024 threads")
        if sharedBytes > 0 { allowDynamicSharedMemory(sharedBytes, for: name) }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(1, arguments.count) * 8, alignment: 8)
        defer { storage.deallocate() }
        var pointers: [UnsafeMutableRawPointer?] = []
        for (i, argument) in arguments.enumerated() {
            let slot = storage + 8 * i
            switch argument {
            case .pointer(let address): slot.storeBytes(of: UInt64(address), as: UInt64.self)
            case .int(let value):
                precondition(value >= Int(Int32.min) && value <= Int(Int32.max), "\(name): argument \(i) = \(value) overflows int")
                slot.storeBytes(of: Int32(value), as: Int32.self)
            case .size(let value): slot.storeBytes(of: UInt64(value), as: UInt64.self)
            case .float(let value): slot.storeBytes(of: value, as: Float.self)
            }
            pointers.append(slot)
        }
        do {
            try profiled(name, work: work()) {
                let result = pointers.withUnsafeMutableBufferPointer { parameters in
                    driver.launchKernel(modules.function(name), UInt32(grid.x), UInt32(grid.y), UInt32(grid.z),
                                        UInt32(block.x), UInt32(block.y), UInt32(block.z), UInt32(sharedBytes), stream,
                                        parameters.baseAddress, nil)
                }
                try checked(result, "cuLaunchKernel(\(name), grid \(grid), block \(block), shared \(sharedBytes) B)")
            }
        } catch {
            die(error)
        }
        if synchronousLaunches {
            checkedOrDie(driver.streamSynchronize(stream), "kernel \(name) (grid \(grid), block \(block))")
        }
    }

    /// Raises kernel `name`'s dynamic shared memory limit to at least `bytes` (to 32 KiB at least, so that a
    /// size growing step by step, like the decode step's, does not call the driver every time). Without it the
    /// limit is 48 KiB minus the kernel's static shared memory, which includes 1 KiB the system reserves per
    /// block on sm_80 and later: a kernel asking for 47.3 KiB would fail to launch.
    private func allowDynamicSharedMemory(_ bytes: Int, for name: String) {
        guard dynamicSharedLimits[name, default: 0] < bytes else { return }
        let limit = max(bytes, 32 * 1024)
        checkedOrDie(driver.functionSetAttribute(modules.function(name), Int32(CCUDA_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES),
                                                 Int32(limit)),
                     "cuFuncSetAttribute(\(name), MAX_DYNAMIC_SHARED_SIZE_BYTES, \(limit))")
        dynamicSharedLimits[name] = limit
    }

    /// Blocks for a grid-stride loop over `count` elements with `threads` per block (capped; the loop covers the rest).
    func strideBlocks(_ count: Int, threads: Int = 256) -> Int { min(ceilDiv(count, threads), 65536) }
}

extension CUDABackend {
    /// The file name under which `GPT2_KERNEL_IMAGES` must hold `file`'s image for `architecture`.
    public static func prebuiltKernelName(file: String, source: String, architecture: GPUArchitecture) -> String {
        KernelModules.prebuiltName(file: file, source: source, architecture: architecture)
    }
}
