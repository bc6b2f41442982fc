/// Sampling at a temperature with top-k: `GPT2Model.sample`, which picks one token from a row of logits, draws
/// from softmax(logits / T) restricted to the k most likely tokens (checked against frequencies over many draws),
/// never outside them, greedily at k = 1, and reproducibly for a seed; and `generate` keeps those promises end to end.

import CPUBackend
@testable import GPT2
import GPT2TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct SamplingTests {
    typealias Model = GPT2Model<CPUBackend>

    /// 40 distinct logits N(0, 2) in shuffled order: the top of the ranking is not at the front.
    static func logits(seed: UInt64 = 3) -> [Float] {
        var data = TestData(seed: seed)
        return data.normal(40, standardDeviation: 2)
    }

    /// The indices of the k largest logits, by a full sort (no ties among the test's logits).
    static func topK(_ logits: [Float], _ k: Int) -> Set<Int> {
        Set(logits.indices.sorted { logits[$0] > logits[$1] }.prefix(k))
    }

    /// The top k ids come out largest first, ties to the lower id, as a full sort with that order puts them; the logits
    /// take only 7 values among 1,000 ids, so most of the ranking is ties, and some rows rise or fall steadily.
    @Test(arguments: [1, 2, 40, 500, 999])
    func theMostLikelyIdsAreAFullSortsFirst(k: Int) {
        var data = TestData(seed: 11)
        let rows: [[Float]] = [
            data.normal(1000, standardDeviation: 2).map { ($0 * 1.5).rounded() },
            (0..<1000).map { Float($0) }, (0..<1000).map { -Float($0) }, [Float](repeating: 0.5, count: 1000),
        ]
        for logits in rows {
            let sorted = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            #expect(Model.mostLikely(k, of: logits) == Array(sorted.prefix(k)))
        }
    }

    @Test("top-k 1 is greedy at any temperature", arguments: [0.5, 1, 4] as [Float])
    func topOneIsGreedy(temperature: Float) {
        var random = SeededRandom(seed: 1)
        for seed in 0..<50 as Range<UInt64> {
            let logits = Self.logits(seed: seed)
            let greedy = logits.indices.max { logits[$0] < logits[$1] }!
            let picked = Model.sample(logits: logits, options: SamplingOptions(temperature: temperature, topK: 1), random: &random)
            #expect(picked == greedy, "logits of seed \(seed)")
        }
    }

    @Test("no token outside the top k is drawn, and each of the k is", arguments: [2, 5, 39])
    func drawsStayInTheTopK(k: Int) throws {
        let logits = Self.logits()
        let allowed = Self.topK(logits, k)
        let (temperature, draws): (Float, Int) = (4, 5_000)
        var random = SeededRandom(seed: 2)
        var seen = Set<Int>()
        for _ in 0..<draws {
            seen.insert(Model.sample(logits: logits, options: SamplingOptions(temperature: temperature, topK: k), random: &random))
        }
        #expect(seen.isSubset(of: allowed), "drawn outside the top \(k): \(seen.subtracting(allowed).sorted())")
        // a token of probability p is missed by N draws with probability (1 − p)^N ≤ e^(−N·p): with N·p > 20 for the
        // least likely of the k, every one of them must turn up
        let weights = allowed.map { exp(Double(logits[$0]) / Double(temperature)) }
        try #require(Double(draws) * weights.min()! / weights.reduce(0, +) > 20)
        #expect(seen == allowed, "drew \(seen.count) distinct tokens of \(k)")
    }

    /// N = 60,000 draws at T = 0.7 and k = 6 against p_i = exp(l_i/T) / Σ_topk exp(l_j/T), computed here in double.
    /// Each count is Binomial(N, p_i): mean N·p_i, sd √(N·p_i·(1−p_i)) ≤ √(N/4) ≈ 122; allowed 6 sd plus one
    /// (a chance failure ~1e-9 per bin; the draws are seeded anyway). The probabilities at T = 1 instead of 0.7, or
    /// over all 40 tokens instead of the top 6, move the largest bin by ≥ 0.05, i.e. 3,000 draws: far outside.
    @Test func frequenciesFollowTheTemperedSoftmaxOfTheTopK() {
        let logits = Self.logits()
        let (temperature, k, draws) = (0.7, 6, 60_000)
        let top = Self.topK(logits, k).sorted()
        let maxLogit = top.map { Double(logits[$0]) }.max()!
        let weights = top.map { exp((Double(logits[$0]) - maxLogit) / temperature) }
        let probabilities = weights.map { $0 / weights.reduce(0, +) }
        var counts = [Int: Int]()
        var random = SeededRandom(seed: 4)
        let options = SamplingOptions(temperature: Float(temperature), topK: k)
        for _ in 0..<draws { counts[Model.sample(logits: logits, options: options, random: &random), default: 0] += 1 }
        #expect(Set(counts.keys).isSubset(of: Set(top)))
        for (token, p) in zip(top, probabilities) {
            let expected = Double(draws) * p, sd = (Double(draws) * p * (1 - p)).squareRoot()
            let count = Double(counts[token] ?? 0)
            #expect(abs(count - expected) <= 6 * sd + 1, "token \(token): \(count) draws, expected \(expected) ± \(sd)")
        }
        // and the case is one that tells the tempered top-k distribution from the untempered one
        let untempered = top.map { exp(Double(logits[$0]) - maxLogit) }
        let largestShift = zip(probabilities, untempered.map { $0 / untempered.reduce(0, +) }).map { abs($0 - $1) }.max()!
        #expect(largestShift > 0.05)
    }

    @Test func theSeedFixesTheDraws() {
        let logits = Self.logits()
        func draws(_ seed: UInt64) -> [Int] {
            var random = SeededRandom(seed: seed)
            return (0..<100).map { _ in Model.sample(logits: logits, options: SamplingOptions(temperature: 1.5, topK: 10), random: &random) }
        }
        #expect(draws(5) == draws(5))
        #expect(draws(5) != draws(6))
    }

    /// Weights N(0, 1), as in TextGeneratorTests, so that the logits are spread out and the top k are well separated.
    private func model() throws -> Model {
        let config = ModelConfig(maxSequenceLength: 32, vocabularySize: 300, layers: 2, heads: 2, channels: 16)
        let gpt = try Model(config: config, backend: CPUBackend(threads: 2), batchSize: 1, sequenceLength: 32, training: false)
        var data = TestData(seed: 11)
        gpt.setParameters(data.normal(config.parameterCount))
        return gpt
    }

    /// The logits after `context` by one uncached forward pass (the independent path TextGeneratorTests compares with).
    private func nextLogits(_ gpt: Model, _ context: [Int]) -> [Float] {
        let T = context.count, (V, Vp) = (gpt.config.vocabularySize, gpt.config.paddedVocabularySize)
        gpt.forward(inputs: context.map(Int32.init), targets: nil, batchSize: 1, sequenceLength: T)
        return gpt.download(gpt.layout.activation(.logits).slice((T - 1) * Vp, V))
    }

    /// End to end: `generate` at T = 1 with k = 5 picks every token among the top 5 of the logits of its context,
    /// is fixed by the seed, and at k = 1 generates what temperature 0 does. The logits are recomputed without the
    /// cache, which differs from the cached path by fp32 rounding (~1e-5 at these magnitudes, see TextGeneratorTests):
    /// a drawn token's logit must be at least the 5th largest less 1e-4, while the logits are spread over several units.
    @Test func generationDrawsFromTheTopKAndIsFixedByTheSeed() throws {
        let gpt = try model()
        let prompt = [5, 17, 250, 3], options = SamplingOptions(temperature: 1, topK: 5)
        func generated(_ seed: UInt64, _ options: SamplingOptions) throws -> [Int] {
            var random = SeededRandom(seed: seed)
            return try gpt.generate(prompt: prompt, count: 12, options: options, random: &random)
        }
        let tokens = try generated(8, options)
        for position in prompt.count..<tokens.count {
            let logits = nextLogits(gpt, Array(tokens[..<position]))
            let fifth = logits.sorted(by: >)[4]
            #expect(logits[tokens[position]] >= fifth - 1e-4, "token \(position) is not among the top 5")
        }
        #expect(try generated(8, options) == tokens)
        #expect(try generated(9, options) != tokens)
        #expect(try generated(8, SamplingOptions(temperature: 1, topK: 1)) == generated(8, SamplingOptions(temperature: 0)))
    }
}
