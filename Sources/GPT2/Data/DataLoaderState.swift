/// Where a `DataLoader` is in its stream of batches, as a small Codable value: save it with a checkpoint and
/// `DataLoader(restoring:…)` continues with exactly the batches the original would have produced next.

public struct DataLoaderState: Codable, Sendable, Hashable {
    /// Completed passes over the shard set.
    public var epoch: Int
    /// Index into this epoch's shard order of the shard the next batch comes from.
    public var shardPosition: Int
    /// Index into that shard's chunk order of the next batch.
    public var chunkPosition: Int
    /// The generator seed. Every permutation is a pure function of (seed, epoch, shard), so the seed is
    /// all the random state there is.
    public var seed: UInt64
    public var shuffle: Bool
    /// The geometry the positions refer to; restoring with a different one is an error.
    public var batchSize: Int
    public var sequenceLength: Int
    public var worldSize: Int
    public var shardCount: Int
    /// Each shard's file name and token count, in the loader's order: a resume on other shards (re-prepared, or
    /// another corpus) is refused instead of going on with other batches. Nil in checkpoints older than it.
    public var shards: [ShardSummary]?

    /// What identifies a shard for a resume: its file name (the folder may have moved) and its token count.
    public struct ShardSummary: Codable, Sendable, Hashable {
        public var name: String
        public var tokens: Int

        public init(name: String, tokens: Int) {
            self.name = name
            self.tokens = tokens
        }

        /// Why `current`, the shards `selection` holds now, are not the run's `saved` ones; nil when they are.
        public static func difference(saved: [Self], current: [Self], selection: String) -> String? {
            guard saved.count == current.count else {
                return "the run had \(formatCount(saved.count, "shard")), and \(selection) holds \(current.count)"
            }
            guard let i = saved.indices.first(where: { saved[$0] != current[$0] }) else { return nil }
            return "the run's shard \(i + 1) was \(saved[i].name) (\(saved[i].tokens) tokens), and \(selection) "
                + "has \(current[i].name) (\(current[i].tokens) tokens) there: these are not the shards it trained on"
        }
    }

    public init(epoch: Int, shardPosition: Int, chunkPosition: Int, seed: UInt64, shuffle: Bool,
                batchSize: Int, sequenceLength: Int, worldSize: Int, shardCount: Int, shards: [ShardSummary]? = nil) {
        self.epoch = epoch
        self.shardPosition = shardPosition
        self.chunkPosition = chunkPosition
        self.seed = seed
        self.shuffle = shuffle
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.worldSize = worldSize
        self.shardCount = shardCount
        self.shards = shards
    }
}
