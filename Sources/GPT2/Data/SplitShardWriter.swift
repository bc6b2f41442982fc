/// Cuts one token stream into `NAME_val_*.bin` (the first `validationTokens`) and `NAME_train_*.bin` shards of
/// `shardTokens` each. A shard already on disk with exactly the same tokens is left untouched (re-runs skip it); the
/// others wait, complete, under temporary names until `publish()` moves them all into place, so that the folder's
/// shards stay as they were until the whole corpus is written (a writer dropped before then deletes them).

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// What a prepare wrote: its shards of each split and their token counts, and what it left or replaced.
public struct PreparedShards: Sendable {
    /// Shard paths in the order written, with their token counts.
    public var validationShards: [(path: String, tokens: Int)] = []
    public var trainShards: [(path: String, tokens: Int)] = []
    /// Shards found already complete and identical, so not rewritten.
    public var skippedShards = 0
    /// Shards of the same path that held other tokens (an earlier prepare of other inputs or options), rewritten.
    public var replacedShards = 0

    public var validationTokens: Int { validationShards.reduce(0) { $0 + $1.tokens } }
    public var trainTokens: Int { trainShards.reduce(0) { $0 + $1.tokens } }
}

final class SplitShardWriter {
    private let directory: String
    private let name: String
    private let shardTokens: Int
    private let validationTokens: Int
    private var buffer: [UInt16] = []
    private(set) var summary = PreparedShards()
    /// Complete shards under their temporary names, waiting for `publish()`.
    private var sealed: [ShardWriter] = []
    /// Tokens the shard being filled holds when complete: val shards stop at the val/train boundary.
    private var capacity: Int
    /// What a new shard's temporary file is created through, so that a signal's clean-up sees it (`StagingGate`).
    private let gate: StagingGate

    init(directory: String, name: String, shardTokens: Int, validationTokens: Int, gate: StagingGate = StagingGate()) {
        precondition(shardTokens > 0 && validationTokens >= 0)
        self.gate = gate
        self.directory = directory
        self.name = name
        self.shardTokens = shardTokens
        self.validationTokens = validationTokens
        capacity = validationTokens > 0 ? min(shardTokens, validationTokens) : shardTokens
    }

    /// The path of shard `index` of `split` ("train" or "val").
    static func path(directory: String, name: String, split: String, index: Int) -> String {
        FileSystem.join(directory, ShardFileName.make(name: name, split: split, index: index))
    }

    func append(_ tokens: [Int]) throws(PrepareError) {
        var start = 0
        while start < tokens.count {   // (in runs: the buffer, a class's property, is checked for exclusive access per call)
            let end = start + min(capacity - buffer.count, tokens.count - start)
            buffer.append(contentsOf: tokens[start..<end].lazy.map { UInt16(truncatingIfNeeded: $0) })
            start = end
            if buffer.count == capacity { try emit() }
        }
    }

    /// Writes the last, partial shard.
    func finish() throws(PrepareError) {
        if !buffer.isEmpty { try emit() }
    }

    /// Moves every shard written into its name, replacing the file there, in the order written. (After a failure, the
    /// shards not moved yet are deleted with the writer.)
    func publish() throws(PrepareError) {
        do {
            for shard in sealed { try shard.publish() }
        } catch { throw .shard(error) }
        sealed = []
    }

    private func emit() throws(PrepareError) {
        do { try writeShard() } catch { throw .shard(error) }
    }

    private func writeShard() throws(ShardError) {
        let isValidation = summary.validationTokens < validationTokens
        let split = isValidation ? "val" : "train"
        let index = isValidation ? summary.validationShards.count : summary.trainShards.count
        let path = Self.path(directory: directory, name: name, split: split, index: index)
        if Self.existingShard(at: path, equals: buffer) {
            summary.skippedShards += 1
        } else {
            // (the rename at the end would find the folder: said now, before the rest of the corpus is tokenised)
            if FileSystem.isDirectory(path) && !FileSystem.isSymbolicLink(path) { throw ShardWriter.folderInPlace(of: path) }
            if FileSystem.isFile(path) { summary.replacedShards += 1 }
            let writer = try gate.starting { () throws(ShardError) in try ShardWriter(path: path) }
            try writer.append(buffer)
            try writer.seal()
            sealed.append(writer)
        }
        if isValidation { summary.validationShards.append((path, buffer.count)) } else {
            summary.trainShards.append((path, buffer.count))
        }
        buffer.removeAll(keepingCapacity: true)
        let validationLeft = validationTokens - summary.validationTokens
        capacity = validationLeft > 0 ? min(shardTokens, validationLeft) : shardTokens
    }

    /// Whether `path` is a complete shard holding exactly `tokens`.
    private static func existingShard(at path: String, equals tokens: [UInt16]) -> Bool {
        guard FileSystem.isFile(path), let reader = try? ShardReader(path: path, vocabularySize: nil),
              reader.tokenCount == tokens.count else { return false }
        return reader.withTokens { existing in
            tokens.withUnsafeBytes { memcmp($0.baseAddress!, UnsafeRawPointer(existing.baseAddress!), $0.count) == 0 }
        }
    }
}
