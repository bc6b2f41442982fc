/// One CUDA device with its primary context made current: its properties (for `gpt2 info` and for picking
/// the kernels' architecture), and loading compiled kernel images into it.

import CCUDA

/// A device's fixed properties.
public struct CUDADeviceProperties: Sendable {
    public var ordinal: Int
    public var name: String
    public var computeCapability: (major: Int, minor: Int)
    public var totalMemory: Int
    public var multiprocessors: Int
    public var l2CacheBytes: Int
    /// The most shared memory (static and dynamic together) a block may have once a kernel opts in with
    /// cuFuncSetAttribute: CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN (the default without opting in is 48 KiB).
    public var maxSharedMemoryPerBlockOptIn: Int

    public init(ordinal: Int, name: String, computeCapability: (major: Int, minor: Int), totalMemory: Int,
                multiprocessors: Int, l2CacheBytes: Int, maxSharedMemoryPerBlockOptIn: Int) {
        self.ordinal = ordinal
        self.name = name
        self.computeCapability = computeCapability
        self.totalMemory = totalMemory
        self.multiprocessors = multiprocessors
        self.l2CacheBytes = l2CacheBytes
        self.maxSharedMemoryPerBlockOptIn = maxSharedMemoryPerBlockOptIn
    }

    /// Whether a kernel with `staticBytes` of static shared memory can be launched with `bytes` of dynamic shared
    /// memory per block on this device (after cuFuncSetAttribute raises its limit, as `launch` does). The rule, stated
    /// here once: static + dynamic ≤ the opt-in limit. cudaFuncSetAttribute's documentation (CUDA Runtime API,
    /// cudaFuncAttributeMaxDynamicSharedMemorySize): "The sum of this value and the function attribute sharedSizeBytes
    /// cannot exceed the device attribute cudaDevAttrMaxSharedMemoryPerBlockOptin". The 1 KiB per block that sm_80 and
    /// later reserve for the system lies outside that limit already, so it is not counted again: the CUDA C++
    /// Programming Guide gives 164 KiB of shared memory per SM on sm_80 and 163 KiB per block, 100 and 99 KiB on
    /// sm_86/sm_89, 228 and 227 KiB on sm_90, "the 1 KB of shared memory not made available to a thread block"
    /// being "reserved for system use". (The CUDA emulator's cuFuncSetAttribute applies the same rule.)
    public func fitsDynamicSharedMemory(_ bytes: Int, staticBytes: Int = 0) -> Bool {
        bytes >= 0 && staticBytes + bytes <= maxSharedMemoryPerBlockOptIn
    }

    /// The architecture to compile kernels for: `sm_XY` of the compute capability.
    public var architecture: GPUArchitecture {
        GPUArchitecture(major: computeCapability.major, minor: computeCapability.minor)
    }
}

/// A device whose primary context is current on the calling thread.
public final class CUDADevice: @unchecked Sendable {
    public let driver: CUDADriver
    public let properties: CUDADeviceProperties
    let device: CUdevice
    let context: CUcontext
    /// Bytes in use on the device (total − free) once its context was made current, before anything of ours was
    /// allocated: the context itself, and whatever other processes (a desktop, another run) hold.
    public private(set) var memoryInUseAtOpen = 0

    /// Opens device `ordinal` (0 = the first); throws `noDevice` when the driver sees none.
    public init(driver: CUDADriver, ordinal: Int = 0) throws {
        self.driver = driver
        let count = try driver.deviceCount()
        guard count > 0 else { throw CUDAError.noDevice }
        guard ordinal < count else {
            throw CUDAError.driver(call: "cuDeviceGet(\(ordinal))", code: 101, message: "only \(count) device(s)")
        }
        var device: CUdevice = 0
        try driver.check(driver.deviceGet(&device, Int32(ordinal)), "cuDeviceGet")
        self.device = device
        properties = try Self.properties(of: device, ordinal: ordinal, driver: driver)
        var context: CUcontext? = nil
        try driver.check(driver.primaryContextRetain(&context, device), "cuDevicePrimaryCtxRetain")
        guard let context else { throw CUDAError.driver(call: "cuDevicePrimaryCtxRetain", code: -1, message: "no context") }
        self.context = context
        try makeCurrent()
        let memory = try memoryInfo()
        memoryInUseAtOpen = memory.total - memory.free
    }

    /// Makes this device's context current on the calling thread (needed once per thread that uses it).
    public func makeCurrent() throws {
        try driver.check(driver.contextSetCurrent(context), "cuCtxSetCurrent")
    }

    /// (free, total) bytes of device memory right now.
    public func memoryInfo() throws -> (free: Int, total: Int) {
        var free = 0, total = 0
        try driver.check(driver.memGetInfo(&free, &total), "cuMemGetInfo")
        return (free, total)
    }

    /// Loads a cubin (or NUL-terminated PTX) image; the module lives as long as the context.
    public func loadModule(_ image: [UInt8], name: String) throws -> CUmodule {
        // (the driver reads as far as the image's headers say: one cut short is refused here, not read past its end)
        if let problem = KernelImage.problem(image) {
            throw CUDAError.library(call: "cuModuleLoadData(\(name))", message: "the kernel image is not whole: \(problem)")
        }
        var module: CUmodule? = nil
        try driver.check(image.withUnsafeBytes { driver.moduleLoadData(&module, $0.baseAddress) }, "cuModuleLoadData(\(name))")
        return module!
    }

    /// The kernel `name` (an `extern "C"` function) of `module`.
    public func function(_ name: String, in module: CUmodule) throws -> CUfunction {
        var function: CUfunction? = nil
        try driver.check(driver.moduleGetFunction(&function, module, name), "cuModuleGetFunction(\(name))")
        return function!
    }

    private static func properties(of device: CUdevice, ordinal: Int, driver: CUDADriver) throws -> CUDADeviceProperties {
        func attribute(_ attribute: Int32, _ label: String) throws -> Int {
            var value: Int32 = 0
            try driver.check(driver.deviceGetAttribute(&value, attribute, device), "cuDeviceGetAttribute(\(label))")
            return Int(value)
        }
        var nameBuffer = [CChar](repeating: 0, count: 256)
        try driver.check(driver.deviceGetName(&nameBuffer, Int32(nameBuffer.count), device), "cuDeviceGetName")
        var totalMemory = 0
        try driver.check(driver.deviceTotalMem(&totalMemory, device), "cuDeviceTotalMem")
        return CUDADeviceProperties(
            ordinal: ordinal,
            name: String(decoding: nameBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
            computeCapability: (try attribute(Int32(CCUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), "major"),
                                try attribute(Int32(CCUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR), "minor")),
            totalMemory: totalMemory,
            multiprocessors: try attribute(Int32(CCUDA_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT), "multiprocessors"),
            l2CacheBytes: try attribute(Int32(CCUDA_DEVICE_ATTRIBUTE_L2_CACHE_SIZE), "L2 cache"),
            maxSharedMemoryPerBlockOptIn: try attribute(Int32(CCUDA_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
                                                        "shared memory per block (opt-in)"))
    }
}
