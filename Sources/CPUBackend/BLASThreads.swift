/// OpenBLAS's thread count is one setting for the whole process, and a GEMM's result can depend on it (the
/// system's OpenBLAS 0.3.21 gives a 300×777×501 SGEMM different last bits on 1 and on 2 threads). So every CPU
/// op that calls OpenBLAS does so inside `BLASThreads.shared.using(n)`, which holds the setting at n for the whole
/// call: a caller that needs another count waits until the current users are done. One backend alone never
/// waits; backends sharing a process (the tests) never change the threads under one another's GEMMs.

import COpenBLAS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class BLASThreads: @unchecked Sendable {
    static let shared = BLASThreads()

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let released = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// The count OpenBLAS was last set to (0: not yet) and how many callers are using it; guarded by `mutex`.
    private var count: Int32 = 0
    private var users = 0

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(released, nil)
    }

    /// Runs `body` with OpenBLAS on `threads` threads, a setting no other caller changes until `body` returns.
    /// Not reentrant with a different count (it would wait for itself).
    func using<Result>(_ threads: Int, _ body: () throws -> Result) rethrows -> Result {
        let wanted = Int32(threads)
        pthread_mutex_lock(mutex)
        while users > 0 && count != wanted { pthread_cond_wait(released, mutex) }
        if count != wanted {
            openblas_set_num_threads(wanted)
            count = wanted
        }
        users += 1
        pthread_mutex_unlock(mutex)
        defer {
            pthread_mutex_lock(mutex)
            users -= 1
            if users == 0 { pthread_cond_broadcast(released) }
            pthread_mutex_unlock(mutex)
        }
        return try body()
    }
}
