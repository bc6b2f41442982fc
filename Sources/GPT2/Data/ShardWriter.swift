/// Writes a token shard atomically: tokens stream into `NAME.tmp-PID`, then `finish()` fills in the header,
/// fsyncs and renames, so a final name never holds a half-written shard (an abandoned writer deletes its temp file).
/// `seal()` and `publish()` are `finish()` in two steps, for a set of shards that replaces another only once all of
/// them are complete.
/// (Not through `AtomicFile`, which writes a file from one closure: a shard is appended to as a corpus is tokenised,
/// and its header is written last.)

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public final class ShardWriter {
    public let path: String
    public private(set) var tokenCount = 0
    private let temporaryPath: String
    private var fd: Int32
    /// Whether the shard has been renamed to `path`.
    private var published = false
    private var buffer: [UInt16] = []
    private static let bufferTokens = 1 << 20

    /// Starts a shard that will appear at `path` when `finish()` succeeds.
    public init(path: String) throws(ShardError) {
        self.path = path
        temporaryPath = FileSystem.temporaryPath(for: path)
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw failure() }
        buffer.reserveCapacity(Self.bufferTokens)
        let placeholder = ShardFormat.header(tokenCount: 0)
        try writeAll(placeholder)
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !published { unlink(temporaryPath) }
    }

    /// Appends `tokens`; each must fit the format's uint16 (the caller's tokenizer guarantees < vocabulary size).
    public func append(_ tokens: [Int]) throws(ShardError) {
        for token in tokens {
            guard (0...Int(UInt16.max)).contains(token) else {
                throw .tokenOutOfRange(path: path, index: tokenCount, token: token, vocabularySize: Int(UInt16.max) + 1)
            }
            buffer.append(UInt16(token).littleEndian)
            tokenCount += 1
            if buffer.count == Self.bufferTokens { try flush() }
        }
    }

    /// Appends tokens already in the format's uint16.
    public func append(_ tokens: [UInt16]) throws(ShardError) {
        try flush()
        let bytes = tokens.map { $0.littleEndian }.withUnsafeBytes { [UInt8]($0) }
        try writeAll(bytes)
        tokenCount += tokens.count
    }

    /// Writes the header, fsyncs and renames the temporary file to `path`, then fsyncs its folder (as `AtomicFile`
    /// does), so that the rename survives a crash.
    public func finish() throws(ShardError) {
        try seal()
        try publish()
    }

    /// Writes the header and fsyncs: the shard is complete, still under its temporary name (deleted with the writer
    /// unless `publish()` is called), and takes no more tokens.
    public func seal() throws(ShardError) {
        precondition(fd >= 0, "a shard is sealed once")
        try flush()
        let header = ShardFormat.header(tokenCount: tokenCount)
        let wrote = header.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, 0) }
        guard wrote == header.count, fsync(fd) == 0 else { throw failure() }
        close(fd)
        fd = -1
        buffer = []   // (a corpus's sealed shards wait together: 2 MB each held until then aborted a prepare under `ulimit -v`)
    }

    /// Renames the sealed shard to `path` (replacing a file there) and fsyncs its folder, so that the rename survives
    /// a crash.
    public func publish() throws(ShardError) {
        precondition(fd < 0 && !published, "a shard is published once, after seal()")
        guard rename(temporaryPath, path) == 0 else { throw failure() }
        published = true
        AtomicFile.syncDirectory(containing: path)
    }

    /// Writes `tokens` as a complete shard at `path` in one call.
    public static func write(_ tokens: [Int], to path: String) throws(ShardError) {
        let writer = try ShardWriter(path: path)
        try writer.append(tokens)
        try writer.finish()
    }

    private func flush() throws(ShardError) {
        guard !buffer.isEmpty else { return }
        let bytes = buffer.withUnsafeBytes { [UInt8]($0) }
        try writeAll(bytes)
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: [UInt8]) throws(ShardError) {
        if let failure = bytes.withUnsafeBytes({ ByteFile.writeFully($0, to: fd) }) {
            throw .cannotWrite(path: path, reason: String(cString: strerror(failure)))
        }
    }

    /// The last C error, named for the shard (not the temporary name it is written under); a folder in the shard's place
    /// (which the rename reports as "Is a directory") is said as such.
    private func failure() -> ShardError {
        errno == EISDIR && FileSystem.isDirectory(path) ? Self.folderInPlace(of: path) : .cannotWrite(path: path, reason: String(cString: strerror(errno)))
    }

    /// The error of a shard at `path` that a folder stands in the place of.
    static func folderInPlace(of path: String) -> ShardError { .cannotWrite(path: path, reason: "a folder is in its place; move it away") }
}
