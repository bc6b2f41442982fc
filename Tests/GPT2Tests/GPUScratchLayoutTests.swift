/// GPUScratchLayout: the CUDA backend's scratch beside the layout's buffers, at a shape worked out by hand. The
/// backend allocates these sizes and the planner adds the same ones, so a wrong size is not caught by comparing
/// the two; only numbers derived from the rule itself catch it.

import Testing
@testable import GPT2

@Suite struct GPUScratchLayoutTests {
    /// tiny (C = 32, NH = 2) at B = 3, T = 16 (N = 48 rows): the column partials start after the 1024 norm partials,
    /// the norm² and 63 floats of padding, at 1088 (byte 4352 = 17 × 256); they take max(32 × 4C, 512 × 2C) = 1024C
    /// = 32768 floats, so the delta starts at 33856 and B·NH·T = 96 floats end them at 33952 (135808 bytes). The AdamW
    /// table takes 256 × 24 = 6144 bytes; the buckets' int32 count (at least 3N + 1, below) takes 4 bytes each.
    @Test func tinySizesFollowTheRule() throws {
        let config = try ModelPreset.named("tiny").config
        #expect(config.channels == 32 && config.heads == 2)
        let scratch = GPUScratchLayout(Layout(config: config, batchSize: 3, sequenceLength: 16))
        #expect(scratch.columnOffset == 1088)
        #expect(scratch.columnOffset * 4 % 256 == 0, "the column partials are 256-byte aligned")
        #expect(scratch.deltaOffset == 33856)
        #expect(scratch.floatCount == 33952)
        #expect(scratch.allocationBytes == [135808, 4 * scratch.intCount, 6144])
        #expect(scratch.bytes == 135808 + 4 * scratch.intCount + 6144)
    }

    /// The embedding backward packs, for N positions, one id per distinct token, one start per bucket and one end,
    /// and the N positions: with N distinct tokens that is 3N + 1 int32s, which the scratch must hold at any shape;
    /// and the delta holds attention's B·NH·T floats after the largest column partials (LayerNorm's 512 × 2C).
    @Test(arguments: [(1, 1), (2, 64), (5, 7)])
    func theWorstCaseFitsAtAnyShape(B: Int, T: Int) throws {
        let config = try ModelPreset.named("tiny").config
        let scratch = GPUScratchLayout(Layout(config: config, batchSize: B, sequenceLength: T))
        #expect(scratch.intCount >= 3 * B * T + 1)
        #expect(scratch.deltaOffset - scratch.columnOffset >= GPUScratchLayout.layerNormBlocks * 2 * config.channels)
        #expect(scratch.deltaOffset - scratch.columnOffset >= GPUScratchLayout.columnGroups * 4 * config.channels)
        #expect(scratch.floatCount - scratch.deltaOffset == B * config.heads * T)
        #expect(scratch.columnOffset > GPUScratchLayout.normBlocks, "the norm² sits at [normBlocks], before the column partials")
    }
}
