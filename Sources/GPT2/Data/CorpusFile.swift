/// An input file of `gpt2 prepare`, read front to back through POSIX `read`: in fixed-size chunks, or whole into one
/// string (the demo corpus, whose sections are documents). It may be a stream, read once: standard input (`-`), a
/// pipe or a device.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

final class CorpusFile {
    let path: String
    /// Bytes in the file when it was opened; nil for a stream.
    let size: Int?
    private let descriptor: Int32
    /// A stream's first bytes, kept as they are read (a stream cannot be read again for them).
    private var streamStart: [UInt8] = []

    /// Opens `path`: a regular file, or a stream (`CorpusInput.standardInput`, a pipe, a device).
    init(path: String) throws(PrepareError) {
        if path == CorpusInput.standardInput {
            (descriptor, size) = (0, nil)
        } else {
            switch FileSystem.openFileOrStream(path) {
            case .success(let opened): (descriptor, size) = opened
            case .failure(let error): throw .missingInput(path: path, reason: error.reason)
            }
        }
        self.path = path
    }

    deinit { if descriptor != 0 { close(descriptor) } }

    /// The file's first bytes (at most `NonTextAdvice.leadingByteCount`), wherever reading has got to; a stream's,
    /// once read.
    func leadingBytes() -> [UInt8] {
        guard size != nil else { return streamStart }
        var bytes = [UInt8](repeating: 0, count: NonTextAdvice.leadingByteCount)
        let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        return Array(bytes.prefix(max(0, got)))
    }

    /// Calls `body` with each successive chunk of `chunkBytes` bytes (the last one shorter), in one reused buffer;
    /// returns the bytes read in all.
    @discardableResult
    func forEachChunk(chunkBytes: Int, _ body: (UnsafeBufferPointer<UInt8>) throws(PrepareError) -> Void)
        throws(PrepareError) -> Int
    {
        try ByteFile.forEachChunk(of: descriptor, chunkBytes: chunkBytes, { (chunk) throws(PrepareError) in
            if streamStart.count < NonTextAdvice.leadingByteCount && size == nil {
                streamStart += chunk.prefix(NonTextAdvice.leadingByteCount - streamStart.count)
            }
            try body(chunk)
        }) { error, offset in
            .missingInput(path: path, reason: "read failed at byte \(offset): \(String(cString: strerror(error)))")
        }
    }

    /// The whole file as one string, read straight into the string's storage (never held twice); it must be
    /// non-empty valid UTF-8, and no stream.
    func text() throws(PrepareError) -> String {
        guard let size else { throw .missingInput(path: path, reason: "a stream, where a file is needed") }
        guard size > 0 else { throw .emptyInput(path: path) }
        var failure: PrepareError?
        let text = String(unsafeUninitializedCapacity: size) { buffer in
            var offset = 0
            while offset < size {
                let got = read(descriptor, buffer.baseAddress! + offset, size - offset)
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else {
                    failure = .missingInput(path: path, reason: got == 0
                        ? "it ended at byte \(offset) of the \(size) it had when opened (it changed while being read)"
                        : "read failed at byte \(offset): \(String(cString: strerror(errno)))")
                    return 0
                }
                offset += got
            }
            if let bad = UTF8Validator.firstInvalidOffset(UnsafeBufferPointer(buffer)) {
                failure = .invalidUTF8(path: path, byteOffset: bad, leadingBytes: Array(buffer.prefix(NonTextAdvice.leadingByteCount)))
                return 0
            }
            return size
        }
        if let failure { throw failure }
        return text
    }
}

/// Cuts a chunked byte stream into lines at "\n" (which is not part of the line; the last line needs none). A
/// line cut by a chunk's end is carried into the next chunk, so only a chunk plus the longest line are held.
struct LineSplitter {
    /// The longest line held, by default: a longer one is refused (a stream without a line break, `/dev/zero`, grew
    /// one line until memory ran out). A thousand times a long book; web documents are kilobytes.
    static let defaultMaxLineBytes = 1 << 30
    /// The stream's name, for the error.
    let path: String
    let maxLineBytes: Int
    private var partial: [UInt8] = []
    /// The most bytes of an unfinished line held at once.
    private(set) var peakPartialBytes = 0
    /// Lines ended so far.
    private var lineCount = 0

    init(path: String, maxLineBytes: Int = defaultMaxLineBytes) {
        self.path = path
        self.maxLineBytes = maxLineBytes
    }

    /// Calls `body` with each line that ends in `chunk`.
    mutating func split(_ chunk: UnsafeBufferPointer<UInt8>,
                        _ body: (UnsafeBufferPointer<UInt8>) throws(PrepareError) -> Void) throws(PrepareError)
    {
        guard let base = chunk.baseAddress else { return }
        var start = 0
        while start < chunk.count, let found = memchr(base + start, 0x0A, chunk.count - start) {
            let newline = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            if partial.isEmpty {
                try checkLength(newline - start)
                try body(UnsafeBufferPointer(rebasing: chunk[start..<newline]))
            } else {
                try hold(chunk[start..<newline])
                try partial.withUnsafeBufferPointer { (line) throws(PrepareError) in try body(line) }
                partial.removeAll(keepingCapacity: true)
            }
            lineCount += 1
            start = newline + 1
        }
        try hold(chunk[start...])
    }

    /// Calls `body` with the last line when the stream did not end with "\n".
    mutating func finish(_ body: (UnsafeBufferPointer<UInt8>) throws(PrepareError) -> Void) throws(PrepareError) {
        guard !partial.isEmpty else { return }
        try partial.withUnsafeBufferPointer { (line) throws(PrepareError) in try body(line) }
        partial.removeAll()
    }

    private mutating func hold(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) throws(PrepareError) {
        try checkLength(partial.count + bytes.count)
        partial.append(contentsOf: bytes)
        peakPartialBytes = max(peakPartialBytes, partial.count)
    }

    /// Throws when the line being read is `bytes` long, more than `maxLineBytes`.
    private func checkLength(_ bytes: Int) throws(PrepareError) {
        if bytes > maxLineBytes { throw .lineTooLong(path: path, line: lineCount + 1, limit: maxLineBytes) }
    }
}
