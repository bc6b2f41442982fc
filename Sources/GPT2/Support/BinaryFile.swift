/// Reading and writing whole binary files with POSIX calls: reads report a clear error naming the
/// file; writes go to a temporary name, are fsynced, then renamed, so a crash never leaves half a file.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// A file that could not be read or written; the message names it and the reason.
public struct FileError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    static func system(_ action: String, _ path: String) -> FileError {
        FileError("cannot \(action) \(path): \(String(cString: strerror(errno)))")
    }
}

public enum BinaryFile {
    /// The whole file's bytes.
    public static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileError.system("open", path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError.system("stat", path) }
        let size = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while done < size {
                let got = Glibc.read(fd, buffer.baseAddress! + done, size - done)
                guard got > 0 else { throw FileError.system("read", path) }
                done += got
            }
        }
        return bytes
    }

    /// Writes the file through `body`, atomically: `PATH.tmp-PID`, fsync, rename, fsync of the folder.
    public static func writeAtomically(_ path: String, _ body: (inout FileSink) throws -> Void) throws {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FileError.system("create", temporary) }
        var sink = FileSink(fd: fd, path: temporary)
        do {
            try body(&sink)
            guard fsync(fd) == 0 else { throw FileError.system("fsync", temporary) }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw FileError.system("rename \(temporary) to", path)
        }
        syncDirectory(containing: path)
    }

    /// fsyncs the folder holding `path`, so a rename into it survives a crash.
    public static func syncDirectory(containing path: String) {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(folder.isEmpty ? "/" : folder, O_RDONLY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Whether a file or folder exists at `path`.
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}

/// The writing end given to `BinaryFile.writeAtomically`.
public struct FileSink {
    let fd: Int32
    let path: String

    /// Appends raw bytes.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let put = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            guard put > 0 else { throw FileError.system("write", path) }
            done += put
        }
    }

    /// Appends the bytes of a numeric array.
    public mutating func write<T: BitwiseCopyable>(_ values: [T]) throws {
        try values.withUnsafeBytes { try write($0) }
    }
}
