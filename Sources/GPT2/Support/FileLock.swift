/// An flock on a file (exclusive) or a folder (shared or exclusive), held until this value is released. The kernel drops
/// it when the process ends, however it ends, so a crashed holder never leaves it stuck.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class FileLock {
    /// Another process (or another `FileLock` in this one) holds the file and `wait` was false, or holds the folder in
    /// a way that excludes this hold.
    struct Busy: Error {}

    /// The lock file or folder, open for as long as this value lives (locked unless `unsupportedReason` says otherwise).
    private let descriptor: Int32
    let path: String

    /// Why the lock could not be taken on a filesystem without locks (some network mounts), where the caller
    /// goes on unguarded; nil when it is held.
    let unsupportedReason: String?

    /// Locks `path` exclusively, creating it if missing; with `wait`, blocks until the holder lets go, else throws `Busy`.
    convenience init(_ path: String, wait: Bool) throws {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileError.system("open", path) }
        let result = wait ? Self.retryingInterrupts { flock(descriptor, LOCK_EX) } : Self.lockUnlessHeld(descriptor, LOCK_EX)
        try self.init(path: path, descriptor: descriptor, result: result, reason: errno)
    }

    /// Holds the folder `path` itself, `shared` with other shared holders (readers) or else exclusively (a writer),
    /// without waiting beyond a moment (see `lockUnlessHeld`): throws `Busy` when it is held the other way. Nothing is
    /// created, so nothing is left behind however the holder ends.
    convenience init(folder path: String, shared: Bool) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileError.system("open", path) }
        let result = Self.lockUnlessHeld(descriptor, shared ? LOCK_SH : LOCK_EX)
        try self.init(path: path, descriptor: descriptor, result: result, reason: errno)
    }

    /// Takes `descriptor` after `flock` gave `result` (with errno `reason`): Busy when another holds it.
    private init(path: String, descriptor: Int32, result: Int32, reason: Int32) throws {
        if result != 0 && reason == EWOULDBLOCK {
            close(descriptor)
            throw Busy()
        }
        self.descriptor = descriptor
        self.path = path
        unsupportedReason = result == 0 ? nil : String(cString: strerror(reason))
    }

    deinit { close(descriptor) }

    /// Whether `path` still names the file this value opened: false once it (or a folder above it) was removed,
    /// moved or replaced, when a new file at `path` would not be locked by anyone.
    var isInPlace: Bool { Self.names(path, descriptor) }

    /// Whether `path` names the file open as `descriptor`.
    private static func names(_ path: String, _ descriptor: Int32) -> Bool {
        var held = stat(), current = stat()
        guard fstat(descriptor, &held) == 0, stat(path, &current) == 0 else { return false }
        return held.st_dev == current.st_dev && held.st_ino == current.st_ino
    }

    /// Whether another process (or another `FileLock` in this one) holds an exclusive lock on `path`, a file or a folder (false when there is no such file).
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
