/// Reads and writes of raw bytes through the C library (no Foundation): reading a file or stdin into memory, or
/// chunk by chunk, and writing a buffer to a file descriptor, with errors that say which file and why.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// A failed read or write, naming the file and the system's reason.
public struct ByteFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    /// Whether it was a write to standard output (descriptor 1), whose failure the CLI words as results not written.
    public let writingStandardOutput: Bool

    public var description: String { "\(path): \(reason)" }

    init(path: String, errorNumber: Int32, writingStandardOutput: Bool = false) {
        self.path = path
        self.reason = String(cString: strerror(errorNumber))
        self.writingStandardOutput = writingStandardOutput
    }
}

public enum ByteFile {
    /// The whole content of the file at `path`.
    public static func contents(ofFile path: String) throws(ByteFileError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw ByteFileError(path: path, errorNumber: errno) }
        defer { close(descriptor) }
        return try readToEnd(descriptor: descriptor, name: path)
    }

    /// Everything on standard input until end of file.
    public static func standardInput() throws(ByteFileError) -> [UInt8] {
        try readToEnd(descriptor: 0, name: "<stdin>")
    }

    /// Reads the file at `path`, or standard input for nil, to its end in chunks of `chunkBytes` bytes (the last one
    /// shorter), calling `body` with each in one reused buffer, so that a large input is never held whole; returns the
    /// bytes read. A chunk is filled before `body` sees it, however little each read of a pipe gives.
    public static func forEachChunk(ofFile path: String?, chunkBytes: Int,
                                    _ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Int
    {
        let name = path ?? "<stdin>"
        let descriptor = path.map { open($0, O_RDONLY) } ?? 0
        guard descriptor >= 0 else { throw ByteFileError(path: name, errorNumber: errno) }
        defer { if path != nil { close(descriptor) } }
        return try forEachChunk(of: descriptor, chunkBytes: chunkBytes, body) { error, _ in ByteFileError(path: name, errorNumber: error) }
    }

    /// Reads `descriptor` to its end as `forEachChunk(ofFile:)` does; a failed read throws `failure(errno, offset)`,
    /// the offset of the byte it was to read.
    static func forEachChunk<E: Error>(of descriptor: Int32, chunkBytes: Int, _ body: (UnsafeBufferPointer<UInt8>) throws(E) -> Void,
                                       failure: (Int32, Int) -> E) throws(E) -> Int
    {
        precondition(chunkBytes > 0)
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: chunkBytes)
        defer { buffer.deallocate() }
        var total = 0, reachedEnd = false
        while !reachedEnd {
            var count = 0
            while count < chunkBytes {
                let got = read(descriptor, buffer.baseAddress! + count, chunkBytes - count)
                if got < 0 && errno == EINTR { continue }
                guard got >= 0 else { throw failure(errno, total + count) }
                if got == 0 { reachedEnd = true; break }
                count += got
            }
            if count > 0 { try body(UnsafeBufferPointer(rebasing: buffer[0..<count])) }
            total += count
        }
        return total
    }

    /// Writes all of `bytes` to `descriptor` (1 = stdout, 2 = stderr), retrying short writes.
    public static func writeAll(_ bytes: [UInt8], to descriptor: Int32, name: String = "<stdout>") throws(ByteFileError) {
        if let failure = bytes.withUnsafeBytes({ writeFully($0, to: descriptor) }) {
            throw ByteFileError(path: name, errorNumber: failure, writingStandardOutput: descriptor == 1)
        }
    }

    /// Writes all of `bytes` to `descriptor`, going on after short writes and interrupted calls; returns nil once all
    /// are written, else the error number of the write that failed (EIO for one that wrote nothing, without an error).
    /// Every writer of a descriptor goes through it, so none forgets EINTR.
    public static func writeFully(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return written < 0 ? errno : EIO }
            offset += written
        }
        return nil
    }

    private static func readToEnd(descriptor: Int32, name: String) throws(ByteFileError) -> [UInt8] {
        var info = stat()
        var capacity = fstat(descriptor, &info) == 0 && info.st_size > 0 ? Int(info.st_size) + 1 : 1 << 20
        var content: [UInt8] = []
        while true {
            var failure: Int32 = 0
            var reachedEnd = false
            let chunk = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                while count < buffer.count {
                    let got = read(descriptor, buffer.baseAddress! + count, buffer.count - count)
                    if got < 0 && errno == EINTR { continue }
                    if got < 0 { failure = errno }
                    if got <= 0 { reachedEnd = true; return }
                    count += got
                }
            }
            if failure != 0 { throw ByteFileError(path: name, errorNumber: failure) }
            if content.isEmpty { content = chunk } else { content.append(contentsOf: chunk) }
            if reachedEnd { return content }
            capacity = content.count
        }
    }
}
