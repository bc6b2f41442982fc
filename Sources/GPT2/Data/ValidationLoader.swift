/// Iterates a validation split once, sequentially and without shuffling, so every evaluation sees the same
/// batches; `reset()` rewinds it for the next evaluation.

public final class ValidationLoader {
    private let loader: DataLoader
    private var served = 0

    /// The split's shards and tokens, for the log (see `DataLoader.contentsDescription`).
    public var contentsDescription: String { loader.contentsDescription }

    /// The split's shards' names and token counts, as a checkpoint records them.
    public var shardSummaries: [DataLoaderState.ShardSummary] { loader.shardSummaries }

    /// Batches in one pass over the split (for this geometry; every rank gets the same number).
    public var batchesPerPass: Int { loader.batchesPerEpoch }

    /// What one pass holds, for a note when more batches are asked for: "the val split holds 127 batches of 4 × 64 tokens".
    public func passDescription(split: String) -> String {
        "the \(split) split holds \(formatCount(batchesPerPass, "batch", plural: "batches")) of \(loader.batchSize) × \(loader.sequenceLength) tokens"
    }

    public init(
        _ selection: ShardSelection, batchSize: Int, sequenceLength: Int, rank: Int = 0, worldSize: Int = 1,
        vocabularySize: Int = ShardFormat.gpt2VocabularySize
    ) throws(DataLoaderError) {
        loader = try DataLoader(selection, batchSize: batchSize, sequenceLength: sequenceLength, rank: rank,
                                worldSize: worldSize, shuffle: false, vocabularySize: vocabularySize)
    }

    /// The next batch of the pass, or nil once all `batchesPerPass` have been served.
    public func next() throws(DataLoaderError) -> Batch? {
        guard served < batchesPerPass else { return nil }
        served += 1
        return try loader.next()
    }

    /// Rewinds to the first batch.
    public func reset() {
        loader.reset()
        served = 0
    }
}
