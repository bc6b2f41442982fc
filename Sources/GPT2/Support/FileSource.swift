/// The reading end of a file read piece by piece (the counterpart of `FileSink`): exact reads that fail with
/// the file's name when it ends early, so a large file never has to sit in memory whole.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public final class FileSource {
    let fd: Int32
    /// The file's path, for messages.
    public let path: String
    /// The file's size in bytes when it was opened.
    public let size: Int

    /// Opens `path` for reading: a regular file (a FIFO, whose opening would wait for a writer, is refused at once).
    public init(path: String) throws {
        fd = open(path, O_RDONLY | O_NONBLOCK)   // (which reads of a regular file ignore)
        guard fd >= 0 else { throw FileError.system("open", path) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = FileError.system("stat", path)
            close(fd)
            throw error
        }
        guard info.st_mode & S_IFMT == S_IFREG else {   // (a folder's "size" is a block's, which said the file was short)
            close(fd)
            throw FileError("\(path) is " + (info.st_mode & S_IFMT == S_IFDIR ? "a folder, not a file" : "not a regular file (a pipe, device or socket)"))
        }
        self.path = path
        size = Int(info.st_size)
    }

    deinit { close(fd) }

    /// Where the next `read` continues.
    private var position = 0
    /// The XXH64 of the bytes `read` has returned, from the file's start on (`read(at:into:)`'s are not in it): once
    /// the whole file has been read so, its checksum (see `ChecksumList`).
    public private(set) var checksumOfBytesRead = XXHash64()

    /// Fills `bytes` with the file's next bytes.count bytes.
    public func read(_ bytes: UnsafeMutableRawBufferPointer) throws {
        try read(at: position, into: bytes)
        position += bytes.count
        checksumOfBytesRead.update(UnsafeRawBufferPointer(bytes))
    }

    /// Reads the rest of the file a piece at a time, only for `checksumOfBytesRead`.
    public func readRest() throws {
        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 64)
        defer { piece.deallocate() }
        while position < size { try read(UnsafeMutableRawBufferPointer(rebasing: piece[0..<min(piece.count, size - position)])) }
    }

    /// Fills `bytes` with the file's bytes from `offset` on, without moving the position `read` continues from.
    public func read(at offset: Int, into bytes: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let got = pread(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else { throw FileError.system("read", path) }
            guard got > 0 else { throw FileError("\(path) ends early: it changed while it was read") }
            done += got
        }
    }

    /// The file's next `count` values of a fixed-size type.
    public func read<T: BitwiseCopyable>(_ count: Int, of type: T.Type) throws -> [T] {
        try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }
}
