/// GPT-2 token ids of a text that arrives in chunks (a file or a pipe read piece by piece), given out part by part as
/// soon as a safe cut ends a part: joined, they are the ids of the whole text, whatever the chunks and threads.

/// The text is checked as UTF-8 chunk by chunk, before any of a chunk is encoded, with the offset of a bad byte counted
/// from the start of the text; it is taken as it is (a byte-order mark is encoded, as tiktoken's `encode_ordinary` does).
public struct StreamingEncoder {
    private let tokenizer: GPT2Tokenizer
    private let threads: Int
    private var cutter: IndependentPartCutter
    private var validator = UTF8Validator()
    /// Bytes of the text whose ids have been given out: the text before the held part.
    public private(set) var encodedBytes = 0

    /// Encodes parts of `partBytes` or more (but the last) on `threads` threads (0: one per core); the parts a chunk
    /// completes are encoded together, so a chunk of several parts keeps the threads busy.
    public init(tokenizer: GPT2Tokenizer, threads: Int, partBytes: Int) {
        self.tokenizer = tokenizer
        self.threads = threads
        cutter = IndependentPartCutter(partBytes: partBytes)
    }

    /// The ids of each part that `chunk`, the next bytes of the text, completes (often none), in text order (kept
    /// apart: joining them would copy them all once more); throws `TokenizerError.invalidUTF8(offset:)` for a bad
    /// byte in `chunk`, before encoding any of it.
    public mutating func ids(appending chunk: UnsafeBufferPointer<UInt8>) throws(TokenizerError) -> [[Int]] {
        if let bad = validator.validate(chunk) { throw .invalidUTF8(offset: bad) }
        var parts: [String] = []
        cutter.append(chunk) { parts.append(String(decoding: $0, as: UTF8.self)) }
        return encode(parts)
    }

    /// The ids of the rest of the text, which has ended (one part, or none when there is no text left); throws
    /// `TokenizerError.invalidUTF8(offset:)` when it ended inside a character.
    public mutating func finish() throws(TokenizerError) -> [[Int]] {
        if let bad = validator.finish() { throw .invalidUTF8(offset: bad) }
        let rest = cutter.finish()
        return rest.isEmpty ? [] : encode([String(decoding: rest, as: UTF8.self)])
    }

    private mutating func encode(_ parts: [String]) -> [[Int]] {
        guard !parts.isEmpty else { return [] }
        encodedBytes = parts.reduce(encodedBytes) { $0 + $1.utf8.count }
        return tokenizer.encodeDocuments(parts, threads: threads)
    }
}
