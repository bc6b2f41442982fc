/// Orders a signal thread's deletion of a prepare's staged shards with the prepare's own thread, which goes on writing
/// them meanwhile: a shard is started (its temporary created) either before the deletion lists the folder or not at all
/// (one created just after the listing outlived a Ctrl-C), and shards already being moved into place are not deleted.

import Synchronization

final class StagingGate: Sendable {
    /// Whether shards are still being staged; false once `close()` has run.
    private let isStaging = Mutex(true)

    /// Runs `start` (creating a shard's temporary file): at once, or after an `abandon` in progress, which never
    /// returns.
    func starting<Shard, Failure: Error>(_ start: () throws(Failure) -> sending Shard) throws(Failure) -> sending Shard {
        try isStaging.withLock { _ throws(Failure) in try start() }
    }

    /// Ends the staging: an `abandon` from now on leaves the shards to be moved into place.
    func close() {
        isStaging.withLock { $0 = false }
    }

    /// While shards are staged: runs `abandon` (which deletes them and ends the process) with no shard started
    /// meanwhile. Returns, without running it, once the staging has ended.
    func abandon(_ abandon: () -> Never) {
        isStaging.withLock { staging in
            guard staging else { return }
            abandon()
        }
    }
}
