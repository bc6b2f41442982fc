/// The CUDA backend's host helpers around the driver: the rates a profiled kernel reached (no device), and, on a
/// device (the emulator in CI), the staging ring's uploads, the kernel profiler's totals and what
/// CUDAAvailability says. The emulator finishes every copy and kernel before the call returns, so what the ring
/// and the profiler do about timing (waiting on the older copy, the time between events) is not tested here;
/// what lands where, and what is counted under which name, is.

@testable import CUDABackend
import CCUDA
import Testing

@Suite struct KernelTimeRateTests {
    /// 8 GFLOP and 2 MB in 4 ms: 8e9 / 0.004 s = 2e12 FLOP/s and 2e6 / 0.004 s = 5e8 B/s (milliseconds, not seconds).
    @Test func ratesDivideTheWorkByTheSeconds() {
        let time = KernelTime(name: "k", calls: 3, milliseconds: 4, work: KernelWork(flops: 8e9, bytes: 2e6))
        #expect(time.flopsPerSecond == 2e12)
        #expect(time.bytesPerSecond == 5e8)
    }

    /// A rate needs its work counted and some time: no FLOPs gives no FLOP rate (the byte rate stays), no bytes no
    /// byte rate, and no time neither (not infinity).
    @Test func uncountedWorkOrNoTimeGivesNoRate() {
        let bytesOnly = KernelTime(name: "k", calls: 1, milliseconds: 2, work: .bytes(1000))
        #expect(bytesOnly.flopsPerSecond == nil && bytesOnly.bytesPerSecond == 5e5)
        let flopsOnly = KernelTime(name: "k", calls: 1, milliseconds: 2, work: KernelWork(flops: 1000))
        #expect(flopsOnly.flopsPerSecond == 5e5 && flopsOnly.bytesPerSecond == nil)
        let instant = KernelTime(name: "k", calls: 1, milliseconds: 0, work: KernelWork(flops: 1, bytes: 1))
        #expect(instant.flopsPerSecond == nil && instant.bytesPerSecond == nil)
    }

    /// `+=` adds FLOPs to FLOPs and bytes to bytes; `.bytes(n)` declares bytes only.
    @Test func workAddsFieldByField() {
        var work = KernelWork(flops: 1, bytes: 10)
        work += KernelWork(flops: 100, bytes: 1000)
        work += .bytes(7)
        #expect(work == KernelWork(flops: 101, bytes: 1017))
    }
}

@Suite(.enabled(if: CUDATestEnvironment.hasDevice, CUDATestEnvironment.deviceSkipReason), .serialized)
struct StagingAndProfilerDeviceTests {
    /// The driver, a current context and a stream of its own.
    private static func open() throws -> (CUDADevice, CUDADriver, CUstream) {
        let device = try CUDADevice(driver: CUDADriver(paths: CUDATestEnvironment.paths))
        try device.makeCurrent()
        var stream: CUstream? = nil
        try device.driver.check(device.driver.streamCreate(&stream, 0), "cuStreamCreate")
        return (device, device.driver, try #require(stream))
    }

    /// Three uploads through a 16-byte ring (the third reuses the first buffer) land at their destinations: the whole
    /// ring at staging offset 0, then two ints staged at byte 8 to the middle of the destination, then the last int
    /// staged at byte 12 (offset + count == bytes exactly: allowed). An empty upload changes nothing, even past the end.
    @Test func uploadsLandWhereTheyAreSent() throws {
        let (_, driver, stream) = try Self.open()
        var device: CUdeviceptr = 0
        try driver.check(driver.memAlloc(&device, 16), "cuMemAlloc")
        defer { _ = driver.memFree(device) }
        let ring = try StagingRing(driver: driver, bytes: 16, name: "test")
        try [Int32(1), 2, 3, 4].withUnsafeBytes { try ring.queueCopy($0, to: device, stagingOffset: 0, stream: stream) }
        try [Int32(20), 30].withUnsafeBytes { try ring.queueCopy($0, to: device + 4, stagingOffset: 8, stream: stream) }
        try [Int32(40)].withUnsafeBytes { try ring.queueCopy($0, to: device + 12, stagingOffset: 12, stream: stream) }
        try [Int32]().withUnsafeBytes { try ring.queueCopy($0, to: device, stagingOffset: 16, stream: stream) }
        try driver.check(driver.streamSynchronize(stream), "cuStreamSynchronize")
        var host = [Int32](repeating: 0, count: 4)
        try driver.check(host.withUnsafeMutableBytes { driver.memcpyDtoH($0.baseAddress, device, 16) }, "cuMemcpyDtoH")
        #expect(host == [1, 20, 30, 40])
    }

    /// A ring for an empty buffer (a layout without tokens) still opens: it allocates at least 4 bytes, as the
    /// driver refuses 0, and takes empty uploads.
    @Test func anEmptyRingOpens() throws {
        let (_, driver, stream) = try Self.open()
        let ring = try StagingRing(driver: driver, bytes: 0, name: "empty")
        #expect(ring.bytes == 0)
        try [Int32]().withUnsafeBytes { try ring.queueCopy($0, to: 0, stagingOffset: 0, stream: stream) }
    }

    /// The profiler runs each launch once between its events and adds the spans up by name: "a" twice with 1 FLOP
    /// and 2 bytes each, "b" once with 5 bytes, gives a: 2 calls, 2 FLOPs, 4 bytes and b: 1 call, 5 bytes, longest
    /// total first. A report starts over: the next one has only what was measured after it.
    @Test func theProfilerAddsSpansByNameAndStartsOver() throws {
        let (_, driver, stream) = try Self.open()
        let profiler = KernelProfiler(driver: driver)
        var launches = 0
        for name in ["a", "b", "a"] {
            try profiler.measure(name, work: name == "a" ? KernelWork(flops: 1, bytes: 2) : .bytes(5), on: stream) { launches += 1 }
        }
        #expect(launches == 3)
        let first = try profiler.report()
        #expect(first.map(\.name).sorted() == ["a", "b"])
        let byName = Dictionary(uniqueKeysWithValues: first.map { ($0.name, $0) })
        #expect(byName["a"]?.calls == 2 && byName["a"]?.work == KernelWork(flops: 2, bytes: 4))
        #expect(byName["b"]?.calls == 1 && byName["b"]?.work == KernelWork(bytes: 5))
        #expect(first.allSatisfy { $0.milliseconds >= 0 })
        #expect(first.map(\.milliseconds) == first.map(\.milliseconds).sorted(by: >), "longest first")

        try profiler.measure("c", work: .bytes(1), on: stream) {}
        let second = try profiler.report()
        #expect(second.map(\.name) == ["c"] && second.first?.calls == 1 && second.first?.work == .bytes(1))
        #expect(try profiler.report().isEmpty)
    }

    /// With the emulator's (or a GPU's) driver, CUDAAvailability opens device 0 and has no problem to report; with a
    /// driver library that does not exist, the problem is the error `firstDevice` fails with, in words.
    @Test func availabilityOpensDeviceZeroOrSaysWhy() throws {
        let device = try CUDAAvailability.firstDevice(paths: CUDATestEnvironment.paths).get()
        #expect(device.properties.ordinal == 0)
        #expect(CUDAAvailability.problem(paths: CUDATestEnvironment.paths) == nil)
        var missing = CUDATestEnvironment.paths
        missing.environment["CUDA_DRIVER_LIB"] = "/nonexistent/libcuda.so.1"
        guard case .failure(let error) = CUDAAvailability.firstDevice(paths: missing) else {
            Issue.record("a missing driver library opened a device")
            return
        }
        let problem = try #require(CUDAAvailability.problem(paths: missing))
        #expect(problem == error.description && problem.contains("/nonexistent/libcuda.so.1"), "\(problem)")
    }
}
