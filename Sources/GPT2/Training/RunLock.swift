/// An exclusive hold on a run folder while a trainer works in it, so that a second `gpt2 train` aimed at the same
/// folder (a new run, or a resume of it) is refused instead of interleaving its checkpoints and metrics with the
/// first one's. It is a `FileLock` on `RUN/.lock`.

final class RunLock {
    private let lock: FileLock

    /// Holds `runDirectory` (created if missing) until this value is released; throws if another process, or
    /// another trainer in this one, holds it.
    init(_ runDirectory: String) throws {
        guard FileSystem.makeDirectories(runDirectory) else { throw FileError.system("create run folder", runDirectory) }
        let path = FileSystem.join(runDirectory, ".lock")
        do {
            lock = try FileLock(path, wait: false)
        } catch is FileLock.Busy {
            throw TrainingError("\(runDirectory) is in use by another gpt2 train; let that one finish (or stop it), "
                                + "or train in another --out")
        }
        if let reason = lock.unsupportedReason {
            // a filesystem without locks: train unguarded rather than not at all
            Console.log("note: cannot lock \(path) (\(reason)), so nothing keeps another gpt2 train out of \(runDirectory) meanwhile")
        }
    }
}
