/// `BLASThreads` holds OpenBLAS's one process-wide thread count for the whole of each call: callers that want
/// different counts, racing on every core, each see their own count from start to end.

import COpenBLAS
@testable import CPUBackend
import Dispatch
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct BLASThreadsTests {
    @Test func eachCallSeesItsOwnThreadCountThroughout() {
        let mismatches = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 400) { call in
            let wanted = 1 + call % 2
            BLASThreads.shared.using(wanted) {
                // a while inside the call, in which a caller that set the count regardless would change it
                for _ in 0..<20 {
                    let seen = Int(openblas_get_num_threads())
                    if seen != wanted { mismatches.withLock { $0.append("call \(call) wanted \(wanted) threads and saw \(seen)") } }
                    sched_yield()
                }
            }
        }
        #expect(mismatches.withLock { $0.isEmpty }, "\(mismatches.withLock { $0.prefix(3) })")
    }
}
