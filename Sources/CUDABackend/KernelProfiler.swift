/// GPU time per kernel, without an external profiler: while profiling, an event is recorded on the stream
/// before and after every kernel launch and GEMM, and the report adds up the time between each pair by name,
/// with the work each launch was declared to do, so that the rates it reached can be set beside the device's
/// peaks. The events cost a little time themselves, so `gpt2 bench --profile` profiles extra steps after the
/// timed ones.

import CCUDA

/// The work one launch does: its floating-point operations, and the bytes it must move to or from device
/// memory at least (each input read once, each output written once; a cache can only lower what it costs).
public struct KernelWork: Sendable, Equatable {
    public var flops: Double
    public var bytes: Double

    public init(flops: Double = 0, bytes: Double = 0) {
        self.flops = flops
        self.bytes = bytes
    }

    /// A memory-bound kernel's work: `bytes` moved.
    public static func bytes(_ bytes: Int) -> KernelWork { KernelWork(bytes: Double(bytes)) }

    /// Adds `other`'s FLOPs and bytes.
    public static func += (work: inout KernelWork, other: KernelWork) {
        work.flops += other.flops
        work.bytes += other.bytes
    }
}

/// The GPU time of one kernel (or one GEMM shape) over the profiled work, and the work it did there.
public struct KernelTime: Sendable, Equatable {
    /// The kernel's name, or `gemm M×N×K …` for a cuBLASLt product.
    public var name: String
    public var calls: Int
    public var milliseconds: Double
    /// Summed over the calls; 0 where a launch declared none (the kernel's FLOPs are not worth counting, or its
    /// memory traffic depends on the data).
    public var work = KernelWork()

    public init(name: String, calls: Int, milliseconds: Double, work: KernelWork = KernelWork()) {
        self.name = name
        self.calls = calls
        self.milliseconds = milliseconds
        self.work = work
    }

    /// FLOP/s reached, when FLOPs were counted.
    public var flopsPerSecond: Double? { work.flops > 0 && milliseconds > 0 ? work.flops / (milliseconds / 1000) : nil }
    /// Bytes/s moved at least, when bytes were counted.
    public var bytesPerSecond: Double? { work.bytes > 0 && milliseconds > 0 ? work.bytes / (milliseconds / 1000) : nil }
}

final class KernelProfiler {
    private let driver: CUDADriver
    private var idle: [CUevent] = []
    private var spans: [(name: String, work: KernelWork, start: CUevent, end: CUevent)] = []

    init(driver: CUDADriver) { self.driver = driver }

    deinit {
        for event in idle + spans.flatMap({ [$0.start, $0.end] }) { _ = driver.eventDestroy(event) }
    }

    /// Runs `launch` (which queues one piece of work, `work`, on `stream`) between two recorded events.
    func measure(_ name: @autoclosure () -> String, work: KernelWork, on stream: CUstream, _ launch: () throws -> Void) throws {
        let start = try event(), end = try event()
        try driver.check(driver.eventRecord(start, stream), "cuEventRecord(profile)")
        try launch()
        try driver.check(driver.eventRecord(end, stream), "cuEventRecord(profile)")
        spans.append((name(), work, start, end))
    }

    /// Waits for the profiled work, and returns the time per name, longest total first; starts over.
    func report() throws -> [KernelTime] {
        var totals: [String: KernelTime] = [:]
        for span in spans {
            try driver.check(driver.eventSynchronize(span.end), "cuEventSynchronize(profile)")
            var milliseconds: Float = 0
            try driver.check(driver.eventElapsedTime(&milliseconds, span.start, span.end), "cuEventElapsedTime")
            totals[span.name, default: KernelTime(name: span.name, calls: 0, milliseconds: 0)].calls += 1
            totals[span.name]!.milliseconds += Double(milliseconds)
            totals[span.name]!.work += span.work
            idle += [span.start, span.end]
        }
        spans = []
        return totals.values.sorted { ($0.milliseconds, $1.name) > ($1.milliseconds, $0.name) }
    }

    private func event() throws -> CUevent {
        if let reused = idle.popLast() { return reused }
        var created: CUevent? = nil
        try driver.check(driver.eventCreate(&created, 0), "cuEventCreate(profile)")
        return created!
    }
}
