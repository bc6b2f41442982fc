/// KV-cached generation against generation without a cache: at temperature 0 `generate` must pick the
/// same tokens as greedy decoding by full forward passes over the growing sequence, before and after the
/// context window fills; and the one-row attention used for decoding equals the matching row of full attention.

import CPUBackend
import GPT2
import GPT2TestSupport
import Testing

@Suite struct TextGeneratorTests {
    /// Weights N(0, 1) rather than GPT-2's 0.02, so the logits are spread out and the greedy choice is never
    /// a near-tie that fp32 rounding differences between the cached and uncached paths could flip (checked below).
    private func model(context: Int) throws -> GPT2Model<CPUBackend> {
        let config = ModelConfig(maxSequenceLength: context, vocabularySize: 300, layers: 2, heads: 2, channels: 16)
        let gpt = try GPT2Model(config: config, backend: CPUBackend(threads: 2), batchSize: 1,
                                sequenceLength: context, training: false)
        var data = TestData(seed: 11)
        gpt.setParameters(data.normal(config.parameterCount))
        return gpt
    }

    /// The most likely next token after `context` by one uncached forward pass; also requires a clear winner
    /// (top-2 gap > 1e-3, while the two paths differ by fp32 rounding, ~1e-5 at these magnitudes).
    private func greedyNext(_ gpt: GPT2Model<CPUBackend>, _ context: [Int]) throws -> Int {
        let T = context.count, (V, Vp) = (gpt.config.vocabularySize, gpt.config.paddedVocabularySize)
        gpt.forward(inputs: context.map(Int32.init), targets: nil, batchSize: 1, sequenceLength: T)
        let logits = gpt.download(gpt.layout.activation(.logits).slice((T - 1) * Vp, V))
        let sorted = logits.sorted(by: >)
        try #require(sorted[0] - sorted[1] > 1e-3, "near-tie in the reference; pick another seed")
        return logits.firstIndex(of: sorted[0])!
    }

    @Test func greedyGenerationMatchesUncachedForwardPasses() throws {
        let gpt = try model(context: 32)
        let prompt = [5, 17, 250, 3]
        var random = SeededRandom(seed: 1)
        let generated = try gpt.generate(prompt: prompt, count: 10, options: SamplingOptions(temperature: 0), random: &random)

        var reference = prompt
        for _ in 0..<10 { reference.append(try greedyNext(gpt, reference)) }
        #expect(generated == reference)
    }

    /// The documented refill: the cache holds at most `window` positions; when a new token finds it full,
    /// the last window/2 + 1 tokens (the new one included) are re-read from position 0 and decoding goes on.
    /// The reference keeps that context explicitly and runs a full forward pass over it for every token.
    @Test func greedyGenerationMatchesAcrossTheWindowRefill() throws {
        let window = 8
        let gpt = try model(context: window)
        let prompt = [1, 2, 3]
        var random = SeededRandom(seed: 1)
        var streamed: [Int] = []
        let generated = try gpt.generate(prompt: prompt, count: 12, options: SamplingOptions(temperature: 0),
                                     random: &random) { streamed.append($0) }

        var tokens = prompt, context = prompt
        for _ in 0..<12 {
            let next = try greedyNext(gpt, context)
            tokens.append(next)
            context = context.count == window ? Array(tokens.suffix(window / 2 + 1)) : context + [next]
        }
        #expect(generated == tokens)
        #expect(streamed == Array(tokens.dropFirst(prompt.count)), "onToken sees each new token in order")
    }

    /// Generation asks `until` before each token and ends when it says so, with the tokens drawn so far.
    @Test func generationEndsWhenAskedTo() throws {
        let gpt = try model(context: 8)
        var random = SeededRandom(seed: 1)
        let whole = try gpt.generate(prompt: [1, 2, 3], count: 12, options: SamplingOptions(temperature: 1), random: &random)
        random = SeededRandom(seed: 1)
        var asked = 0
        let cut = try gpt.generate(prompt: [1, 2, 3], count: 12, options: SamplingOptions(temperature: 1), random: &random,
                                   until: { asked += 1; return asked > 5 })
        #expect(cut == Array(whole.prefix(3 + 5)) && asked == 6)
    }

    /// Every row t of a random qkv (T=7, C=12, NH=3): the row kernel over rows 0...t equals full attention's row t.
    /// Both compute the same sums in fp32, perhaps in a different order: 1e-5 relative to values of order 1.
    @Test func attentionRowMatchesFullAttention() throws {
        let (T, C, NH) = (7, 12, 3)
        let backend = CPUBackend(threads: 2)
        let arena = try TensorArena(backend: backend, floats: 4 * T * 3 * C)
        var data = TestData(seed: 3)
        let qkv = arena.tensor(data.normal(T * 3 * C))
        let full = arena.tensor(count: T * C, repeating: .nan)
        let stats = arena.tensor(count: NH * T, repeating: .nan)
        backend.attentionForward(out: full, stats: stats, qkv: qkv, B: 1, T: T, C: C, NH: NH)
        let expected = arena.read(full)
        for t in 0..<T {
            let row = arena.tensor(count: C, repeating: .nan)
            backend.attentionForwardRow(out: row, qkv: qkv, t: t, C: C, NH: NH)
            let actual = arena.read(row)
            #expect(normwiseError(actual, Array(expected[(t * C)..<((t + 1) * C)])) < 1e-5, "row \(t)")
        }
    }
}
