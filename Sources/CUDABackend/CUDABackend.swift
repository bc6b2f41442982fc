/// The GPU backend: every op is an NVRTC-compiled kernel or a cuBLASLt GEMM queued on one CUDA stream, in
/// mixed precision (bf16 activations and weight copy; fp32 master weights, gradients, moments, statistics).
///
/// Conventions every op file relies on:
/// * **Parameter reads go to the bf16 copy.** The model hands ops windows into `.parameters` (the fp32
///   master). Kernels that read weights (`bf16(_:)`) map such a window to the same element offset in
///   `.parameterCopy`, which `upload` and `adamWUpdate` keep equal to bf16(master).
/// * **Errors.** Setup (`init`, `allocate`) throws a `CUDAError` naming the call. The `Backend` ops cannot
///   throw, so a failing CUDA call inside an op stops the process with the call, the kernel and the
///   driver's message. Kernel faults surface at the next synchronisation; set `GPT2_CUDA_SYNC=1` to
///   synchronise after every launch so the failing kernel is the one named.
/// * **Determinism.** No kernel uses floating-point atomics: column sums go through fixed-order partials,
///   the embedding gradient through host-built token buckets. cuBLASLt is deterministic for a fixed
///   algorithm on one GPU model; the algorithm is chosen once per shape and cached.

import CCUDA
import CUDAKernels
import GPT2

public final class CUDABackend: Backend, @unchecked Sendable {
    public let name = "cuda"
    public var preferredPrecision: Precision { .mixedBFloat16 }
    public let device: CUDADevice
    public var properties: CUDADeviceProperties { device.properties }
    let driver: CUDADriver
    let stream: CUstream
    let modules: KernelModules
    let blas: CUBLASLtLibrary
    let blasHandle: cublasLtHandle_t
    /// Synchronise after every launch and GEMM (GPT2_CUDA_SYNC=1), to name the kernel that faults.
    let synchronousLaunches: Bool
    /// Add biases with a separate kernel instead of cuBLASLt's bias epilogue (GPT2_CUDA_BIAS_KERNEL=1, or
    /// after cuBLASLt offered no algorithm with the epilogue; settable for comparisons).
    public var separateBiasKernel: Bool
    /// Compute the MLP's GELU (forward and backward) with gelu.cu instead of cuBLASLt's GELU epilogues
    /// (GPT2_CUDA_GELU_KERNEL=1, or after cuBLASLt offered no algorithm with them; settable for comparisons).
    public var separateGeluKernels: Bool
    /// Sum bias gradients with elementwise.cu's column-sum kernels instead of the weight-gradient GEMM's BGRADB
    /// epilogue (GPT2_CUDA_BIAS_GRADIENT_KERNEL=1, or after cuBLASLt offered no algorithm with it; settable).
    public var separateBiasGradientKernels: Bool

    var layout: Layout?
    var buffers: [BufferKind: CUdeviceptr] = [:]
    var bufferBytes: [BufferKind: Int] = [:]
    /// The backend's scratch (see `GPUScratchLayout`): fp32 norm partials and result, column-sum partials and
    /// attention's delta (B,NH,T); int32 token buckets for the embedding backward; the AdamW tensor table.
    var scratch = Scratch()
    /// The token ids last uploaded into `.tokens`, kept on the host for the embedding backward's buckets.
    var hostTokens: [Int32] = []
    /// Page-locked staging for token uploads (at `.tokens`' offsets) and for the embedding backward's token
    /// buckets: both are queued on the stream without waiting for the GPU.
    var tokenStaging: StagingRing?
    var bucketStaging: StagingRing?
    /// AdamW tensor tables uploaded so far, by their entries: the first of their consecutive slots.
    var adamTables: [[AdamSlotKey]: Int] = [:]
    var nextAdamSlot = 0
    /// cuBLASLt descriptors and the chosen algorithm, per GEMM shape.
    var matmulPlans: [MatmulKey: MatmulPlan] = [:]
    /// Dynamic shared memory limits raised with cuFuncSetAttribute, by kernel.
    var dynamicSharedLimits: [String: Int] = [:]
    /// Which flash-attention kernels run (GPT2_CUDA_ATTENTION=cuda-cores selects attention.cu everywhere).
    public var attentionKernels: AttentionKernels
    /// Times every kernel and GEMM while set (`startProfiling`, `profileReport`).
    var profiler: KernelProfiler?

    /// Opens device `deviceOrdinal`, creates a stream, loads (compiling or from the cache) every kernel
    /// module and opens cuBLASLt. `log` receives a line per kernel file compiled (or whose cached image was
    /// refused), and one line for all the files loaded as they were, from the cache or prebuilt.
    public init(deviceOrdinal: Int = 0, paths: CUDALibraryPaths = CUDALibraryPaths(),
                log: (String) -> Void = { _ in }) throws {
        // (the diagnostic settings first: a misspelled one fails before anything loads)
        synchronousLaunches = try CUDABackend.environmentFlag(.sync)
        separateBiasKernel = try CUDABackend.environmentFlag(.biasKernel)
        separateGeluKernels = try CUDABackend.environmentFlag(.geluKernel)
        separateBiasGradientKernels = try CUDABackend.environmentFlag(.biasGradientKernel)
        attentionKernels = try CUDABackend.environmentAttentionKernels()
        driver = try CUDADriver(paths: paths)
        device = try CUDADevice(driver: driver, ordinal: deviceOrdinal)
        var created: CUstream? = nil
        try driver.check(driver.streamCreate(&created, 0), "cuStreamCreate")
        guard let created else { throw CUDAError.driver(call: "cuStreamCreate", code: -1, message: "no stream returned") }
        stream = created
        blas = try CUBLASLtLibrary(paths: paths, driverVersion: driver.version)   // (before the kernels: a missing one is reported first)
        // (cublasLtCreate on a driver too old for it said only CUBLAS_STATUS_NOT_INITIALIZED)
        if let problem = blas.incompatibility(with: driver) { throw problem }
        modules = try KernelModules(device: device, paths: paths, log: log)
        var handle: cublasLtHandle_t? = nil
        try blas.check(blas.create(&handle), "cublasLtCreate")
        guard let handle else { throw CUDAError.library(call: "cublasLtCreate", message: "no handle returned") }
        blasHandle = handle
    }

    deinit {
        _ = driver.streamSynchronize(stream)
        releaseBuffers()
        for plan in matmulPlans.values { plan.destroy(blas) }
        _ = blas.destroy(blasHandle)
    }

    // MARK: - Memory

    public func allocate(_ layout: Layout) throws {
        guard layout.precision == .mixedBFloat16 else {
            throw CUDAError.library(call: "CUDABackend.allocate",
                                    message: "the CUDA backend stores models in mixed bf16 precision; create the model with "
                                        + "precision .mixedBFloat16 (backend.preferredPrecision), not \(layout.precision)")
        }
        guard layout.config.headSize <= 128 else {
            throw CUDAError.library(call: "CUDABackend.allocate",
                                    message: "head size \(layout.config.headSize) exceeds the attention kernels' limit of 128")
        }
        guard layout.config.paddedVocabularySize % 8 == 0, layout.config.channels % 8 == 0 else {
            throw CUDAError.library(call: "CUDABackend.allocate",
                                    message: "the CUDA kernels read rows 8 bf16 (16 bytes) at a time, so the channels "
                                        + "(\(layout.config.channels)) and the padded vocabulary (\(layout.config.paddedVocabularySize)) "
                                        + "must be multiples of 8")
        }
        let encoderThreads = Self.encoderForwardThreads(C: layout.config.channels)
        guard encoderThreads <= 1024 else {
            throw CUDAError.library(call: "CUDABackend.allocate",
                                    message: "the embedding kernel gives each position one block of a thread per 8 channels, "
                                        + "\(encoderThreads) for \(layout.config.channels) channels, more than a block's 1024 threads: "
                                        + "the channels must be at most 8192")
        }
        let layerNormShared = Self.layerNormBackwardSharedBytes(C: layout.config.channels)
        guard properties.fitsDynamicSharedMemory(layerNormShared) else {   // (layernorm_backward has no static shared memory)
            throw CUDAError.library(call: "CUDABackend.allocate",
                                    message: "the LayerNorm backward keeps \(layerNormShared) bytes of sums per block for "
                                        + "\(layout.config.channels) channels, more than this device's \(properties.maxSharedMemoryPerBlockOptIn) "
                                        + "bytes of shared memory per block")
        }
        try device.makeCurrent()
        try checked(driver.streamSynchronize(stream), "cuStreamSynchronize")
        releaseBuffers()
        for kind in BufferKind.allCases {
            let bytes = layout.bytes(of: kind)
            guard bytes > 0 else { continue }
            buffers[kind] = try allocateZeroed(bytes, "\(kind)")
            bufferBytes[kind] = bytes
        }
        let sizes = GPUScratchLayout(layout)
        scratch = Scratch(sizes: sizes)
        scratch.floats = try allocateZeroed(sizes.allocationBytes[0], "scratch floats")
        scratch.ints = try allocateZeroed(sizes.allocationBytes[1], "scratch token buckets")
        scratch.adamTable = try allocateZeroed(sizes.allocationBytes[2], "AdamW table")
        hostTokens = [Int32](repeating: 0, count: layout.elementCounts[.tokens, default: 0])
        tokenStaging = try StagingRing(driver: driver, bytes: bufferBytes[.tokens] ?? 0, name: "token staging")
        bucketStaging = try StagingRing(driver: driver, bytes: sizes.allocationBytes[1], name: "token bucket staging")
        adamTables = [:]
        nextAdamSlot = 0
        self.layout = layout
    }

    public var allocatedBytes: Int {
        bufferBytes.values.reduce(0, +) + scratch.bytes
    }

    public func deviceMemoryInUse() -> Int? {
        guard let info = try? device.memoryInfo() else { return nil }
        return info.total - info.free
    }

    public func upload(_ values: UnsafeRawBufferPointer, to dst: TensorRef) {
        precondition(values.count == dst.count * 4, "upload: \(values.count) bytes for \(dst.count) elements of \(dst.buffer)")
        if dst.buffer == .tokens {
            queueTokenUpload(values, to: dst)
            return
        }
        synchronize()   // nothing queued may still read what is overwritten
        switch dtype(dst.buffer) {
        case .float32:
            copyToDevice(address(dst, .float32), values.baseAddress!, values.count, "upload \(dst.buffer)")
            if dst.buffer == .parameters {   // keep the bf16 copy the kernels read equal to bf16(master)
                let rounded = roundedToBFloat16(values)
                rounded.withUnsafeBytes { copyToDevice(bf16(dst), $0.baseAddress!, $0.count, "upload parameterCopy") }
            }
        case .bfloat16:
            let rounded = roundedToBFloat16(values)
            rounded.withUnsafeBytes { copyToDevice(address(dst, .bfloat16), $0.baseAddress!, $0.count, "upload \(dst.buffer)") }
        case .int32, .byte:   // (.tokens, the one int32 buffer, is uploaded above)
            preconditionFailure("upload into the \(dtype(dst.buffer)) buffer \(dst.buffer)")
        }
    }

    /// Token ids (inputs or targets) into `.tokens` through the staging ring: queued after the kernels that still
    /// read the old ids, so the host does not wait for them.
    private func queueTokenUpload(_ values: UnsafeRawBufferPointer, to dst: TensorRef) {
        guard dst.count > 0, let tokenStaging else { return }
        let destination = address(dst, .int32)   // checks the window
        ensureContext()
        do { try tokenStaging.queueCopy(values, to: destination, stagingOffset: dst.offset * 4, stream: stream) } catch { die(error) }
        values.withMemoryRebound(to: Int32.self) { ids in
            for i in 0..<dst.count { hostTokens[dst.offset + i] = ids[i] }
        }
        if synchronousLaunches { synchronize() }
    }

    public func download(_ src: TensorRef, into values: UnsafeMutableRawBufferPointer) {
        precondition(values.count == src.count * 4, "download: \(values.count) bytes for \(src.count) elements of \(src.buffer)")
        synchronize()
        switch dtype(src.buffer) {
        case .int32, .float32:
            copyToHost(values.baseAddress!, address(src, dtype(src.buffer)), values.count, "download \(src.buffer)")
        case .bfloat16:
            var bits = [UInt16](repeating: 0, count: src.count)
            bits.withUnsafeMutableBytes { copyToHost($0.baseAddress!, address(src, .bfloat16), $0.count, "download \(src.buffer)") }
            let floats = values.bindMemory(to: Float.self)
            for i in 0..<src.count { floats[i] = BFloat16Bits(bits: bits[i]).float }
        case .byte:
            preconditionFailure("download from the byte buffer \(src.buffer)")
        }
    }

    public func zero(_ tensor: TensorRef) {
        let type = dtype(tensor.buffer)
        guard tensor.count > 0 else { return }
        ensureContext()
        checkedOrDie(driver.memsetD8Async(address(tensor, type), 0, tensor.count * type.size, stream), "cuMemsetD8Async(\(tensor.buffer))")
        if tensor.buffer == .parameters { zero(TensorRef(buffer: .parameterCopy, offset: tensor.offset, count: tensor.count)) }
    }

    public func synchronize() {
        ensureContext()
        checkedOrDie(driver.streamSynchronize(stream), "cuStreamSynchronize (a kernel queued earlier failed; rerun with GPT2_CUDA_SYNC=1 to name it)")
    }

    // MARK: - Addresses (used by every op file)

    /// The storage type of `buffer` in the current layout.
    func dtype(_ buffer: BufferKind) -> DType {
        guard let layout else { preconditionFailure("CUDABackend: allocate(layout) before using tensors") }
        return layout.precision.dtype(of: buffer)
    }

    /// Device address of `tensor`'s first element, checking that its buffer stores `type` and that the
    /// window lies inside the allocation.
    func address(_ tensor: TensorRef, _ type: DType) -> CUdeviceptr {
        precondition(dtype(tensor.buffer) == type, "CUDABackend: \(tensor.buffer) holds \(dtype(tensor.buffer)), an op expected \(type)")
        guard let base = buffers[tensor.buffer] else { preconditionFailure("CUDABackend: buffer \(tensor.buffer) is not allocated") }
        precondition(tensor.offset >= 0 && (tensor.offset + tensor.count) * type.size <= bufferBytes[tensor.buffer]!,
                     "CUDABackend: tensor [\(tensor.offset), +\(tensor.count)) lies outside \(tensor.buffer)")
        return base + CUdeviceptr(tensor.offset * type.size)
    }

    /// A bf16 tensor; a window into the fp32 `.parameters` maps to the same offset in `.parameterCopy`.
    func bf16(_ tensor: TensorRef) -> CUdeviceptr {
        var tensor = tensor
        if tensor.buffer == .parameters { tensor.buffer = .parameterCopy }
        return address(tensor, .bfloat16)
    }

    func f32(_ tensor: TensorRef) -> CUdeviceptr { address(tensor, .float32) }
    func i32(_ tensor: TensorRef) -> CUdeviceptr { address(tensor, .int32) }

    // MARK: - Driver calls

    /// Stops the process with the call's name and the driver's message unless `result` is CUDA_SUCCESS:
    /// the `Backend` ops cannot throw, and a GPU that failed mid-step leaves nothing to recover.
    func checkedOrDie(_ result: CUresult, _ call: @autoclosure () -> String) {
        do { try driver.check(result, call()) } catch { die(error) }
    }

    func checked(_ result: CUresult, _ call: @autoclosure () -> String) throws { try driver.check(result, call()) }

    /// Makes the device's context current on the calling thread. CUDA contexts are current per thread, and
    /// callers (Swift Testing, Dispatch) may use the backend from several threads; the call costs ~0.1 µs.
    func ensureContext() {
        checkedOrDie(driver.contextSetCurrent(device.context), "cuCtxSetCurrent")
    }

    func die(_ error: Error) -> Never {
        Console.log("Error: CUDA backend: \(error)")
        fatalError("CUDA backend: \(error)")
    }

    /// Runs `body`, stopping the process with what it throws (for the ops, which cannot throw).
    func orDie(_ body: () throws -> Void) {
        do { try body() } catch { die(error) }
    }

    func copyToDevice(_ destination: CUdeviceptr, _ source: UnsafeRawPointer, _ bytes: Int, _ what: String) {
        guard bytes > 0 else { return }
        ensureContext()
        checkedOrDie(driver.memcpyHtoD(destination, source, bytes), "cuMemcpyHtoD (\(what), \(bytes) bytes)")
    }

    func copyToHost(_ destination: UnsafeMutableRawPointer, _ source: CUdeviceptr, _ bytes: Int, _ what: String) {
        guard bytes > 0 else { return }
        ensureContext()
        checkedOrDie(driver.memcpyDtoH(destination, source, bytes), "cuMemcpyDtoH (\(what), \(bytes) bytes)")
    }

    private func allocateZeroed(_ bytes: Int, _ what: String) throws -> CUdeviceptr {
        var pointer: CUdeviceptr = 0
        try checked(driver.memAlloc(&pointer, max(bytes, 4)), "cuMemAlloc(\(what), \(bytes) bytes)")
        try checked(driver.memsetD8(pointer, 0, max(bytes, 4)), "cuMemsetD8(\(what))")
        return pointer
    }

    private func releaseBuffers() {
        tokenStaging = nil
        bucketStaging = nil
        for pointer in buffers.values { _ = driver.memFree(pointer) }
        for pointer in [scratch.floats, scratch.ints, scratch.adamTable] where pointer != 0 { _ = driver.memFree(pointer) }
        buffers = [:]
        bufferBytes = [:]
        scratch = Scratch()
        layout = nil
    }

    private func roundedToBFloat16(_ values: UnsafeRawBufferPointer) -> [UInt16] {
        let floats = values.bindMemory(to: Float.self)
        return floats.map { BFloat16Bits(rounding: $0).bits }
    }

    /// The diagnostic switches, by environment variable.
    enum DiagnosticSwitch: String, CaseIterable {
        case sync = "GPT2_CUDA_SYNC", biasKernel = "GPT2_CUDA_BIAS_KERNEL", geluKernel = "GPT2_CUDA_GELU_KERNEL"
        case biasGradientKernel = "GPT2_CUDA_BIAS_GRADIENT_KERNEL"
    }

    /// The diagnostic settings in effect (`GPT2_CUDA_SYNC=1`, …), read as the backend reads them: a run under them
    /// is slower than the backend is, so a bench does not record it for plans.
    public static var diagnosticSettings: [String] {
        let switches = DiagnosticSwitch.allCases.filter { (try? environmentFlag($0)) == true }.map { "\($0.rawValue)=1" }
        let attention = (try? environmentAttentionKernels()).flatMap { $0 == .tensorCores ? nil : "GPT2_CUDA_ATTENTION=\($0.rawValue)" }
        return switches + (attention.map { [$0] } ?? [])
    }

    /// A diagnostic switch: 1 on; 0, empty or unset off; anything else refused, so that a misspelled setting is not
    /// taken for off by someone diagnosing a fault.
    static func environmentFlag(_ flag: DiagnosticSwitch) throws -> Bool {
        switch FileSystem.environment(flag.rawValue) ?? "" {
        case "1": return true
        case "0", "": return false
        case let value: throw CUDAError.environment(variable: flag.rawValue, value: value, expected: "1 (on) or 0 (off)")
        }
    }

    /// GPT2_CUDA_ATTENTION: tensor-cores (the default) or cuda-cores.
    static func environmentAttentionKernels() throws -> AttentionKernels {
        let value = FileSystem.environment("GPT2_CUDA_ATTENTION") ?? ""
        if value.isEmpty { return .tensorCores }
        guard let kernels = AttentionKernels(rawValue: value) else {
            throw CUDAError.environment(variable: "GPT2_CUDA_ATTENTION", value: value,
                                        expected: AttentionKernels.allCases.map(\.rawValue).joined(separator: " or "))
        }
        return kernels
    }

    // MARK: - Profiling

    /// From now on, records the GPU time of every kernel and GEMM (a little slower while it lasts).
    public func startProfiling() {
        if profiler == nil { profiler = KernelProfiler(driver: driver) }
    }

    /// The GPU time per kernel since `startProfiling`, longest first; profiling stops.
    public func profileReport() throws -> [KernelTime] {
        guard let profiler else { return [] }
        ensureContext()
        defer { self.profiler = nil }
        return try profiler.report()
    }

    /// Queues one kernel or GEMM (doing `work`) through `launch`, timed when profiling.
    func profiled(_ name: @autoclosure () -> String, work: @autoclosure () -> KernelWork, _ launch: () throws -> Void) throws {
        guard let profiler else { return try launch() }
        try profiler.measure(name(), work: work(), on: stream, launch)
    }
}

/// The backend's own device scratch beside the layout's buffers: pointers into the three allocations whose
/// sizes `GPUScratchLayout` gives (the planner counts the same sizes).
struct Scratch {
    var sizes: GPUScratchLayout?
    var floats: CUdeviceptr = 0
    var ints: CUdeviceptr = 0
    var adamTable: CUdeviceptr = 0

    var bytes: Int { sizes?.bytes ?? 0 }
    var normPartials: CUdeviceptr { floats }
    var normSquared: CUdeviceptr { floats + CUdeviceptr(GPUScratchLayout.normBlocks * 4) }
    var columnPartials: CUdeviceptr { floats + CUdeviceptr((sizes?.columnOffset ?? 0) * 4) }
    var delta: CUdeviceptr { floats + CUdeviceptr((sizes?.deltaOffset ?? 0) * 4) }
}
