/// The CUDA backend's own device scratch beside the layout's buffers (norm partials, column-sum partials,
/// attention's delta, the embedding backward's token buckets, the AdamW table), sized here from the layout
/// so that the planner counts exactly what the backend allocates.

public struct GPUScratchLayout: Sendable, Equatable {
    /// Row groups of the two-stage column sums of the bias gradients (without cuBLASLt's BGRADB epilogue).
    public static let columnGroups = 32
    /// Blocks of the LayerNorm backward, each leaving one row of 2C parameter-gradient partials (at most: fewer
    /// when the micro-batch has fewer than 4 rows per block).
    public static let layerNormBlocks = 512
    /// Blocks of the first norm stage (at most 1024: the final stage is one block of 1024 threads).
    public static let normBlocks = 1024
    /// Distinct parameter tensors the AdamW table can describe.
    public static let adamSlots = 256
    /// Bytes of one AdamW table entry: {u64 offset, u64 count, f32 weight decay, f32 padding}.
    public static let adamEntryBytes = 24

    /// fp32 elements: [0, normBlocks) norm partials, [normBlocks] the norm², then the column partials (the larger
    /// of columnGroups × 4C and layerNormBlocks × 2C) from `columnOffset`, then attention's delta (B·NH·T) from
    /// `deltaOffset`.
    public let floatCount: Int
    public let columnOffset: Int
    public let deltaOffset: Int
    /// int32 elements for the embedding backward's buckets, N = B·T: tokens (≤ N), starts (≤ N+1), positions (N).
    public let intCount: Int

    public init(_ layout: Layout) {
        let C = layout.config.channels
        columnOffset = Self.normBlocks + 64   // the norm² at [normBlocks]; 64 floats keep the column partials 256-byte aligned
        deltaOffset = columnOffset + max(Self.columnGroups * 4 * C, Self.layerNormBlocks * 2 * C)
        floatCount = deltaOffset + layout.batchSize * layout.config.heads * layout.sequenceLength
        intCount = 3 * layout.batchSize * layout.sequenceLength + 1
    }

    /// The three device allocations, in bytes: floats, ints, AdamW table.
    public var allocationBytes: [Int] { [floatCount * 4, intCount * 4, Self.adamSlots * Self.adamEntryBytes] }

    /// The three allocations together: what the planner adds for the scratch.
    public var bytes: Int { allocationBytes.reduce(0, +) }
}
