/// The CUDA driver API (libcuda.so.1), opened at run time and initialised: the entry points gpt2 uses,
/// with every failure turned into a `CUDAError` that names the call and the driver's message.

import CCUDA

/// libcuda's entry points, after a successful `cuInit`.
public final class CUDADriver: @unchecked Sendable {
    let library: SharedLibrary
    let getErrorString: PFN_cuGetErrorString
    let deviceGetCount: PFN_cuDeviceGetCount
    let deviceGet: PFN_cuDeviceGet
    let deviceGetName: PFN_cuDeviceGetName
    let deviceTotalMem: PFN_cuDeviceTotalMem_v2
    let deviceGetAttribute: PFN_cuDeviceGetAttribute
    let primaryContextRetain: PFN_cuDevicePrimaryCtxRetain
    let contextSetCurrent: PFN_cuCtxSetCurrent
    let moduleLoadData: PFN_cuModuleLoadData
    let moduleGetFunction: PFN_cuModuleGetFunction
    let functionSetAttribute: PFN_cuFuncSetAttribute
    let launchKernel: PFN_cuLaunchKernel
    let memAlloc: PFN_cuMemAlloc_v2
    let memFree: PFN_cuMemFree_v2
    let memcpyHtoD: PFN_cuMemcpyHtoD_v2
    let memcpyDtoH: PFN_cuMemcpyDtoH_v2
    let memsetD8: PFN_cuMemsetD8_v2
    let memsetD8Async: PFN_cuMemsetD8Async
    let streamCreate: PFN_cuStreamCreate
    let streamSynchronize: PFN_cuStreamSynchronize
    let memGetInfo: PFN_cuMemGetInfo_v2
    let memHostAlloc: PFN_cuMemHostAlloc
    let memFreeHost: PFN_cuMemFreeHost
    let memcpyHtoDAsync: PFN_cuMemcpyHtoDAsync_v2
    let eventCreate: PFN_cuEventCreate
    let eventRecord: PFN_cuEventRecord
    let eventSynchronize: PFN_cuEventSynchronize
    let eventDestroy: PFN_cuEventDestroy_v2
    let eventElapsedTime: PFN_cuEventElapsedTime
    /// The CUDA version the driver supports, e.g. 13000 for 13.0.
    public let version: Int

    /// Opens libcuda and calls `cuInit`. Throws `libraryNotFound` with no driver installed, `driver(cuInit…)`
    /// when initialisation fails, `noDevice` when it reports no device.
    public init(paths: CUDALibraryPaths = CUDALibraryPaths()) throws {
        library = try SharedLibrary.open(
            "the CUDA driver (libcuda)", variable: "CUDA_DRIVER_LIB", candidates: paths.driver,
            hint: paths.hint(variable: "CUDA_DRIVER_LIB", library: "the driver's libcuda.so.1") ?? "Install the NVIDIA driver")
        getErrorString = try library.function("cuGetErrorString", as: PFN_cuGetErrorString.self)
        let initialize = try library.function("cuInit", as: PFN_cuInit.self)
        let initialized = initialize(0)
        if initialized == Int32(CCUDA_ERROR_NO_DEVICE) { throw CUDAError.noDevice }
        deviceGetCount = try library.function("cuDeviceGetCount", as: PFN_cuDeviceGetCount.self)
        deviceGet = try library.function("cuDeviceGet", as: PFN_cuDeviceGet.self)
        deviceGetName = try library.function("cuDeviceGetName", as: PFN_cuDeviceGetName.self)
        deviceTotalMem = try library.function("cuDeviceTotalMem_v2", as: PFN_cuDeviceTotalMem_v2.self)
        deviceGetAttribute = try library.function("cuDeviceGetAttribute", as: PFN_cuDeviceGetAttribute.self)
        primaryContextRetain = try library.function("cuDevicePrimaryCtxRetain", as: PFN_cuDevicePrimaryCtxRetain.self)
        contextSetCurrent = try library.function("cuCtxSetCurrent", as: PFN_cuCtxSetCurrent.self)
        moduleLoadData = try library.function("cuModuleLoadData", as: PFN_cuModuleLoadData.self)
        moduleGetFunction = try library.function("cuModuleGetFunction", as: PFN_cuModuleGetFunction.self)
        functionSetAttribute = try library.function("cuFuncSetAttribute", as: PFN_cuFuncSetAttribute.self)
        launchKernel = try library.function("cuLaunchKernel", as: PFN_cuLaunchKernel.self)
        memAlloc = try library.function("cuMemAlloc_v2", as: PFN_cuMemAlloc_v2.self)
        memFree = try library.function("cuMemFree_v2", as: PFN_cuMemFree_v2.self)
        memcpyHtoD = try library.function("cuMemcpyHtoD_v2", as: PFN_cuMemcpyHtoD_v2.self)
        memcpyDtoH = try library.function("cuMemcpyDtoH_v2", as: PFN_cuMemcpyDtoH_v2.self)
        memsetD8 = try library.function("cuMemsetD8_v2", as: PFN_cuMemsetD8_v2.self)
        memsetD8Async = try library.function("cuMemsetD8Async", as: PFN_cuMemsetD8Async.self)
        streamCreate = try library.function("cuStreamCreate", as: PFN_cuStreamCreate.self)
        streamSynchronize = try library.function("cuStreamSynchronize", as: PFN_cuStreamSynchronize.self)
        memGetInfo = try library.function("cuMemGetInfo_v2", as: PFN_cuMemGetInfo_v2.self)
        memHostAlloc = try library.function("cuMemHostAlloc", as: PFN_cuMemHostAlloc.self)
        memFreeHost = try library.function("cuMemFreeHost", as: PFN_cuMemFreeHost.self)
        memcpyHtoDAsync = try library.function("cuMemcpyHtoDAsync_v2", as: PFN_cuMemcpyHtoDAsync_v2.self)
        eventCreate = try library.function("cuEventCreate", as: PFN_cuEventCreate.self)
        eventRecord = try library.function("cuEventRecord", as: PFN_cuEventRecord.self)
        eventSynchronize = try library.function("cuEventSynchronize", as: PFN_cuEventSynchronize.self)
        eventDestroy = try library.function("cuEventDestroy_v2", as: PFN_cuEventDestroy_v2.self)
        eventElapsedTime = try library.function("cuEventElapsedTime", as: PFN_cuEventElapsedTime.self)
        let driverGetVersion = try library.function("cuDriverGetVersion", as: PFN_cuDriverGetVersion.self)
        try Self.check(initialized, "cuInit", getErrorString)
        var version: Int32 = 0
        try Self.check(driverGetVersion(&version), "cuDriverGetVersion", getErrorString)
        self.version = Int(version)
    }

    /// How many CUDA devices the driver sees.
    public func deviceCount() throws -> Int {
        var count: Int32 = 0
        try check(deviceGetCount(&count), "cuDeviceGetCount")
        return Int(count)
    }

    /// Throws a `CUDAError.driver` naming `call` unless `result` is CUDA_SUCCESS.
    func check(_ result: CUresult, _ call: @autoclosure () -> String) throws {
        try Self.check(result, call(), getErrorString)
    }

    private static func check(_ result: CUresult, _ call: @autoclosure () -> String,
                              _ getErrorString: PFN_cuGetErrorString) throws {
        guard result != Int32(CCUDA_SUCCESS) else { return }
        var message: UnsafePointer<CChar>? = nil
        _ = getErrorString(result, &message)
        throw CUDAError.driver(call: call(), code: result, message: message.map { String(cString: $0) } ?? "unknown error")
    }

    /// "13.0" for 13000.
    public var versionString: String { Self.versionString(version) }

    /// "12.4" for a CUDA version as the driver gives it (12040).
    static func versionString(_ version: Int) -> String { "\(version / 1000).\(version % 1000 / 10)" }
}
