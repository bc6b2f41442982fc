/// The model's whole optimizer step on the CPU: the global gradient norm, clipping, and AdamW on every parameter
/// tensor with weight decay on the 2-D weights only, against a double-precision reference written here.

import CPUBackend
import GPT2
import GPT2TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct OptimizerStepTests {
    /// Two layers, 8 wide, a 50-token vocabulary padded to 128: every one of the sixteen tensors, ~2,800 values.
    static let config = ModelConfig(maxSequenceLength: 8, vocabularySize: 50, layers: 2, heads: 2, channels: 8)

    /// GPT-2's (and llm.c's) decayed set, spelled out here rather than read from `ParameterKind.isDecayed`: the
    /// embeddings and the four linear weights. LayerNorm weights and biases and every bias are not decayed.
    static let decayed: Set<ParameterKind> = [.wte, .wpe, .qkvw, .attprojw, .fcw, .fcprojw]

    enum Clipping: String, CaseIterable, Sendable {
        /// clipNorm half the gradient norm: gradients scaled by clip/norm = ½.
        case active
        /// clipNorm twice the norm: nothing to clip.
        case inactive
        /// clipNorm 0, which turns clipping off (`optimizerStep`'s documented meaning), whatever the norm.
        case off
    }

    /// Step 3 from moments a previous step could have left (m ~ N(0, 0.05), v in [1e-4, 1e-2]), gradients N(0, 0.1)
    /// and parameters N(0, 1) everywhere (LayerNorm weights and biases too, so that decay wrongly applied to them shows).
    /// Compared tensor by tensor: a decay of 0.1 at lr 1e-2 moves a parameter by ~1e-3 against an update of ~1e-2, a
    /// 10% change; halving the gradients changes m by ~10% (0.1·0.05 against 0.05); both far beyond the tolerances.
    @Test("the optimizer step matches double-precision AdamW with clipping and decay on the 2-D weights only",
          arguments: Clipping.allCases)
    func optimizerStepMatchesReference(clipping: Clipping) throws {
        let model = try GPT2Model(config: Self.config, backend: CPUBackend(threads: 2), batchSize: 1, sequenceLength: 8)
        let count = Self.config.parameterCount
        var data = TestData(seed: 21)
        let params = data.normal(count), grads = data.normal(count, standardDeviation: 0.1)
        let m = data.normal(count, standardDeviation: 0.05), v = data.uniform(count, 1e-4, 1e-2)
        let layout = model.layout
        model.setParameters(params)
        model.upload(grads, to: layout.whole(.gradients))
        model.upload(m, to: layout.whole(.adamM))
        model.upload(v, to: layout.whole(.adamV))

        let norm = grads.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let clipNorm: Float = switch clipping {
        case .active: Float(norm / 2)
        case .inactive: Float(norm * 2)
        case .off: 0
        }
        let gradScale = clipping == .active ? Double(clipNorm) / norm : 1
        let hyper = AdamWHyperparameters(learningRate: 1e-2, weightDecay: 0.1)
        let step = 3
        let returned = model.optimizerStep(hyperparameters: hyper, step: step, clipNorm: clipNorm)

        // The norm before clipping: fp32 dot products within blocks, summed in double; for ~2,800 squares of
        // similar size the relative error is a few ulps of the sum (≲ 1e-6), while leaving out the smallest tensor
        // (8 of the values) would change the norm by ~0.15%.
        #expect(abs(Double(returned) - norm) / norm < 1e-5, "norm \(returned), expected \(norm)")

        let (newParams, newM, newV) = (model.parameters(), model.download(layout.whole(.adamM)), model.download(layout.whole(.adamV)))
        var start = 0
        for kind in ParameterKind.allCases {
            let range = start..<(start + kind.elementCount(Self.config))
            start = range.upperBound
            var tensorHyperparameters = hyper
            tensorHyperparameters.weightDecay = Self.decayed.contains(kind) ? hyper.weightDecay : 0
            let expected = range.map {
                AdamWTests.reference(param: params[$0], grad: grads[$0], m: m[$0], v: v[$0], step: step,
                                     hyperparameters: tensorHyperparameters, gradScale: gradScale)
            }
            // As in AdamWTests: the fp32 update carries a few ulps of relative error (~1e-6) of a change of ~1e-2,
            // so the change of each parameter is compared at 1e-4, and the moments (a few fp32 operations) at 1e-5.
            let change = range.map { newParams[$0] - params[$0] }
            let expectedChange = expected.indices.map { expected[$0].param - Double(params[range.lowerBound + $0]) }
            #expect(normwiseError(change, expectedChange) < 1e-4, "\(kind.name): parameters")
            #expect(normwiseError(Array(newM[range]), expected.map(\.m)) < 1e-5, "\(kind.name): first moment")
            #expect(normwiseError(Array(newV[range]), expected.map(\.v)) < 1e-5, "\(kind.name): second moment")
        }
        #expect(start == count)
    }
}
