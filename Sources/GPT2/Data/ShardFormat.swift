/// The token shard file format shared with llm.c and modded-nanogpt: a 256 × int32 little-endian header
/// (magic 20240520, version 1, token count, then zeros) followed by the tokens as little-endian uint16.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public enum ShardFormat {
    public static let magic: Int32 = 20_240_520
    public static let version: Int32 = 1
    /// Header length in int32 words and in bytes.
    public static let headerWords = 256
    public static let headerBytes = headerWords * 4
    /// GPT-2's vocabulary size: the default upper bound (exclusive) for token ids in a shard.
    public static let gpt2VocabularySize = GPT2Tokenizer.vocabularySize

    /// The header bytes of a shard holding `tokenCount` tokens.
    public static func header(tokenCount: Int) -> [UInt8] {
        var words = [Int32](repeating: 0, count: headerWords)
        words[0] = magic
        words[1] = version
        words[2] = Int32(tokenCount)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerBytes)
        for word in words { withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// The exact file size of a shard holding `tokenCount` tokens.
    public static func fileSize(tokenCount: Int) -> Int { headerBytes + 2 * tokenCount }

    /// The token count a header declares, after checking magic, version and that it agrees with `fileSize`.
    static func tokenCount(header: [UInt8], fileSize: Int, path: String) throws(ShardError) -> Int {
        guard fileSize >= headerBytes, header.count >= headerBytes else { throw .truncatedHeader(path: path, size: fileSize) }
        func word(_ index: Int) -> Int32 {
            header.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * index, as: Int32.self)) }
        }
        guard word(0) == magic else { throw .badMagic(path: path, found: word(0)) }
        guard word(1) == version else { throw .badVersion(path: path, found: word(1)) }
        let count = Int(word(2))
        guard count >= 0, Self.fileSize(tokenCount: count) == fileSize else {
            throw .sizeMismatch(path: path, declaredTokens: count, fileSize: fileSize)
        }
        return count
    }

    /// A read-only descriptor of the regular file at `path` (the caller closes it) and the file's size.
    static func openForReading(_ path: String) throws(ShardError) -> (descriptor: Int32, size: Int) {
        switch FileSystem.openRegularFile(path) {
        case .success(let opened): return opened
        case .failure(let error): throw .cannotOpen(path: path, reason: error.reason)
        }
    }

    /// Whether `path` is a complete shard: a valid header whose token count matches the file size.
    /// Cheap (reads 1 KiB); does not scan the tokens.
    public static func isCompleteShard(at path: String) -> Bool {
        (try? tokenCount(ofShardAt: path)) != nil
    }

    /// The token count of the shard at `path`, from its header (validated against the file size).
    public static func tokenCount(ofShardAt path: String) throws(ShardError) -> Int {
        let (fd, size) = try openForReading(path)
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: headerBytes)
        let got = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, headerBytes, 0) }
        guard got == headerBytes else { throw .truncatedHeader(path: path, size: size) }
        return try tokenCount(header: header, fileSize: size, path: path)
    }
}

/// Why a shard could not be read or written.
public enum ShardError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case truncatedHeader(path: String, size: Int)
    case badMagic(path: String, found: Int32)
    case badVersion(path: String, found: Int32)
    case sizeMismatch(path: String, declaredTokens: Int, fileSize: Int)
    case tokenOutOfRange(path: String, index: Int, token: Int, vocabularySize: Int)
    case cannotWrite(path: String, reason: String)

    private static let advice = "regenerate it with `gpt2 prepare`"

    public var description: String {
        switch self {
        case .truncatedHeader, .badMagic, .badVersion, .sizeMismatch:
            return problem + "; " + Self.advice
        case .tokenOutOfRange(_, _, let token, _) where token >= ShardFormat.gpt2VocabularySize:
            return problem + "; " + Self.advice
        case .cannotOpen(let path, _) where FileSystem.isSymbolicLink(path) && FileSystem.realPath(path) == nil:
            return problem + "; `gpt2 prepare fineweb10B` links its shards from the data mirror or the download cache: "
                + "if that moved, run the prepare again (with --mirror or GPT2_CACHE_DIR naming where it is now) to link them anew"
        default:
            return problem
        }
    }

    /// What is wrong, without what to do about it (a downloaded or mirrored shard is not regenerated by prepare).
    public var problem: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open token shard \(path): \(reason)"
        case .truncatedHeader(let path, let size):
            return "\(path) is not a token shard: \(size) bytes is shorter than the \(ShardFormat.headerBytes)-byte "
                + "header (truncated or empty file)"
        case .badMagic(let path, let found):
            return "\(path) is not a token shard: magic \(found), expected \(ShardFormat.magic)"
        case .badVersion(let path, let found):
            return "\(path) has shard version \(found); only version \(ShardFormat.version) (uint16 tokens) is supported"
        case .sizeMismatch(let path, let declared, _) where declared < 0:
            return "\(path) declares a negative token count (\(declared)): its header is damaged"
        case .sizeMismatch(let path, let declared, let size):
            let expected = ShardFormat.fileSize(tokenCount: max(0, declared))
            return "\(path) declares \(declared) tokens (\(expected) bytes) but is \(size) bytes — "
                + (size < expected ? "truncated or partially written" : "longer than its header says: the header or the file is damaged")
        case .tokenOutOfRange(let path, let index, let token, let vocabularySize):
            if token < ShardFormat.gpt2VocabularySize {   // a GPT-2 id, beyond a model with a smaller vocabulary: the shard is fine
                return "\(path) holds token \(token) at position \(index), outside the model's vocabulary (0..<\(vocabularySize)); "
                    + "these shards hold GPT-2 token ids, for a model with GPT-2's \(ShardFormat.gpt2VocabularySize)-token vocabulary"
            }
            return "\(path) holds token \(token) at position \(index), outside the vocabulary (0..<\(vocabularySize))"
        case .cannotWrite(let path, let reason):
            return "cannot write token shard \(path): \(reason)"
        }
    }
}
