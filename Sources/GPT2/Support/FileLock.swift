/// An exclusive flock on a file, held until this value is released. The kernel drops it when the process ends,
/// however it ends, so a crashed holder never leaves it stuck.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class FileLock {
    /// Another process (or another `FileLock` in this one) holds the file and `wait` was false.
    struct Busy: Error {}

    private let descriptor: Int32

    /// Why the lock could not be taken on a filesystem without locks (some network mounts), where the caller
    /// goes on unguarded; nil when it is held.
    let unsupportedReason: String?

    /// Locks `path`, creating it if missing; with `wait`, blocks until the holder lets go, else throws `Busy`.
    init(_ path: String, wait: Bool) throws {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileError.system("open", path) }
        var result: Int32
        repeat {
            result = flock(descriptor, LOCK_EX | (wait ? 0 : LOCK_NB))
        } while result != 0 && errno == EINTR
        guard result == 0 else {
            let reason = errno
            close(descriptor)
            if reason == EWOULDBLOCK { throw Busy() }
            self.descriptor = -1
            unsupportedReason = String(cString: strerror(reason))
            return
        }
        self.descriptor = descriptor
        unsupportedReason = nil
    }

    deinit { if descriptor >= 0 { close(descriptor) } }
}
