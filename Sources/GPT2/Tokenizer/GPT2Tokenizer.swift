/// GPT-2's byte-level BPE tokenizer, identical to tiktoken's `gpt2` encoding (`encode_ordinary`): pieces from
/// the pre-tokeniser, each piece a whole token if it is one, else merged pair by pair; decoding joins bytes.

import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class GPT2Tokenizer: Sendable {
    /// The id of `<|endoftext|>`, the document separator (never produced by `encode`).
    public static let endOfText = 50256
    public static let vocabularySize = 50257

    private let tokens: VocabularyFiles.Tokens
    private let vocabulary: ByteStringTable   // token bytes → id
    private let byteTokens: [Int32]           // byte → id of the one-byte token
    private let pairs: PairRankTable

    /// Loads GPT-2's encoder.json and vocab.bpe; throws `TokenizerError` naming the file when one is missing
    /// or does not hold GPT-2's vocabulary.
    public init(encoderJSONPath: String, vocabBPEPath: String) throws {
        let tokens = try VocabularyFiles.readEncoder(path: encoderJSONPath, vocabularySize: Self.vocabularySize)
        // `<|endoftext|>` is a special token, not a mergeable one: text never encodes to it (as in tiktoken).
        var vocabulary = ByteStringTable(capacity: Self.vocabularySize)
        for id in 0..<Self.vocabularySize where id != Self.endOfText {
            try tokens.withBytes(of: id) { bytes throws(TokenizerError) in
                if vocabulary.value(for: bytes) != nil {
                    throw .corruptFile(path: encoderJSONPath, detail: "token \(id) has the same bytes as another")
                }
                vocabulary.insert(bytes, value: Int32(id))
            }
        }
        var byteTokens = [Int32](repeating: 0, count: 256)
        for byte in 0..<256 {
            guard let id = [UInt8(byte)].withUnsafeBufferPointer({ vocabulary.value(for: $0) }) else {
                throw TokenizerError.corruptFile(path: encoderJSONPath, detail: "byte \(byte) has no token")
            }
            byteTokens[byte] = id
        }
        try VocabularyFiles.checkMerges(path: vocabBPEPath) { vocabulary.value(for: $0) != nil }
        self.tokens = tokens
        self.vocabulary = vocabulary
        self.byteTokens = byteTokens
        self.pairs = Self.pairTable(tokens, vocabulary)
    }

    /// Loads `directory/encoder.json` and `directory/vocab.bpe`.
    public convenience init(directory: String) throws {
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        try self.init(encoderJSONPath: base + "encoder.json", vocabBPEPath: base + "vocab.bpe")
    }

    /// The token ids of `text`. `<|endoftext|>` in the text is ordinary text here (tiktoken's `encode_ordinary`).
    public func encode(_ text: String) -> [Int] {
        var text = text
        var workspace = Workspace()
        var output: [Int] = []
        text.withUTF8 { encode($0, workspace: &workspace, into: &output) }
        return output
    }

    /// The token ids of UTF-8 bytes; throws `TokenizerError.invalidUTF8(offset:)` at the first bad byte.
    public func encode(utf8 bytes: UnsafeBufferPointer<UInt8>) throws -> [Int] {
        try Self.validateUTF8(bytes)
        var workspace = Workspace()
        var output: [Int] = []
        encode(bytes, workspace: &workspace, into: &output)
        return output
    }

    /// Throws `TokenizerError.invalidUTF8(offset:)` at the first byte that makes `bytes` invalid UTF-8.
    public static func validateUTF8(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        if let offset = UTF8Validator.firstInvalidOffset(bytes) { throw TokenizerError.invalidUTF8(offset: offset) }
    }

    /// The token ids of each document, encoded on `threads` threads (0: one per core), each thread taking a
    /// contiguous share of the documents of about equal byte size.
    public func encodeDocuments(_ documents: [String], threads: Int = 0) -> [[Int]] {
        let workers = max(1, min(WorkerThreads.count(threads), documents.count))
        var shareEnds: [Int] = []   // worker w encodes documents shareEnds[w-1]..<shareEnds[w]
        let totalBytes = documents.reduce(0) { $0 + $1.utf8.count }
        var bytesSoFar = 0
        for (index, document) in documents.enumerated() {
            bytesSoFar += document.utf8.count
            while shareEnds.count < workers - 1, bytesSoFar * workers >= totalBytes * (shareEnds.count + 1) {
                shareEnds.append(index + 1)
            }
        }
        while shareEnds.count < workers { shareEnds.append(documents.count) }
        let results = UnsafeMutableBufferPointer<[Int]>.allocate(capacity: documents.count)
        results.initialize(repeating: [])
        defer { results.deinitialize().deallocate() }
        nonisolated(unsafe) let sharedResults = results
        let ends = shareEnds
        let encodeShare: @Sendable (Int) -> Void = { worker in
            var workspace = Workspace()
            for index in (worker == 0 ? 0 : ends[worker - 1])..<ends[worker] {
                var output: [Int] = []
                var document = documents[index]
                document.withUTF8 { self.encode($0, workspace: &workspace, into: &output) }
                sharedResults[index] = output
            }
        }
        if workers == 1 {
            encodeShare(0)
        } else {
            DispatchQueue.concurrentPerform(iterations: workers, execute: encodeShare)
        }
        return Array(results)
    }

    /// The bytes the tokens stand for, joined; throws `TokenizerError.tokenOutOfRange` for a bad id.
    public func decode(_ tokens: [Int]) throws -> [UInt8] {
        var output: [UInt8] = []
        for id in tokens {
            guard (0..<Self.vocabularySize).contains(id) else { throw TokenizerError.tokenOutOfRange(id: id) }
            self.tokens.withBytes(of: id) { output.append(contentsOf: $0) }
        }
        return output
    }

    /// Per-thread scratch: the merger's arrays and a cache of pieces that took more than one token.
    private struct Workspace {
        var merger = BytePairMerger()
        var cache = ByteStringTable(capacity: 1 << 15)
        var cachedTokens: [Int32] = []   // at a cache value v: count, then that many ids
    }

    private func encode(_ text: UnsafeBufferPointer<UInt8>, workspace: inout Workspace, into output: inout [Int]) {
        output.reserveCapacity(output.count + text.count / 4)
        PreTokenizer.forEachPiece(in: text) { range in
            let piece = UnsafeBufferPointer(rebasing: text[range])
            if piece.count == 1 {
                output.append(Int(byteTokens[Int(piece[0])]))
            } else if let id = vocabulary.value(for: piece) {
                output.append(Int(id))
            } else if let start = workspace.cache.value(for: piece) {
                let start = Int(start)
                let count = Int(workspace.cachedTokens[start])
                for i in 0..<count { output.append(Int(workspace.cachedTokens[start + 1 + i])) }
            } else {
                let first = output.count
                workspace.merger.merge(piece, byteTokens: byteTokens, pairs: pairs, into: &output)
                if !workspace.cache.hasRoom || workspace.cachedTokens.count > 1 << 20 {
                    workspace.cache.removeAll()
                    workspace.cachedTokens.removeAll(keepingCapacity: true)
                }
                workspace.cache.insert(piece, value: Int32(workspace.cachedTokens.count))
                workspace.cachedTokens.append(Int32(output.count - first))
                for id in output[first...] { workspace.cachedTokens.append(Int32(id)) }
            }
        }
    }

    /// Every way a token's bytes split into two tokens, as (left, right) ↦ token.
    private static func pairTable(_ tokens: VocabularyFiles.Tokens, _ vocabulary: ByteStringTable) -> PairRankTable {
        var triples: [(Int32, Int32, Int32)] = []
        tokens.bytes.withUnsafeBufferPointer { bytes in
            for id in 0..<vocabularySize where id != endOfText {
                let start = Int(tokens.ends[id]), end = Int(tokens.ends[id + 1])
                for split in (start + 1)..<max(start + 1, end) {
                    guard let left = vocabulary.value(for: UnsafeBufferPointer(rebasing: bytes[start..<split])),
                        let right = vocabulary.value(for: UnsafeBufferPointer(rebasing: bytes[split..<end]))
                    else { continue }
                    triples.append((left, right, Int32(id)))
                }
            }
        }
        var table = PairRankTable(capacity: triples.count)
        for (left, right, merged) in triples { table.insert(left, right, merged: merged) }
        return table
    }
}

extension VocabularyFiles.Tokens {
    /// Calls `body` with the bytes of token `id`.
    func withBytes<Result, Failure>(
        of id: Int, _ body: (UnsafeBufferPointer<UInt8>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let start = Int(ends[id]), end = Int(ends[id + 1])
        return try bytes.withUnsafeBufferPointer { (buffer) throws(Failure) -> Result in
            try body(UnsafeBufferPointer(rebasing: buffer[start..<end]))
        }
    }
}
