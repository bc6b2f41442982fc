/// Orders a signal thread's deletion of a prepare's staged shards with the prepare's own thread, which goes on writing
/// them meanwhile: a shard is started (its temporary created) either before the deletion lists the folder or not at all
/// (one created just after the listing outlived a Ctrl-C), and shards already being moved into place are not deleted:
/// the stop is remembered instead, for after the move.

import Synchronization

final class StagingGate: Sendable {
    private enum Phase {
        case staging
        /// `stopSignal`: the signal that asked for a stop meanwhile.
        case moving(stopSignal: Int32?)
    }
    private let phase = Mutex(Phase.staging)

    /// Runs `start` (creating a shard's temporary file): at once, or after an `abandon` in progress, which never
    /// returns.
    func starting<Shard, Failure: Error>(_ start: () throws(Failure) -> sending Shard) throws(Failure) -> sending Shard {
        try phase.withLock { _ throws(Failure) in try start() }
    }

    /// Ends the staging: the shards are moved into place from now on, and `abandon` leaves them.
    func close() {
        phase.withLock { $0 = .moving(stopSignal: nil) }
    }

    /// Asked by `signal`: while shards are staged, runs `abandon` (which deletes them and ends the process) with no shard
    /// started meanwhile. Once the staging has ended, returns without running it, and the signal is `stopSignal`.
    func abandon(signal: Int32, _ abandon: () -> Never) {
        phase.withLock { phase in
            guard case .staging = phase else {
                phase = .moving(stopSignal: signal)
                return
            }
            abandon()
        }
    }

    /// The signal that asked for a stop while the shards were moved into place, if one did.
    var stopSignal: Int32? {
        phase.withLock { phase in
            guard case .moving(let signal) = phase else { return nil }
            return signal
        }
    }
}
