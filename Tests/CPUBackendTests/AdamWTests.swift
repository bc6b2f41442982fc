/// The optimizer ops on the CPU backend: one AdamW step against a scalar double-precision reference
/// (weight decay on and off, gradient scaling, bias correction at steps 1 and 10) and the squared norm.

import CPUBackend
import GPT2
import GPT2TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct AdamWTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let step: Int
        let weightDecay: Float
        let gradScale: Float
        var testDescription: String { "step \(step) wd \(weightDecay) gradScale \(gradScale)" }
    }

    static let cases = [
        Case(step: 1, weightDecay: 0, gradScale: 1), Case(step: 1, weightDecay: 0.1, gradScale: 1),
        Case(step: 10, weightDecay: 0.1, gradScale: 0.5), Case(step: 10, weightDecay: 0, gradScale: 0.25),
    ]

    /// AdamW for one element, written from the paper (decoupled weight decay), in double precision.
    static func reference(param: Float, grad: Float, m: Float, v: Float, step: Int,
                          hyperparameters hyper: AdamWHyperparameters, gradScale: Double) -> (param: Double, m: Double, v: Double) {
        let g = Double(grad) * gradScale
        let (beta1, beta2) = (Double(hyper.beta1), Double(hyper.beta2))
        let newM = beta1 * Double(m) + (1 - beta1) * g
        let newV = beta2 * Double(v) + (1 - beta2) * g * g
        let mHat = newM / (1 - pow(beta1, Double(step)))
        let vHat = newV / (1 - pow(beta2, Double(step)))
        let p = Double(param)
        return (p - Double(hyper.learningRate) * (mHat / (vHat.squareRoot() + Double(hyper.epsilon)) + Double(hyper.weightDecay) * p),
                newM, newV)
    }

    @Test("one step matches the scalar reference", arguments: cases)
    func stepMatchesReference(c: Case) throws {
        let count = 37   // four SIMD blocks and a scalar tail
        let arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 4 * count)
        var data = TestData(seed: UInt64(c.step))
        let params = data.normal(count), grads = data.normal(count, standardDeviation: 0.1)
        // step 1 starts from zero moments; later steps from moments a previous step could have left
        let m = c.step == 1 ? [Float](repeating: 0, count: count) : data.normal(count, standardDeviation: 0.05)
        let v = c.step == 1 ? [Float](repeating: 0, count: count) : data.uniform(count, 1e-4, 1e-2)
        let tensors = (p: arena.tensor(params), g: arena.tensor(grads), m: arena.tensor(m), v: arena.tensor(v))
        let hyper = AdamWHyperparameters(learningRate: 1e-2, weightDecay: c.weightDecay)
        arena.backend.adamWUpdate(params: tensors.p, grads: tensors.g, m: tensors.m, v: tensors.v,
                                  step: c.step, hyperparameters: hyper, gradScale: c.gradScale)
        let expected = (0..<count).map {
            Self.reference(param: params[$0], grad: grads[$0], m: m[$0], v: v[$0], step: c.step, hyperparameters: hyper, gradScale: Double(c.gradScale))
        }
        // The update lr·(m̂/(√v̂+ε) + wd·p) is ~1e-2 against params ~1; fp32 evaluation of it carries a
        // few ulps of relative error (~1e-6), so compare the change in each parameter at 1e-4 relative.
        let change = (0..<count).map { arena.read(tensors.p)[$0] - params[$0] }
        let expectedChange = expected.indices.map { expected[$0].param - Double(params[$0]) }
        #expect(normwiseError(change, expectedChange) < 1e-4)
        #expect(normwiseError(arena.read(tensors.m), expected.map(\.m)) < 1e-5)
        #expect(normwiseError(arena.read(tensors.v), expected.map(\.v)) < 1e-5)
        if c.step == 1 && c.weightDecay == 0 {
            // bias-corrected first step: m̂ = g, v̂ = g², so every parameter moves by lr·sign(g); ε shifts it
            // by lr·ε/|g| ≤ 1e-7 and the fp32 subtraction costs an ulp of |param| ≲ 4 (4.8e-7)
            for i in 0..<count where abs(grads[i]) > 1e-3 {
                #expect(abs(Double(change[i]) + 1e-2 * (grads[i] > 0 ? 1 : -1)) < 1e-6)
            }
        }
    }

    /// ε is added to √v̂ (as in the paper and PyTorch), not put inside the root nor left out. At step 1 from zero
    /// moments m̂ = g and v̂ = g², so a gradient of exactly ±ε moves its parameter by lr·ε/(ε + ε) = lr/2 = 5e-3
    /// against g's sign; ε inside the root would give lr/√2 ≈ 7.1e-3, no ε at all lr = 1e-2. The other cases'
    /// gradients (~0.1) dwarf ε = 1e-8, so there its place made no visible difference.
    @Test("a gradient of size epsilon moves its parameter by half the learning rate at step 1")
    func epsilonIsAddedToTheRootOfTheSecondMoment() throws {
        let count = 13   // an 8-lane block and a scalar tail
        let arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 4 * count)
        var data = TestData(seed: 9)
        let params = data.normal(count)
        let hyper = AdamWHyperparameters(learningRate: 1e-2, weightDecay: 0)
        let grads = (0..<count).map { $0 % 3 == 0 ? -hyper.epsilon : hyper.epsilon }
        let p = arena.tensor(params)
        arena.backend.adamWUpdate(params: p, grads: arena.tensor(grads), m: arena.tensor(count: count),
                                  v: arena.tensor(count: count), step: 1, hyperparameters: hyper, gradScale: 1)
        let updated = arena.read(p)
        for i in 0..<count {
            // m̂ and √v̂ each carry a few ulps; the subtraction from |param| ≲ 4 costs one ulp (4.8e-7)
            let expected: Float = grads[i] > 0 ? -5e-3 : 5e-3
            #expect(abs((updated[i] - params[i]) - expected) < 1e-6, "element \(i)")
        }
    }

    @Test("sum of squares matches a double-precision sum")
    func sumOfSquaresMatches() throws {
        let count = 40_003   // several 16 384-element blocks and a ragged end
        let arena = try TensorArena(backend: CPUBackend(threads: 2), floats: count)
        var data = TestData(seed: 5)
        let values = data.normal(count)
        let expected = values.reduce(0.0) { $0 + Double($1) * Double($1) }
        // fp32 dot products within each block: relative error ≲ 1e-6 of the positive sum
        #expect(abs(arena.backend.sumOfSquares(arena.tensor(values)) - expected) / expected < 1e-5)
    }
}
