/// StagingGate: a signal's clean-up and the prepare's thread never interleave. Each case runs in a child process (an
/// exit test), because the clean-up ends its process.

import Foundation
import Testing
@testable import GPT2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct StagingGateTests {
    /// A shard started on another thread just before the clean-up is complete when the clean-up lists the folder.
    @Test func theCleanUpWaitsForAShardBeingStarted() async {
        await #expect(processExitsWith: .success) {
            let gate = StagingGate()
            let file = "/tmp/staging-gate-\(getpid())-started"
            let entered = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                gate.starting {
                    entered.signal()
                    usleep(300_000)
                    _ = FileManager.default.createFile(atPath: file, contents: Data())
                }
            }
            entered.wait()
            gate.abandon(signal: SIGINT) {
                let seen = FileManager.default.fileExists(atPath: file)
                unlink(file)
                _exit(seen ? EXIT_SUCCESS : 3)
            }
            _exit(4)   // (abandon returned while staging)
        }
    }

    /// No shard is started while the clean-up runs (one created after its listing outlived it).
    @Test func noShardIsStartedDuringTheCleanUp() async {
        await #expect(processExitsWith: .success) {
            let gate = StagingGate()
            let file = "/tmp/staging-gate-\(getpid())-late"
            gate.abandon(signal: SIGINT) {
                let starter = Thread { gate.starting { _ = FileManager.default.createFile(atPath: file, contents: Data()) } }
                starter.start()
                usleep(300_000)
                let created = FileManager.default.fileExists(atPath: file)
                unlink(file)
                _exit(created ? 3 : EXIT_SUCCESS)
            }
            _exit(4)
        }
    }

    /// Once the staging is closed (the shards are moved into place), the clean-up is not run: the signal is kept, for a
    /// stop once they are in place. Shards can be started before that.
    @Test func aClosedGateLeavesTheShardsAndKeepsTheSignal() async {
        await #expect(processExitsWith: .success) {   // (exit statuses, not expectations: this runs in a child process)
            let gate = StagingGate()
            if gate.starting({ 7 }) != 7 { _exit(5) }
            gate.close()
            if gate.stopSignal != nil { _exit(4) }
            gate.abandon(signal: SIGTERM) { _exit(3) }
            if gate.stopSignal != SIGTERM { _exit(6) }
        }
    }
}
