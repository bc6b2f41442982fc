/// An exclusive hold on a run folder while a trainer works in it, so that a second `gpt2 train` aimed at the same
/// folder (a new run, or a resume of it) is refused instead of interleaving its checkpoints and metrics with the
/// first one's. It is an flock on `RUN/.lock`, which the kernel drops when the process ends, however it ends.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class RunLock {
    private let descriptor: Int32

    /// Holds `runDirectory` (created if missing) until this value is released; throws if another process, or
    /// another trainer in this one, holds it.
    init(_ runDirectory: String) throws {
        guard FileSystem.makeDirectories(runDirectory) else { throw FileError.system("create run folder", runDirectory) }
        let path = FileSystem.join(runDirectory, ".lock")
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileError.system("open", path) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            close(descriptor)
            guard reason != EWOULDBLOCK else {
                throw TrainingError("\(runDirectory) is in use by another gpt2 train; let that one finish (or stop it), "
                                    + "or train in another --out")
            }
            // a filesystem without locks (some network mounts): train unguarded rather than not at all
            Console.log("note: cannot lock \(path) (\(String(cString: strerror(reason)))), so nothing keeps another gpt2 train "
                        + "out of \(runDirectory) meanwhile")
            self.descriptor = -1
            return
        }
        self.descriptor = descriptor
    }

    deinit { if descriptor >= 0 { close(descriptor) } }
}
