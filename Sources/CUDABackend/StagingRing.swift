/// Host-to-device copies that do not wait for the GPU: the bytes go into one of two page-locked staging
/// buffers, used in turn, and the copy is queued on the stream, after the kernels that still read the old
/// contents of its destination. Before a staging buffer is rewritten, the event recorded after its previous
/// copy is waited on; that copy was queued two uploads earlier and has normally long finished.

import CCUDA

final class StagingRing {
    private let driver: CUDADriver
    private let buffers: [UnsafeMutableRawPointer]
    private let copied: [CUevent]
    private var turn = 0
    let bytes: Int

    /// Two page-locked buffers of `bytes` each, and their events.
    init(driver: CUDADriver, bytes: Int, name: String) throws {
        self.driver = driver
        self.bytes = bytes
        var buffers: [UnsafeMutableRawPointer] = [], events: [CUevent] = []
        do {
            for _ in 0..<2 {
                var buffer: UnsafeMutableRawPointer? = nil
                try driver.check(driver.memHostAlloc(&buffer, max(bytes, 4), 0), "cuMemHostAlloc(\(name), \(bytes) bytes)")
                buffers.append(buffer!)
                var event: CUevent? = nil
                try driver.check(driver.eventCreate(&event, 0), "cuEventCreate(\(name))")
                events.append(event!)
            }
        } catch {
            for buffer in buffers { _ = driver.memFreeHost(buffer) }
            for event in events { _ = driver.eventDestroy(event) }
            throw error
        }
        self.buffers = buffers
        copied = events
    }

    deinit {
        for (buffer, event) in zip(buffers, copied) {
            _ = driver.eventSynchronize(event)
            _ = driver.memFreeHost(buffer)
            _ = driver.eventDestroy(event)
        }
    }

    /// Queues a copy of `values` to `destination` on `stream`, staged at `offset` bytes into a staging buffer.
    func queueCopy(_ values: UnsafeRawBufferPointer, to destination: CUdeviceptr, stagingOffset offset: Int, stream: CUstream) throws {
        precondition(offset >= 0 && offset + values.count <= bytes, "staged copy of \(values.count) bytes at \(offset) exceeds \(bytes)")
        guard values.count > 0 else { return }
        let index = turn
        turn = 1 - turn
        try driver.check(driver.eventSynchronize(copied[index]), "cuEventSynchronize(staging)")
        let slot = buffers[index] + offset
        slot.copyMemory(from: values.baseAddress!, byteCount: values.count)
        try driver.check(driver.memcpyHtoDAsync(destination, slot, values.count, stream), "cuMemcpyHtoDAsync(\(values.count) bytes)")
        try driver.check(driver.eventRecord(copied[index], stream), "cuEventRecord(staging)")
    }
}
