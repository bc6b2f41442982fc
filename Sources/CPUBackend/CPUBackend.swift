/// The fp32 reference backend: every op on the CPU, GEMMs through OpenBLAS, the rest in Swift,
/// split across cores with `concurrentPerform`. Every other backend is tested against this one.

import Dispatch
import GPT2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class CPUBackend: Backend, @unchecked Sendable {
    public let name = "cpu"
    public var preferredPrecision: Precision { .float32 }
    /// Worker threads for our own loops and for OpenBLAS (set for each call: see BLASThreads).
    public let threads: Int

    private var storage: [BufferKind: UnsafeMutableRawPointer] = [:]
    private var byteCounts: [BufferKind: Int] = [:]

    /// - Parameter threads: worker threads; 0 means one per core.
    public init(threads: Int = 0) {
        self.threads = WorkerThreads.count(threads)
    }

    deinit { release() }

    public func allocate(_ layout: Layout) throws {
        release()
        for kind in BufferKind.allCases {
            let bytes = layout.bytes(of: kind)
            guard bytes > 0 else { continue }
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            storage[kind] = pointer
            byteCounts[kind] = bytes
        }
    }

    public var allocatedBytes: Int { byteCounts.values.reduce(0, +) }

    public func upload(_ values: UnsafeRawBufferPointer, to dst: TensorRef) {
        precondition(values.count == dst.count * 4, "upload size mismatch")
        UnsafeMutableRawPointer(floats(dst)).copyMemory(from: values.baseAddress!, byteCount: values.count)
    }

    public func download(_ src: TensorRef, into values: UnsafeMutableRawBufferPointer) {
        precondition(values.count == src.count * 4, "download size mismatch")
        values.baseAddress!.copyMemory(from: UnsafeRawPointer(floats(src)), byteCount: values.count)
    }

    public func zero(_ tensor: TensorRef) {
        floats(tensor).initialize(repeating: 0, count: tensor.count)
    }

    public func synchronize() {}

    // MARK: - Details shared by the op files

    /// The fp32 elements of `tensor`.
    func floats(_ tensor: TensorRef) -> UnsafeMutablePointer<Float> {
        guard let base = storage[tensor.buffer] else { preconditionFailure("buffer \(tensor.buffer) not allocated") }
        precondition(tensor.offset + tensor.count <= byteCounts[tensor.buffer]! / 4, "tensor outside its buffer")
        return base.assumingMemoryBound(to: Float.self) + tensor.offset
    }

    /// The int32 elements of `tensor` (token ids).
    func ints(_ tensor: TensorRef) -> UnsafeMutablePointer<Int32> {
        UnsafeMutableRawPointer(floats(tensor)).assumingMemoryBound(to: Int32.self)
    }

    /// Runs `body` over `0..<count` split into one contiguous range per worker.
    func parallelFor(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = workerCount(for: count, minimumPerThread: minimumPerThread)
        forEachWorker(workers) { worker in
            body((count * worker / workers)..<(count * (worker + 1) / workers))
        }
    }

    /// How many workers to use for `count` items when each should get at least `minimumPerThread`.
    func workerCount(for count: Int, minimumPerThread: Int) -> Int {
        max(1, min(threads, count / max(1, minimumPerThread)))
    }

    /// Runs `body(worker)` for worker in 0..<workers, concurrently.
    func forEachWorker(_ workers: Int, _ body: (Int) -> Void) {
        guard workers > 1 else {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: workers) { body($0) }
        }
    }

    private func release() {
        for pointer in storage.values { pointer.deallocate() }
        storage = [:]
        byteCounts = [:]
    }
}
