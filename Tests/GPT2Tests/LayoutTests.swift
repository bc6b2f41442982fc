/// Layout: the parameter count of the GPT-2 presets and the byte sizes of each buffer kind under both
/// precisions, which the backends allocate and the planner sums.

import Testing
@testable import GPT2

@Suite struct LayoutTests {
    @Test func d12HasGPT2ParameterCount() throws {
        // GPT-2 124M has 124,439,808 parameters with V=50257; padding to 50304 adds 47*768.
        let config = try ModelPreset.named("d12").config
        #expect(config.parameterCount == 124_439_808 + 47 * 768)
    }
}

@Suite struct MixedPrecisionLayoutTests {
    /// Under mixed precision the weights exist twice (fp32 master + bf16 copy), activations take half
    /// the bytes, and per-row statistics stay fp32: byte counts follow from element counts × dtype size.
    @Test func mixedPrecisionBytesFollowTheDtypes() throws {
        let config = try ModelPreset.named("d12").config
        let fp32 = Layout(config: config, batchSize: 4, sequenceLength: 1024)
        let mixed = Layout(config: config, batchSize: 4, sequenceLength: 1024, precision: .mixedBFloat16)
        let P = config.parameterCount
        #expect(fp32.bytes(of: .parameterCopy) == 0)
        #expect(mixed.bytes(of: .parameterCopy) == 2 * P)
        for buffer in [BufferKind.parameters, .gradients, .adamM, .adamV] {
            #expect(fp32.bytes(of: buffer) == 4 * P)
            #expect(mixed.bytes(of: buffer) == 4 * P)
        }
        #expect(mixed.bytes(of: .activations) * 2 == fp32.bytes(of: .activations))
        #expect(mixed.bytes(of: .activationStatistics) == fp32.bytes(of: .activationStatistics))
        #expect(mixed.bytes(of: .workspace) == 32 << 20 && fp32.bytes(of: .workspace) == 0)
        // statistics: ln1/ln2 mean+rstd (4·L·B·T), attention lse (L·B·NH·T), lnf mean+rstd and losses (3·B·T)
        let rows = 4 * 1024
        let statistics = 4 * config.layers * rows + config.layers * config.heads * rows + 3 * rows
        #expect(fp32.elementCounts[.activationStatistics] == statistics)
    }
}
