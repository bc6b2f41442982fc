/// An exclusive hold on a run folder while a trainer works in it, so that a second `gpt2 train` aimed at the same
/// folder (a new run, or a resume of it) is refused instead of interleaving its checkpoints and metrics with the
/// first one's. It is a `FileLock` on `RUN/.lock`.

public final class RunLock {
    private let lock: FileLock
    private let runDirectory: String

    /// Holds `runDirectory` (created if missing) until this value is released; throws if another process, or
    /// another trainer in this one, holds it.
    public init(_ runDirectory: String) throws {
        guard FileSystem.makeDirectories(runDirectory) else { throw FileError.system("create run folder", runDirectory) }
        self.runDirectory = runDirectory
        let path = FileSystem.join(runDirectory, ".lock")
        do {
            lock = try FileLock(path, wait: false)
        } catch is FileLock.Busy {
            throw Self.inUse(runDirectory)
        }
        if let reason = lock.unsupportedReason {
            // a filesystem without locks: train unguarded rather than not at all
            Console.log("note: cannot lock \(path) (\(reason)), so nothing keeps another gpt2 train out of \(runDirectory) meanwhile")
        }
    }

    /// Throws when the run folder was moved or removed since it was locked: what the run writes next would go into
    /// a folder made anew at its path, unlocked (another run could take it), apart from the run's earlier files.
    func requireInPlace(step: Int) throws(TrainingError) {
        guard !lock.isInPlace else { return }
        throw TrainingError("\(runDirectory) was moved or removed during training, so training stopped after step \(step) "
                            + "without writing into a new folder there; continue the run from its checkpoints where it is now "
                            + "with gpt2 train --resume FOLDER")
    }

    /// Throws what `init` would when another process holds the run folder, without taking it.
    public static func refuseIfInUse(_ runDirectory: String) throws {
        if FileLock.isHeldByAnother(FileSystem.join(runDirectory, ".lock")) { throw inUse(runDirectory) }
    }

    private static func inUse(_ runDirectory: String) -> TrainingError {
        TrainingError("\(runDirectory) is in use by another gpt2 train; let that one finish (or stop it), or train in another --out")
    }
}
