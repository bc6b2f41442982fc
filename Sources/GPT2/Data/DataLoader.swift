/// Yields (inputs, targets) batches of B×T int32 tokens from a set of token shards, llm.c-style: each shard is
/// cut into chunks of B·T·worldSize tokens, rank r reads the r-th B·T slice of each chunk (ranks are disjoint).
///
/// With `shuffle`, every epoch permutes the shard order and, within each shard, the chunk order, both derived
/// from the seed alone; without it the order is sequential. The next batch is prefetched on a background queue.

import Dispatch

/// One micro-batch's tokens: `targets[i]` is the token after `inputs[i]`. Both are B·T long, row-major (B,T).
public struct Batch: Sendable, Equatable {
    public var inputs: [Int32]
    public var targets: [Int32]
}

/// Which shard files to read.
public enum ShardSelection: Sendable, CustomStringConvertible {
    /// A shell pattern such as `data/fineweb10B/fineweb_train_*.bin`.
    case pattern(String)
    /// The `split` shards (`NAME_train_NNNNNN.bin` / `NAME_val_NNNNNN.bin`) that `gpt2 prepare` wrote into `directory`.
    case split(directory: String, split: String)

    public var description: String { pattern(literally: { $0 }) }

    /// The folder the shards are in.
    public var directory: String {
        switch self {
        case .pattern(let pattern): return FileSystem.directoryName(pattern)
        case .split(let directory, _): return directory
        }
    }

    /// The matching shard paths, sorted. A split's folder and name are taken as they are written (`runs[1]` is no
    /// pattern, and `eval --split '*'` no way to read the training shards as validation).
    public func paths() -> [String] {
        let paths = FileSystem.paths(matching: pattern(literally: FileSystem.globEscaped))
        guard case .split(_, let split) = self else { return paths }
        return paths.filter { ShardFileName.parse(FileSystem.baseName($0))?.split == split }
    }

    /// The smallest matching shard and its tokens, from the headers alone; nil when none matches or one cannot be
    /// read (a loader of the selection then says why).
    public func smallestShard() -> (path: String, tokens: Int)? {
        var smallest: (path: String, tokens: Int)?
        for path in paths() {
            guard let shard = try? ShardReader(path: path, vocabularySize: nil) else { return nil }
            if shard.tokenCount < smallest?.tokens ?? .max { smallest = (path, shard.tokenCount) }
        }
        return smallest
    }

    /// The shell pattern, with a split's folder and name passed through `literally` (escaped to glob, or as they are).
    private func pattern(literally: (String) -> String) -> String {
        switch self {
        case .pattern(let pattern): return pattern
        case .split(let directory, let split): return FileSystem.join(literally(directory), ShardFileName.pattern(split: literally(split)))
        }
    }
}

public final class DataLoader {
    public let batchSize: Int
    public let sequenceLength: Int
    public let rank: Int
    public let worldSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    /// The shards, in file-name order (the sequential order).
    public let shards: [ShardReader]

    /// Where the next batch comes from.
    public var state: DataLoaderState {
        DataLoaderState(epoch: cursor.epoch, shardPosition: cursor.shardPosition, chunkPosition: cursor.chunkPosition,
                        seed: seed, shuffle: shuffle, batchSize: batchSize, sequenceLength: sequenceLength,
                        worldSize: worldSize, shardCount: shards.count, shards: shardSummaries)
    }

    /// "3 shards, 305260 tokens", for the log; shards of more than one corpus name (`a_train_*` beside `b_train_*`,
    /// prepared into one folder) are one split, which this says rather than leave unnoticed.
    public var contentsDescription: String {
        let tokens = shards.reduce(0) { $0 + $1.tokenCount }
        var text = "\(formatCount(shards.count, "shard")), \(formatCount(tokens, "token"))"
        let names = Set(shards.map { shard in
            let file = FileSystem.baseName(shard.path)
            return ShardFileName.corpusName(of: file) ?? file
        })
        if names.count > 1 { text += " (note: of \(names.count) corpus names, \(names.sorted().joined(separator: ", ")), read as one split)" }
        return text
    }

    /// The shards' names and token counts, in order, as a checkpoint records them.
    public var shardSummaries: [DataLoaderState.ShardSummary] {
        shards.map { .init(name: FileSystem.baseName($0.path), tokens: $0.tokenCount) }
    }

    /// Batches per epoch (the same for every rank).
    public var batchesPerEpoch: Int { source.chunkCounts.reduce(0, +) }

    private let source: BatchSource
    /// The shards' folder, held shared while this loader lives (see `init`); nil where it could not be held.
    private let folderLock: FileLock?
    private var cursor = Cursor(epoch: 0, shardPosition: 0, chunkPosition: 0)
    private let prefetchQueue: DispatchQueue?
    private var pending: (cursor: Cursor, slot: PrefetchSlot)?

    /// Opens the shards of `selection` for `rank` of `worldSize`. Token ids are checked against
    /// `vocabularySize` as batches are read.
    public init(
        _ selection: ShardSelection, batchSize: Int, sequenceLength: Int, rank: Int = 0, worldSize: Int = 1,
        shuffle: Bool = true, seed: UInt64 = 42, prefetch: Bool = true,
        vocabularySize: Int = ShardFormat.gpt2VocabularySize
    ) throws(DataLoaderError) {
        precondition(batchSize > 0 && sequenceLength > 0, "batch size and sequence length must be positive")
        precondition(worldSize > 0 && (0..<worldSize).contains(rank), "rank must be in 0..<worldSize")
        // Held shared while this loader lives: a prepare (which holds the folder exclusively) is refused it meanwhile.
        do {
            folderLock = try FileLock(folder: selection.directory, shared: true)
        } catch is FileLock.Busy {
            throw .beingPrepared(directory: selection.directory)
        } catch {
            folderLock = nil   // (a folder that cannot be opened: no shards are found there either, which says so)
        }
        let paths = selection.paths()
        guard !paths.isEmpty else {
            if case .split(let directory, _) = selection, FileSystem.isFile(directory) { throw .fileForFolder(path: directory) }
            throw .noShards(selection: selection.description)
        }
        if let mark = UnfinishedPrepareMark.marks(in: selection.directory, for: paths).first { throw .unfinishedPrepare(mark: mark) }
        var shards: [ShardReader] = []
        for path in paths {
            do { shards.append(try ShardReader(path: path, vocabularySize: nil)) } catch { throw .shard(error) }
        }
        let chunkTokens = batchSize * sequenceLength * worldSize
        let smallest = shards.min { $0.tokenCount < $1.tokenCount }!
        guard smallest.tokenCount >= chunkTokens + 1 else {
            throw .batchLargerThanShard(path: smallest.path, tokens: smallest.tokenCount, needed: chunkTokens + 1,
                                        splitTokens: shards.reduce(0) { $0 + $1.tokenCount },
                                        batchSize: batchSize, sequenceLength: sequenceLength, worldSize: worldSize)
        }
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.rank = rank
        self.worldSize = worldSize
        self.shuffle = shuffle
        self.seed = seed
        self.shards = shards
        source = BatchSource(
            shards: shards, chunkTokens: chunkTokens, rankOffset: rank * batchSize * sequenceLength,
            batchTokens: batchSize * sequenceLength, shuffle: shuffle, seed: seed, vocabularySize: vocabularySize,
            chunkCounts: shards.map { ($0.tokenCount - 1) / chunkTokens })
        prefetchQueue = prefetch ? DispatchQueue(label: "gpt2.dataloader.prefetch") : nil
    }

    /// Re-opens `selection` and continues exactly where the loader that produced `state` stopped.
    public convenience init(
        restoring state: DataLoaderState, _ selection: ShardSelection, rank: Int = 0, prefetch: Bool = true,
        vocabularySize: Int = ShardFormat.gpt2VocabularySize
    ) throws(DataLoaderError) {
        try self.init(selection, batchSize: state.batchSize, sequenceLength: state.sequenceLength, rank: rank,
                      worldSize: state.worldSize, shuffle: state.shuffle, seed: state.seed, prefetch: prefetch,
                      vocabularySize: vocabularySize)
        guard state.shardCount == shards.count else {
            throw .stateMismatch(reason: "the state was saved with \(state.shardCount) shards, "
                                 + "\(selection) now has \(shards.count)")
        }
        if let saved = state.shards,
           let difference = DataLoaderState.ShardSummary.difference(saved: saved, current: shardSummaries, selection: selection.description) {
            throw .stateMismatch(reason: difference)
        }
        // The shards are the ones the position was saved in (as far as a state saved before their list was kept says):
        // a position outside them is a damaged state. (No run makes 2^40 passes; a pass count near Int.max wrapped.)
        guard (0..<shards.count).contains(state.shardPosition), (0..<(1 << 40)).contains(state.epoch) else {
            throw .damagedState(reason: "the saved position, shard \(state.shardPosition) of pass \(state.epoch), is not one in \(shards.count) shards")
        }
        let chunks = source.chunkCount(epoch: state.epoch, shardPosition: state.shardPosition)
        guard (0..<chunks).contains(state.chunkPosition) else {
            throw .damagedState(reason: "chunk \(state.chunkPosition) is outside that shard's \(chunks) chunks")
        }
        cursor = Cursor(epoch: state.epoch, shardPosition: state.shardPosition, chunkPosition: state.chunkPosition)
    }

    /// The next batch; after the last chunk of the last shard it wraps into the next epoch.
    public func next() throws(DataLoaderError) -> Batch {
        let result: Result<Batch, ShardError>
        if let pending, pending.cursor == cursor {
            result = pending.slot.wait()
        } else {
            result = Result { () throws(ShardError) in try source.batch(at: cursor) }
        }
        pending = nil
        let batch: Batch
        do { batch = try result.get() } catch { throw .shard(error) }
        cursor = source.advance(cursor)
        if let prefetchQueue { startPrefetch(on: prefetchQueue) }
        return batch
    }

    /// Reads the next batch without taking it, its tokens checked against the vocabulary: a damaged first shard fails
    /// now rather than at the first step (`--overwrite` checks it before removing the run it replaces).
    public func checkNext() throws(DataLoaderError) {
        do { _ = try source.batch(at: cursor) } catch { throw .shard(error) }
    }

    /// Goes back to the first batch of epoch 0.
    public func reset() {
        cursor = Cursor(epoch: 0, shardPosition: 0, chunkPosition: 0)
        pending = nil
    }

    private func startPrefetch(on queue: DispatchQueue) {
        let slot = PrefetchSlot()
        let source = source, cursor = cursor
        queue.async { slot.fill(Result { () throws(ShardError) in try source.batch(at: cursor) }) }
        pending = (cursor, slot)
    }
}

/// Position of the next batch: epoch, index into the epoch's shard order, index into the shard's chunk order.
struct Cursor: Equatable, Sendable {
    var epoch: Int
    var shardPosition: Int
    var chunkPosition: Int
}

/// The pure part of the loader: which tokens a cursor names. Immutable, so the prefetch queue can share it.
struct BatchSource: Sendable {
    let shards: [ShardReader]
    let chunkTokens: Int
    let rankOffset: Int
    let batchTokens: Int
    let shuffle: Bool
    let seed: UInt64
    let vocabularySize: Int
    let chunkCounts: [Int]

    /// The shard read at `shardPosition` of `epoch`.
    func shardIndex(epoch: Int, shardPosition: Int) -> Int {
        guard shuffle else { return shardPosition }
        var random = SeededRandom(seed: seed, stream: [UInt64(epoch)])
        return random.permutation(shards.count)[shardPosition]
    }

    func chunkCount(epoch: Int, shardPosition: Int) -> Int {
        chunkCounts[shardIndex(epoch: epoch, shardPosition: shardPosition)]
    }

    func advance(_ cursor: Cursor) -> Cursor {
        var next = cursor
        next.chunkPosition += 1
        if next.chunkPosition == chunkCount(epoch: next.epoch, shardPosition: next.shardPosition) {
            next.chunkPosition = 0
            next.shardPosition += 1
            if next.shardPosition == shards.count {
                next.shardPosition = 0
                next.epoch += 1
            }
        }
        return next
    }

    /// inputs = tokens[start ..< start+BT], targets = tokens[start+1 ... start+BT], from the cursor's chunk.
    func batch(at cursor: Cursor) throws(ShardError) -> Batch {
        let shard = shardIndex(epoch: cursor.epoch, shardPosition: cursor.shardPosition)
        var chunk = cursor.chunkPosition
        if shuffle {
            var random = SeededRandom(seed: seed, stream: [UInt64(cursor.epoch), UInt64(shard) &+ 1])
            chunk = random.permutation(chunkCounts[shard])[chunk]
        }
        let start = chunk * chunkTokens + rankOffset
        let tokens = shards[shard].tokens
        var inputs = [Int32](repeating: 0, count: batchTokens)
        var targets = [Int32](repeating: 0, count: batchTokens)
        var largest: UInt16 = 0
        for i in 0..<batchTokens {
            let token = tokens[start + i]
            largest = max(largest, token)
            inputs[i] = Int32(token)
            targets[i] = Int32(tokens[start + i + 1])
        }
        largest = max(largest, tokens[start + batchTokens])
        if Int(largest) >= vocabularySize {
            let offset = (start...(start + batchTokens)).first { Int(tokens[$0]) >= vocabularySize }!
            throw .tokenOutOfRange(path: shards[shard].path, index: offset, token: Int(tokens[offset]),
                                   vocabularySize: vocabularySize)
        }
        return Batch(inputs: inputs, targets: targets)
    }
}

/// A one-shot hand-off from the prefetch queue to the loader: `fill` once, `wait` once.
final class PrefetchSlot: @unchecked Sendable {  // `value` is written before the signal and read after the wait
    private let ready = DispatchSemaphore(value: 0)
    private var value: Result<Batch, ShardError>?

    func fill(_ result: Result<Batch, ShardError>) {
        value = result
        ready.signal()
    }

    func wait() -> Result<Batch, ShardError> {
        ready.wait()
        return value!
    }
}

/// Why a data loader could not be created or read.
public enum DataLoaderError: Error, CustomStringConvertible {
    case noShards(selection: String)
    /// The folder of a split is a file (a shard given for its folder).
    case fileForFolder(path: String)
    /// A `gpt2 prepare` holds the folder: its shards are not all written yet.
    case beingPrepared(directory: String)
    /// A `gpt2 prepare` of the shards' corpus began and did not finish: `mark` is its `UnfinishedPrepareMark`.
    case unfinishedPrepare(mark: String)
    /// `splitTokens`: the tokens of every shard of the split, which bigger shards cannot make more of.
    case batchLargerThanShard(path: String, tokens: Int, needed: Int, splitTokens: Int, batchSize: Int, sequenceLength: Int, worldSize: Int)
    case stateMismatch(reason: String)
    /// The saved position is not one in the shards it was saved with.
    case damagedState(reason: String)
    case shard(ShardError)

    public var description: String {
        switch self {
        case .noShards(let selection):
            return "no token shards match \(selection); create them with `gpt2 prepare` (`gpt2 prepare FILES --out DIR` for "
                + "your own text, `gpt2 prepare fineweb10B` for FineWeb) or check the path"
        case .fileForFolder(let path):
            return "\(path) is a file: give the folder of token shards that holds it (--data \(FileSystem.directoryName(path)))"
        case .beingPrepared(let directory):
            return "a gpt2 prepare is writing \(directory) now, so its shards are not all there yet; let it finish first"
        case .unfinishedPrepare(let mark):
            let command = UnfinishedPrepareMark.command(ofMarkAt: mark).map { " (\($0))" } ?? ""
            return "the gpt2 prepare that wrote these shards did not finish (\(mark) says so), so they may be part of the corpus, "
                + "or a mix of two preparations: run that prepare\(command) again; it keeps the shards that come out the same"
        case .batchLargerThanShard(let path, let tokens, let needed, let splitTokens, let B, let T, let worldSize):
            let problem = "\(path) holds \(formatCount(tokens, "token")), but one batch needs B·T·ranks + 1 = \(B)·\(T)·\(worldSize) + 1 = \(needed)"
            guard splitTokens >= needed else {   // (re-cutting the corpus into bigger shards cannot help)
                return problem + ", and the split's shards hold \(formatCount(splitTokens, "token")) in all; lower --micro-batch or --seq, "
                    + "or prepare more text (for the validation split: gpt2 prepare --val-tokens)"
            }
            return problem + "; lower --micro-batch or --seq, or prepare this split with more tokens per shard "
                + "(gpt2 prepare --val-tokens for validation, --shard-tokens for training)"
        case .stateMismatch(let reason):
            return "cannot restore the data loader: \(reason); resume with the same data and batch geometry"
        case .damagedState(let reason):
            return "cannot restore the data loader: \(reason), the ones it was saved with: the checkpoint's state.json is damaged "
                + "(resume from an earlier checkpoint)"
        case .shard(let error):
            return error.description
        }
    }
}
