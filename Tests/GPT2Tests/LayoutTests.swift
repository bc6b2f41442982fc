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

    /// GPT-2 medium, large and XL as OpenAI published them and transformers counts them (V = 50257, no padding):
    /// 354,823,168, 774,030,080 and 1,557,611,200 — each is V·C + maxT·C + L·(12C² + 13C) + 2C, e.g. d24:
    /// 51,463,168 + 1,048,576 + 24·12,596,224 + 2,048. Our wte has Vp = 50304 rows, the 47 rows of padding adding
    /// 47·C parameters.
    @Test(arguments: [("d24", 354_823_168, 1024), ("d36", 774_030_080, 1280), ("d48", 1_557_611_200, 1600)])
    func largerPresetsHaveGPT2ParameterCounts(preset: String, published: Int, channels: Int) throws {
        let config = try ModelPreset.named(preset).config
        #expect(config.channels == channels && config.paddedVocabularySize == 50304)
        #expect(config.parameterCount == published + (50304 - 50257) * channels)
    }

    /// Without training, the layers share one slice of every activation but qkv (the key/value cache), so d12's
    /// activations at B=1, T=1024 are one layer's 15C per row plus 12 layers' 3C, the embedding, lnf and one row
    /// chunk of logits, instead of 12 layers of 18C; nothing is laid out for gradients or AdamW.
    @Test func inferenceLayersShareEverySliceButTheKeyValueCache() throws {
        let config = try ModelPreset.named("d12").config
        let (B, T, C, L) = (1, 1024, config.channels, config.layers)
        let inference = Layout(config: config, batchSize: B, sequenceLength: T, training: false)
        let rows = B * T
        // one layer: ln1, atty, attproj, residual2, ln2, fcproj, residual3 (7C) + fch, fchGelu (8C); every layer: qkv 3C;
        // global: encoded and lnf (2C) and the logits, one chunk of min(B·T, 4096) rows of Vp
        let expected = rows * (15 * C + L * 3 * C + 2 * C) + rows * config.paddedVocabularySize
        #expect(inference.elementCounts[.activations] == expected)
        #expect(inference.bytes(of: .gradients) + inference.bytes(of: .adamM) + inference.bytes(of: .activationGradients) == 0)
        for kind in [ActivationKind.ln1, .atty, .residual2, .fch, .residual3, .ln1Rstd, .attStats] {
            #expect(inference.activation(kind, layer: L - 1) == inference.activation(kind, layer: 0), "\(kind)")
        }
        #expect(inference.activation(.qkv, layer: L - 1).offset == inference.activation(.qkv, layer: 0).offset + (L - 1) * rows * 3 * C)
        let training = Layout(config: config, batchSize: B, sequenceLength: T)
        #expect(training.activation(.residual3, layer: 1) != training.activation(.residual3, layer: 0))
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
