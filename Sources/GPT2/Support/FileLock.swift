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

    /// The lock file, open for as long as this value lives (locked unless `unsupportedReason` says otherwise).
    private let descriptor: Int32
    let path: String
    /// Whether the file is deleted when the lock is let go (by its holder, before it unlocks).
    private let removesFile: Bool

    /// Why the lock could not be taken on a filesystem without locks (some network mounts), where the caller
    /// goes on unguarded; nil when it is held.
    let unsupportedReason: String?

    /// Locks `path`, creating it if missing; with `wait`, blocks until the holder lets go, else throws `Busy`.
    /// `removingFile`: the file is deleted when the lock is let go, so that none is left behind; a locker that
    /// finds it has locked a file deleted meanwhile opens the new one.
    init(_ path: String, wait: Bool, removingFile: Bool = false) throws {
        while true {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw FileError.system("open", path) }
            let result = wait ? Self.retryingInterrupts { flock(descriptor, LOCK_EX) } : Self.lockUnlessHeld(descriptor, LOCK_EX)
            let reason = errno
            if result != 0 && reason == EWOULDBLOCK {
                close(descriptor)
                throw Busy()
            }
            if result == 0 && removingFile && !Self.names(path, descriptor) {   // the holder before deleted it
                close(descriptor)
                continue
            }
            self.descriptor = descriptor
            self.path = path
            removesFile = removingFile && result == 0
            unsupportedReason = result == 0 ? nil : String(cString: strerror(reason))
            return
        }
    }

    deinit {
        if removesFile { unlink(path) }
        close(descriptor)
    }

    /// Whether `path` still names the file this value opened: false once it (or a folder above it) was removed,
    /// moved or replaced, when a new file at `path` would not be locked by anyone.
    var isInPlace: Bool { Self.names(path, descriptor) }

    /// Whether `path` names the file open as `descriptor`.
    private static func names(_ path: String, _ descriptor: Int32) -> Bool {
        var held = stat(), current = stat()
        guard fstat(descriptor, &held) == 0, stat(path, &current) == 0 else { return false }
        return held.st_dev == current.st_dev && held.st_ino == current.st_ino
    }

    /// Whether another process holds an exclusive lock on `path` (false when there is no such file).
    static func isHeldByAnother(_ path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return lockUnlessHeld(descriptor, LOCK_SH) != 0 && errno == EWOULDBLOCK
    }

    /// `flock(descriptor, operation | LOCK_NB)`, tried again for up to 0.2 s while another holds the file: a hold of
    /// a moment (another's `isHeldByAnother`, or a prepare that finds its work done) does not count as held.
    /// 0, or -1 with errno set.
    private static func lockUnlessHeld(_ descriptor: Int32, _ operation: Int32) -> Int32 {
        var attempts = 0
        while true {
            let result = retryingInterrupts { flock(descriptor, operation | LOCK_NB) }
            attempts += 1
            if result == 0 || errno != EWOULDBLOCK || attempts == 20 { return result }
            usleep(10_000)
        }
    }

    /// `call()` again while it fails with EINTR (a signal arrived).
    private static func retryingInterrupts(_ call: () -> Int32) -> Int32 {
        var result: Int32
        repeat { result = call() } while result != 0 && errno == EINTR
        return result
    }
}
