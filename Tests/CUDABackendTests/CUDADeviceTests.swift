/// On a machine with a CUDA device: its properties are sane, every kernel file compiles for it and loads,
/// and a round trip through two kernels (fp32 → bf16 → fp32) rounds to nearest even as the CPU does.

@testable import CUDABackend
import Foundation
import CCUDA
import CUDAKernels
import CUDAParity
import GPT2
import Testing

@Suite(.enabled(if: CUDATestEnvironment.hasDevice, CUDATestEnvironment.deviceSkipReason))
struct CUDADeviceTests {
    @Test func devicePropertiesAreSane() throws {
        let device = try CUDADevice(driver: CUDADriver(paths: CUDATestEnvironment.paths))
        #expect(device.properties.computeCapability.major >= 7)
        #expect(device.properties.totalMemory > 1 << 30)
        #expect(device.properties.multiprocessors > 0)
        let memory = try device.memoryInfo()
        #expect(memory.free > 0 && memory.free <= memory.total)
    }

    @Test(.enabled(if: CUDATestEnvironment.hasNVRTC, "needs NVRTC"))
    func everyKernelLoadsOnTheDevice() throws {
        let device = try CUDADevice(driver: CUDADriver(paths: CUDATestEnvironment.paths))
        let compiler = try #require(CUDATestEnvironment.compiler)
        for (file, source) in CUDAKernelSources.all {
            let compiled = try compiler.compile(file: file, source: source, for: device.properties.architecture)
            let module = try device.loadModule(compiled.image, name: file)
            for kernel in KernelCompileTests.expectedKernels[file] ?? [] {
                _ = try device.function(kernel, in: module)
            }
        }
    }

    /// A cubin of another major architecture does not load (CUDA_ERROR_NO_BINARY_FOR_GPU): the driver checks it,
    /// and so does the emulator, so an image picked for the wrong device fails in CI as it would on a card.
    @Test(.enabled(if: CUDATestEnvironment.hasNVRTC, "needs NVRTC"))
    func aCubinForAnotherArchitectureIsRefused() throws {
        let device = try CUDADevice(driver: CUDADriver(paths: CUDATestEnvironment.paths))
        let compiler = try #require(CUDATestEnvironment.compiler)
        let other = device.properties.architecture.major == 9 ? GPUArchitecture(major: 8, minor: 0) : GPUArchitecture(major: 9, minor: 0)
        let source = try #require(CUDAKernelSources.source(named: "gelu.cu"))
        let image = try compiler.compile(file: "gelu.cu", source: source, for: other).image
        #expect { _ = try device.loadModule(image, name: "gelu.cu") } throws: { error in
            guard case CUDAError.driver(_, let code, _) = error else { return false }
            return code == 209   // CUDA_ERROR_NO_BINARY_FOR_GPU
        }
    }

    /// fp32 → bf16 → fp32 through elementwise.cu's two cast kernels, loaded on their own, rounds to nearest, ties to even,
    /// at every kind of value (`CUDAParity.bfloat16RoundingProbes`), by the rule written out below.
    @Test(.enabled(if: CUDATestEnvironment.hasNVRTC, "needs NVRTC"))
    func castRoundTripRoundsToNearestEven() throws {
        let device = try CUDADevice(driver: CUDADriver(paths: CUDATestEnvironment.paths))
        let driver = device.driver
        let compiler = try #require(CUDATestEnvironment.compiler)
        let source = try #require(CUDAKernelSources.source(named: "elementwise.cu"))
        let module = try device.loadModule(
            try compiler.compile(file: "elementwise.cu", source: source, for: device.properties.architecture).image,
            name: "elementwise.cu")
        let toBF16 = try device.function("cast_float_to_bf16", in: module)
        let toFloat = try device.function("cast_bf16_to_float", in: module)

        let input = CUDAParity.bfloat16RoundingProbes
        let count = input.count
        var floats: CUdeviceptr = 0, halves: CUdeviceptr = 0
        try driver.check(driver.memAlloc(&floats, count * 4), "cuMemAlloc")
        try driver.check(driver.memAlloc(&halves, count * 2), "cuMemAlloc")
        defer { _ = driver.memFree(floats); _ = driver.memFree(halves) }
        try driver.check(input.withUnsafeBytes { driver.memcpyHtoD(floats, $0.baseAddress, count * 4) }, "cuMemcpyHtoD")

        func launch(_ function: CUfunction, _ out: CUdeviceptr, _ inp: CUdeviceptr) throws {
            var out = out, inp = inp, n = count
            try withUnsafeMutablePointer(to: &out) { outPointer in
                try withUnsafeMutablePointer(to: &inp) { inpPointer in
                    try withUnsafeMutablePointer(to: &n) { nPointer in
                        var parameters: [UnsafeMutableRawPointer?] = [UnsafeMutableRawPointer(outPointer),
                                                                      UnsafeMutableRawPointer(inpPointer),
                                                                      UnsafeMutableRawPointer(nPointer)]
                        try driver.check(driver.launchKernel(function, UInt32((count + 255) / 256), 1, 1, 256, 1, 1, 0, nil,
                                                             &parameters, nil), "cuLaunchKernel")
                    }
                }
            }
        }
        try launch(toBF16, halves, floats)
        try launch(toFloat, floats, halves)
        var output = [Float](repeating: 0, count: count)
        try driver.check(output.withUnsafeMutableBytes { driver.memcpyDtoH($0.baseAddress, floats, count * 4) }, "cuMemcpyDtoH")
        for (x, y) in zip(input, output) {
            let hex = "0x" + String(x.bitPattern, radix: 16, uppercase: true)
            guard let expected = Self.roundedToBFloat16(x.bitPattern) else {
                #expect(y.isNaN, "bf16(\(hex)) = \(y), expected NaN")
                continue
            }
            #expect(y.bitPattern == expected, "bf16(\(hex) = \(x)) = \(y), expected \(Float(bitPattern: expected))")
        }
    }

    /// The fp32 bits of bf16(`bits`) by the rule itself, nil for NaN: keep the upper 16 bits, and add one to them when
    /// the lower 16 are more than half (0x8000), or exactly half and the upper half is odd (a tie goes to the even one).
    static func roundedToBFloat16(_ bits: UInt32) -> UInt32? {
        if bits & 0x7FFF_FFFF > 0x7F80_0000 { return nil }
        let (upper, lower) = (bits >> 16, bits & 0xFFFF)
        let roundsUp = lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1)
        return (roundsUp ? upper + 1 : upper) << 16
    }
}

/// The emulator refuses the launches a GPU refuses, so CI catches them before a GPU session does.
@Suite(.enabled(if: CUDATestEnvironment.hasDevice && CUDATestEnvironment.isEmulated, "runs on the CUDA emulator only"))
struct CUDAEmulatorLaunchTests {
    @Test func launchesBeyondTheDeviceLimitsFailWithAReason() throws {
        let device = try CUDADevice(driver: CUDADriver(paths: CUDATestEnvironment.paths))
        let driver = device.driver
        let compiler = try #require(CUDATestEnvironment.compiler)
        let source = try #require(CUDAKernelSources.source(named: "attention.cu"))
        let module = try device.loadModule(
            try compiler.compile(file: "attention.cu", source: source, for: device.properties.architecture).image, name: "attention.cu")
        let row = try device.function("attention_forward_row", in: module)
        var buffer: CUdeviceptr = 0
        try driver.check(driver.memAlloc(&buffer, 1 << 16), "cuMemAlloc")
        defer { _ = driver.memFree(buffer) }
        var out = buffer, qkv = buffer, t: Int32 = 0, C: Int32 = 32, NH: Int32 = 1
        func launch(block: UInt32, sharedBytes: UInt32) -> CUresult {
            withUnsafeMutablePointer(to: &out) { o in
                withUnsafeMutablePointer(to: &qkv) { q in
                    withUnsafeMutablePointer(to: &t) { tp in
                        withUnsafeMutablePointer(to: &C) { c in
                            withUnsafeMutablePointer(to: &NH) { h in
                                var parameters: [UnsafeMutableRawPointer?] = [.init(o), .init(q), .init(tp), .init(c), .init(h)]
                                return driver.launchKernel(row, 1, 1, 1, block, 1, 1, sharedBytes, nil, &parameters, nil)
                            }
                        }
                    }
                }
            }
        }
        #expect(launch(block: 32, sharedBytes: 4) == 0)
        #expect(launch(block: 1056, sharedBytes: 4) != 0, "more than 1024 threads")
        #expect(launch(block: 32, sharedBytes: 48 * 1024) != 0, "static + dynamic shared memory above 48 KiB without opting in")
        do {
            try driver.check(launch(block: 32, sharedBytes: 48 * 1024), "cuLaunchKernel")
            Issue.record("the oversized launch succeeded")
        } catch {
            #expect("\(error)".contains("shared memory"), "the error names the cause: \(error)")
        }
        // A pointer argument that is not device memory is refused before any block runs.
        var stray = CUdeviceptr(0x1000)
        swap(&out, &stray)
        #expect(launch(block: 32, sharedBytes: 4) != 0, "a host address as a kernel argument")
    }

    /// The kernels of CUDAEmulator/checks, each breaking one rule, compiled by NVRTC and loaded on the emulator.
    private func checkKernels() throws -> (CUDADriver, CUmodule, CUDADevice) {
        let device = try CUDADevice(driver: CUDADriver(paths: CUDATestEnvironment.paths))
        let compiler = try #require(CUDATestEnvironment.compiler)
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/CUDAEmulator/checks/emulator_checks.cu").path
        let source = String(decoding: try ByteFile.contents(ofFile: path), as: UTF8.self)
        let image = try compiler.compile(file: "emulator_checks.cu", source: source, for: device.properties.architecture).image
        return (device.driver, try device.loadModule(image, name: "emulator_checks.cu"), device)
    }

    /// Launches `function` on `blocks` blocks of `threads` with a device buffer and an int, returning the result code.
    private func launch(_ driver: CUDADriver, _ function: CUfunction, blocks: UInt32 = 1, threads: UInt32, buffer: CUdeviceptr,
                        value: Int32 = 0, sharedBytes: UInt32 = 0) -> CUresult {
        var buffer = buffer, value = value
        return withUnsafeMutablePointer(to: &buffer) { b in
            withUnsafeMutablePointer(to: &value) { v in
                var parameters: [UnsafeMutableRawPointer?] = [.init(b), .init(v)]
                return driver.launchKernel(function, blocks, 1, 1, threads, 1, 1, sharedBytes, nil, &parameters, nil)
            }
        }
    }

    @Test func warpOperationsWithExitedOrDivergentLanesAreReported() throws {
        let (driver, module, device) = try checkKernels()
        var buffer: CUdeviceptr = 0
        try driver.check(driver.memAlloc(&buffer, 1024), "cuMemAlloc")
        defer { _ = driver.memFree(buffer) }
        for (kernel, cause) in [("check_shuffle_after_exit", "has exited"), ("check_shuffle_in_divergent_code", "deadlock")] {
            let function = try device.function(kernel, in: module)
            do {
                try driver.check(launch(driver, function, threads: 64, buffer: buffer), kernel)
                Issue.record("\(kernel) ran as if nothing were wrong")
            } catch {
                #expect("\(error)".contains(cause), "\(kernel): \(error)")
            }
        }
    }

    @Test func aMissingBarrierGivesWrongResultsInSomeThreadOrder() throws {
        let (driver, module, device) = try checkKernels()
        let race = try device.function("check_race", in: module)
        var buffer: CUdeviceptr = 0
        try driver.check(driver.memAlloc(&buffer, 64 * 4), "cuMemAlloc")
        defer { _ = driver.memFree(buffer) }
        var wrongOrders: [Bool] = []
        for (reverse, seed) in [(false, Int32(1000)), (true, Int32(2000))] {
            try CUDATestEnvironment.withEmulatedThreadOrder(reverse: reverse) {
                try driver.check(launch(driver, race, threads: 64, buffer: buffer, value: seed), "check_race")
            }
            var out = [Int32](repeating: 0, count: 64)
            try driver.check(out.withUnsafeMutableBytes { driver.memcpyDtoH($0.baseAddress, buffer, 64 * 4) }, "cuMemcpyDtoH")
            wrongOrders.append(out != (0..<64).map { Int32(63 - $0) + seed })
        }
        #expect(wrongOrders.contains(true), "the race went unnoticed in both thread orders")
    }

    /// cp.async copies land at the wait in the default schedule and at issue in the reverse one, so a read
    /// that does not wait for its copies goes wrong in the first; a thread that exits with copies in flight
    /// fails the launch.
    @Test func asyncCopiesLandOnlyWhereTheScheduleAllows() throws {
        let (driver, module, device) = try checkKernels()
        let kernel = try device.function("check_async_copy", in: module)
        var buffer: CUdeviceptr = 0
        try driver.check(driver.memAlloc(&buffer, 128 * 4), "cuMemAlloc")
        defer { _ = driver.memFree(buffer) }
        let input = (0..<64).map { Float($0) + 0.5 }, expected = input.reversed() as [Float]
        func run(mode: Int32, reverse: Bool) throws -> [Float] {
            try driver.check(input.withUnsafeBytes { driver.memcpyHtoD(buffer, $0.baseAddress, 64 * 4) }, "cuMemcpyHtoD")
            try CUDATestEnvironment.withEmulatedThreadOrder(reverse: reverse) {
                try driver.check(launch(driver, kernel, threads: 64, buffer: buffer, value: mode, sharedBytes: 256), "check_async_copy")
            }
            var out = [Float](repeating: 0, count: 64)
            try driver.check(out.withUnsafeMutableBytes { driver.memcpyDtoH($0.baseAddress, buffer + 64 * 4, 64 * 4) }, "cuMemcpyDtoH")
            return out
        }
        #expect(try run(mode: 1, reverse: false) == expected)
        #expect(try run(mode: 1, reverse: true) == expected)
        // Threads 0…31 read slots whose copies land only after those reads (fresh shared memory, NaN); threads
        // 32…63 read after threads 31…0 have waited.
        let early = try run(mode: 0, reverse: false)
        #expect(early.prefix(32).allSatisfy(\.isNaN) && Array(early.suffix(32)) == Array(expected.suffix(32)), "\(early)")
        #expect(try run(mode: 0, reverse: true) == expected, "copies landed at issue")
        do {
            _ = try run(mode: 2, reverse: false)
            Issue.record("copies still in flight at exit went unnoticed")
        } catch {
            #expect("\(error)".contains("cp.async copies it never waited for"), "\(error)")
        }
    }

    /// Every block starts with its static and dynamic shared memory unset (0xFF bytes, NaN as fp32), in the first
    /// launch and the next, so a kernel that reads shared memory before writing it cannot pick up an earlier
    /// block's values and pass.
    @Test func sharedMemoryStartsUnsetInEveryBlock() throws {
        let (driver, module, device) = try checkKernels()
        let kernel = try device.function("check_shared_memory_starts_unset", in: module)
        var buffer: CUdeviceptr = 0
        try driver.check(driver.memAlloc(&buffer, 3 * 128 * 4), "cuMemAlloc")
        defer { _ = driver.memFree(buffer) }
        for launchIndex in 0..<2 {
            try driver.check(launch(driver, kernel, blocks: 3, threads: 64, buffer: buffer, sharedBytes: 256), "check_shared_memory_starts_unset")
            var out = [Float](repeating: 0, count: 3 * 128)
            try driver.check(out.withUnsafeMutableBytes { driver.memcpyDtoH($0.baseAddress, buffer, 3 * 128 * 4) }, "cuMemcpyDtoH")
            for block in 0..<3 {
                let seen = out[(block * 128)..<(block * 128 + 128)]
                #if os(Linux)   // (static shared memory is refilled where the linker marks its section's bounds: ELF)
                #expect(seen.prefix(64).allSatisfy { $0.isNaN }, "launch \(launchIndex), block \(block): static shared memory held \(seen.prefix(4))")
                #endif
                #expect(seen.suffix(64).allSatisfy { $0.isNaN }, "launch \(launchIndex), block \(block): dynamic shared memory held \(seen.suffix(64).prefix(4))")
            }
        }
    }

    @Test func anAccessPastTheEndOfAnAllocationIsAnIllegalAddress() throws {
        let (driver, module, device) = try checkKernels()
        let outOfBounds = try device.function("check_out_of_bounds", in: module)
        var buffer: CUdeviceptr = 0
        try driver.check(driver.memAlloc(&buffer, 64 * 4), "cuMemAlloc")
        defer { _ = driver.memFree(buffer) }
        // Fresh memory is not cleared, as on a GPU: 0xFF bytes, NaN as fp32.
        var fresh = [Float](repeating: 0, count: 64)
        try driver.check(fresh.withUnsafeMutableBytes { driver.memcpyDtoH($0.baseAddress, buffer, 64 * 4) }, "cuMemcpyDtoH")
        #expect(fresh.allSatisfy { $0.isNaN }, "fresh device memory reads as \(fresh.prefix(4))")

        #expect(launch(driver, outOfBounds, threads: 32, buffer: buffer, value: 63) == 0, "the last element is in bounds")
        let result = launch(driver, outOfBounds, threads: 32, buffer: buffer, value: 64)
        #expect(result == 700, "CUDA_ERROR_ILLEGAL_ADDRESS, got \(result)")
        do {
            try driver.check(result, "check_out_of_bounds")
            Issue.record("the write past the end went unnoticed")
        } catch {
            #expect("\(error)".contains("block (0,0,0) thread (0,0,0)"), "names the thread: \(error)")
            #expect("\(error)".contains("0 bytes past the end of a 256-byte device allocation"), "names the allocation: \(error)")
        }
        // The emulator goes on working after the fault.
        #expect(launch(driver, outOfBounds, threads: 32, buffer: buffer, value: 0) == 0)
    }
}
