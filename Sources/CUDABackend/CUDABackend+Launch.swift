/// The launch of one kernel by name, with its arguments packed the way cuLaunchKernel wants them (one pointer per
/// argument value), and the grid arithmetic the ops share.

import CCUDA
import GPT2

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
        // One 8-byte slot per argument, filled with 0xFF bytes first: the driver copies as many bytes from each slot as
        // the kernel's parameter has, so an `.int` given for a size_t parameter reads as an absurd value (and fails
        // the emulator's tests) rather than as the int plus whatever the slot held.
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(1, arguments.count) * 8, alignment: 8)
        storage.initializeMemory(as: UInt8.self, repeating: 0xFF, count: max(1, arguments.count) * 8)
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
    /// limit is 48 KiB minus the kernel's static shared memory; with it, the device's opt-in limit minus the
    /// static (see `CUDADeviceProperties.fitsDynamicSharedMemory`, which the callers check first).
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
