/// GPT-2's initialisation (`GPT2Model.initializeParameters`): each weight tensor's sample statistics within
/// bounds derived from the sampling distribution, the residual projections scaled by 1/√(2L), LayerNorm weights 1,
/// biases and the padded vocabulary rows 0, and a seed that fixes every value.

import CPUBackend
import GPT2
import GPT2TestSupport
import Testing

@Suite struct InitializationTests {
    /// Three layers, 64 wide, a 1000-token vocabulary padded to 1024 (24 padded rows of wte).
    static let config = ModelConfig(maxSequenceLength: 64, vocabularySize: 1000, layers: 3, heads: 2, channels: 64)

    /// GPT-2's standard deviations: 0.02 for the embeddings and the linear weights, 0.02/√(2L) for the two residual
    /// projections (attprojw, fcprojw), which each of the 2L residual additions adds to the stream.
    static func standardDeviation(_ kind: ParameterKind) -> Double? {
        switch kind {
        case .wte, .wpe, .qkvw, .fcw: return 0.02
        case .attprojw, .fcprojw: return 0.02 / (2 * Double(config.layers)).squareRoot()
        default: return nil
        }
    }

    static let layerNormWeights: Set<ParameterKind> = [.ln1w, .ln2w, .lnfw]
    static let biases: Set<ParameterKind> = [.ln1b, .ln2b, .lnfb, .qkvb, .attprojb, .fcb, .fcprojb]

    /// A model whose parameters all held 7 before `initializeParameters(seed:)`, so that every value checked below was
    /// written by the initialisation (a fresh buffer is zero-filled, which would hide a bias or a padded row left alone).
    private func initialized(seed: UInt64) throws -> (model: GPT2Model<CPUBackend>, tensors: [ParameterKind: [Float]]) {
        let model = try GPT2Model(config: Self.config, backend: CPUBackend(threads: 2), batchSize: 1, sequenceLength: 1, training: false)
        model.setParameters([Float](repeating: 7, count: Self.config.parameterCount))
        model.initializeParameters(seed: seed)
        let all = model.parameters()
        var tensors: [ParameterKind: [Float]] = [:], start = 0
        for kind in ParameterKind.allCases {
            let count = kind.elementCount(Self.config)
            tensors[kind] = Array(all[start..<(start + count)])
            start += count
        }
        return (model, tensors)
    }

    /// Each drawn tensor (each layer's slice separately; wte's real rows only) against N(0, σ²), n samples:
    /// - the sample mean has sd σ/√n; allowed 6 of them;
    /// - the sample standard deviation has sd ≈ σ/√(2n) (the variance of s² is 2σ⁴/(n−1)); allowed 6 of them:
    ///   at the smallest n here (4,096, wpe and one layer of attprojw) that is ±6.6% of σ, while a residual projection
    ///   left at 0.02 is 2.4 σ, and one scaled by 1/√L instead of 1/√(2L) is 1.41 σ;
    /// - the share of samples within ±σ is 0.6827 for a normal, a binomial proportion with sd √(0.6827·0.3173/n)
    ///   (≤ 0.0073); allowed 6 sd (a uniform distribution of the same σ has 0.577).
    /// Six sd: a chance failure has probability ~1e-9 per statistic; the values are seeded, so none occurs at random.
    @Test func drawnTensorsHaveGPT2sStandardDeviations() throws {
        let (_, tensors) = try initialized(seed: 42)
        let (L, C, V) = (Self.config.layers, Self.config.channels, Self.config.vocabularySize)
        for kind in ParameterKind.allCases {
            guard let sigma = Self.standardDeviation(kind) else { continue }
            let values = kind == .wte ? Array(tensors[kind]![0..<(V * C)]) : tensors[kind]!
            let slices = kind.isPerLayer ? L : 1
            let n = values.count / slices
            for slice in 0..<slices {
                let samples = values[(slice * n)..<((slice + 1) * n)].map(Double.init)
                let mean = samples.reduce(0, +) / Double(n)
                let std = (samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)).squareRoot()
                let withinOne = Double(samples.count { abs($0) < sigma }) / Double(n)
                let label = "\(kind.name)\(kind.isPerLayer ? " layer \(slice)" : "") (n \(n))"
                #expect(abs(mean) < 6 * sigma / Double(n).squareRoot(), "\(label): mean \(mean)")
                #expect(abs(std - sigma) < 6 * sigma / (2 * Double(n)).squareRoot(), "\(label): std \(std), expected \(sigma)")
                #expect(abs(withinOne - 0.6827) < 6 * (0.6827 * 0.3173 / Double(n)).squareRoot(), "\(label): \(withinOne) within ±σ")
            }
        }
        // the tensors are drawn from one stream, not each restarted from the seed: in units of σ, no two begin with
        // the same eight draws (equal up to fp32 rounding, ~1e-6, if they were)
        let starts = ParameterKind.allCases.compactMap { kind in
            Self.standardDeviation(kind).map { sigma in (kind, tensors[kind]!.prefix(8).map { Double($0) / sigma }) }
        }
        for (i, first) in starts.enumerated() {
            for second in starts[(i + 1)...] {
                let distance = zip(first.1, second.1).map { abs($0 - $1) }.max()!
                #expect(distance > 1e-3, "\(first.0.name) and \(second.0.name) begin with the same draws")
            }
        }
    }

    @Test func layerNormWeightsAreOneAndBiasesAndPaddedRowsZero() throws {
        let (_, tensors) = try initialized(seed: 42)
        for kind in Self.layerNormWeights {
            #expect(tensors[kind]!.allSatisfy { $0 == 1 }, "\(kind.name)")
        }
        for kind in Self.biases {
            #expect(tensors[kind]!.allSatisfy { $0 == 0 }, "\(kind.name)")
        }
        let (V, Vp, C) = (Self.config.vocabularySize, Self.config.paddedVocabularySize, Self.config.channels)
        #expect(Vp == 1024)
        let padded = tensors[.wte]![(V * C)..<(Vp * C)]
        #expect(padded.count == 24 * C && padded.allSatisfy { $0 == 0 }, "wte's padded vocabulary rows")
        #expect(tensors[.wte]![((V - 1) * C)..<(V * C)].allSatisfy { $0 != 0 }, "the last real row is drawn")
        #expect(Self.layerNormWeights.count + Self.biases.count + ParameterKind.allCases.count { Self.standardDeviation($0) != nil } == 16,
                "every tensor is checked by one of the two tests")
    }

    @Test func theSeedFixesEveryValue() throws {
        let a = try initialized(seed: 42).model.parameters(), b = try initialized(seed: 42).model.parameters()
        let c = try initialized(seed: 43).model.parameters()
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        // another seed changes every drawn value (a chance equality of two fp32 normals is ~1e-7 per value); the ones,
        // zeros and padded rows stay
        let drawn = a.indices.filter { a[$0] != 0 && a[$0] != 1 }
        #expect(drawn.count > Self.config.parameterCount / 2)
        #expect(drawn.count { a[$0] == c[$0] } < 10, "\(drawn.count { a[$0] == c[$0] }) of \(drawn.count) drawn values unchanged")
    }
}
