/// The CPU backend's transient scratch — what its ops and the weight streaming allocate beside the model's
/// buffers — sized in one place, so that the planner counts what the backend uses: the backend takes its block
/// sizes from here.

public enum CPUScratch {
    /// Query rows per attention block: each attention worker holds one block's scores (and, in backward, their
    /// gradients), never a (T,T) matrix.
    public static let attentionBlockRows = 64

    /// Elements per block of the gradient norm's fixed-order sum, which keeps one Double per block.
    public static let normBlockSize = 1 << 14

    /// Floats each attention worker holds: a block's scores and its rows' 1/Σexp in forward, a block's
    /// probabilities and their gradients in backward.
    public static func attentionFloats(sequenceLength T: Int, backward: Bool) -> Int {
        backward ? 2 * attentionBlockRows * T : attentionBlockRows * (T + 1)
    }

    /// The most scratch alive at once, in bytes. Ops run one after another, so it is the largest of: attention
    /// backward's blocks (one per worker), LayerNorm backward's per-worker dweight/dbias partials (2C floats each),
    /// the gradient norm's partials, and one piece of weights streamed to or from a file (with, when initialising,
    /// the piece's Box–Muller draws).
    public static func peakBytes(config: ModelConfig, batchSize B: Int, sequenceLength T: Int, threads: Int) -> Int {
        let attention = min(threads, B * config.heads) * attentionFloats(sequenceLength: T, backward: true) * 4
        let layerNorm = threads * 2 * config.channels * 4
        let norm = (config.parameterCount + normBlockSize - 1) / normBlockSize * 8
        let streaming = floatStreamPiece * 4 + 2 * SeededRandom.drawChunkPairs * 8
        return max(attention, layerNorm, norm, streaming)
    }
}
