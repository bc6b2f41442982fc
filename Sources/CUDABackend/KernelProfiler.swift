/// GPU time per kernel, without an external profiler: while profiling, an event is recorded on the stream
/// before and after every kernel launch and GEMM, and the report adds up the time between each pair by name.
/// The events cost a little time themselves, so `gpt2 bench --profile` profiles extra steps after the timed ones.

import CCUDA

/// The GPU time of one kernel (or one GEMM shape) over the profiled work.
public struct KernelTime: Sendable, Equatable {
    /// The kernel's name, or `gemm M×N×K …` for a cuBLASLt product.
    public var name: String
    public var calls: Int
    public var milliseconds: Double
}

final class KernelProfiler {
    private let driver: CUDADriver
    private var idle: [CUevent] = []
    private var spans: [(name: String, start: CUevent, end: CUevent)] = []

    init(driver: CUDADriver) { self.driver = driver }

    deinit {
        for event in idle + spans.flatMap({ [$0.start, $0.end] }) { _ = driver.eventDestroy(event) }
    }

    /// Runs `launch` (which queues one piece of work on `stream`) between two recorded events.
    func measure(_ name: @autoclosure () -> String, on stream: CUstream, _ launch: () throws -> Void) throws {
        let start = try event(), end = try event()
        try driver.check(driver.eventRecord(start, stream), "cuEventRecord(profile)")
        try launch()
        try driver.check(driver.eventRecord(end, stream), "cuEventRecord(profile)")
        spans.append((name(), start, end))
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
