/// Writing whole files atomically with POSIX calls: the bytes go to a temporary name, are fsynced,
/// then renamed over the final name, so a crash never leaves half a file under it.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public enum AtomicFile {
    /// Writes the file through `body`, atomically: `PATH.tmp-PID`, fsync, rename, fsync of the folder. A symbolic link
    /// at `path` is kept, and the file it names is the one replaced; anything at `path` that is not a file (a device
    /// such as /dev/stdout, a pipe, a folder) is refused, since the rename would put a file in its place.
    /// Returns the XXH64 of the bytes written (see `ChecksumList`).
    @discardableResult
    public static func write(_ path: String, _ body: (inout FileSink) throws -> Void) throws -> UInt64 {
        try withoutActuallyEscaping(body) { body in try writeTogether([(path, body)])[0] }
    }

    /// Writes several files as `write` does each, and renames them into place only once all are written, one right after
    /// the other: a failure or an interruption while they are written leaves every one as it was (a model file and its
    /// config.json do not come from two exports; only a kill in the microseconds between the renames could split them).
    /// Returns the XXH64 of each file's bytes, in order.
    @discardableResult
    public static func writeTogether(_ files: [(path: String, body: (inout FileSink) throws -> Void)]) throws -> [UInt64] {
        var written: [(temporary: String, path: String, checksum: UInt64)] = []
        do {
            for (path, body) in files {
                let path = try regularFileDestination(path)
                let (temporary, checksum) = try writeTemporary(for: path, body)
                written.append((temporary, path, checksum))
            }
        } catch {
            for file in written { unlink(file.temporary) }
            throw error
        }
        for (index, file) in written.enumerated() where rename(file.temporary, file.path) != 0 {
            let failure = FileError.system("rename \(file.temporary) to", file.path)
            for unrenamed in written[index...] { unlink(unrenamed.temporary) }
            throw failure
        }
        for file in written { syncDirectory(containing: file.path) }
        return written.map(\.checksum)
    }

    /// Writes `PATH.tmp-PID` through `body` and fsyncs it; returns its path and the XXH64 of its bytes. Errors name
    /// `path`, not the temporary.
    private static func writeTemporary(for path: String, _ body: (inout FileSink) throws -> Void) throws -> (String, UInt64) {
        let temporary = FileSystem.temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FileError.system("create", path) }
        var sink = FileSink(fd: fd, path: path)
        do {
            try body(&sink)
            guard fsync(fd) == 0 else { throw FileError.system("fsync", path) }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        return (temporary, sink.checksum.digest)
    }

    /// `path`, or the file a symbolic link there names; refused unless that is a regular file or nothing yet.
    public static func regularFileDestination(_ path: String) throws -> String {
        var status = stat()
        guard lstat(path, &status) == 0 else { return path }   // nothing there yet
        var destination: String? = path
        if status.st_mode & S_IFMT == S_IFLNK {
            guard stat(path, &status) == 0 else {
                throw FileError("\(path) is a symbolic link to nothing that exists; remove it or give another path")
            }
            // (what a link like /dev/stdout names may have no path, a pipe: it is no regular file either)
            destination = realpath(path, nil).map { resolved in defer { free(resolved) }; return String(cString: resolved) }
        }
        guard let destination, status.st_mode & S_IFMT == S_IFREG else {
            let kind = status.st_mode & S_IFMT == S_IFDIR ? "a folder" : "not a regular file (a device, pipe or socket)"
            throw FileError("cannot write \(path): it is \(kind), and writing would replace it; give a file path")
        }
        return destination
    }

    /// fsyncs the folder holding `path`, so a rename into it survives a crash.
    public static func syncDirectory(containing path: String) {
        let fd = open(FileSystem.directoryName(path), O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

/// The writing end given to `AtomicFile.write`.
public struct FileSink {
    let fd: Int32
    let path: String
    /// The XXH64 of the bytes written so far.
    private(set) var checksum = XXHash64()

    /// Appends raw bytes.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let failure = ByteFile.writeFully(bytes, to: fd) {
            throw FileError("cannot write \(path): \(String(cString: strerror(failure)))")
        }
        checksum.update(bytes)
    }

    /// Appends the bytes of a numeric array.
    public mutating func write<T: BitwiseCopyable>(_ values: [T]) throws {
        try values.withUnsafeBytes { try write($0) }
    }
}
