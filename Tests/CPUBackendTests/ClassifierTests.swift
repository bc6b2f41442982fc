/// The fused softmax/cross-entropy classifier on the CPU backend with a padded vocabulary (V < Vp):
/// losses against a double-precision log-softmax, dlogits against finite differences and the formula.

import CPUBackend
import GPT2
import GPT2TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct ClassifierTests {
    static let B = 2, T = 3, V = 10, Vp = 16

    /// One classifier problem: the padded columns hold 200, which must get no probability mass (a max or a sum
    /// taken over them too would put every real logit, ~N(0, 2²), below exp's range: exp(−200) flushes to 0), and
    /// one row is shifted by +1000 to demand a max-subtracted (stable) softmax.
    struct Problem {
        let arena: TensorArena<CPUBackend>
        let logits, losses, targets: TensorRef
        let initialLogits: [Float]
        let labels: [Int32]

        init(seed: UInt64) throws {
            let (B, T, V, Vp) = ClassifierTests.shape
            arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 4096, ints: B * T)
            var data = TestData(seed: seed)
            var values = data.normal(B * T * Vp, standardDeviation: 2)
            for row in 0..<(B * T) {
                for i in V..<Vp { values[row * Vp + i] = 200 }
            }
            for i in 0..<V { values[4 * Vp + i] += 1000 }
            initialLogits = values
            labels = [0, Int32(V - 1), 3, 7, 5, 2]
            logits = arena.tensor(values)
            losses = arena.tensor(count: B * T, repeating: .nan)
            targets = arena.tokens(labels)
        }

        func run(dlossScale: Float?) {
            let (B, T, V, Vp) = ClassifierTests.shape
            arena.backend.fusedClassifier(logits: logits, losses: losses, targets: targets, dlossScale: dlossScale,
                                          B: B, T: T, V: V, Vp: Vp)
        }
    }

    static var shape: (Int, Int, Int, Int) { (B, T, V, Vp) }

    /// Per-row softmax over the real vocabulary, in double precision.
    static func probabilities(_ logits: [Float], row: Int) -> [Double] {
        let values = logits[row * Vp..<row * Vp + V].map(Double.init)
        let maxValue = values.max()!
        let exps = values.map { exp($0 - maxValue) }
        let sum = exps.reduce(0, +)
        return exps.map { $0 / sum }
    }

    @Test("losses are the cross-entropy of the softmax over the real vocabulary only")
    func lossesMatchLogSoftmax() throws {
        let p = try Problem(seed: 1)
        p.run(dlossScale: nil)
        let expected = (0..<(Self.B * Self.T)).map { row in
            Float(-log(Self.probabilities(p.initialLogits, row: row)[Int(p.labels[row])]))
        }
        // logsumexp of ≤ 10 terms with |logit| ≤ 1008: absolute error a few ulps of 1008 ≈ 1e-4 at worst
        // for the shifted row; relative 1e-5 against losses of order 1–10 elsewhere
        #expect(maxAbsoluteError(p.arena.read(p.losses), expected) < 2e-4)
        #expect(maxRelativeError(p.arena.read(p.losses), expected, floor: 1) < 1e-5)
    }

    @Test("without a loss scale the logits are left as they were")
    func logitsSurviveWithoutScale() throws {
        let p = try Problem(seed: 2)
        p.run(dlossScale: nil)
        #expect(p.arena.read(p.logits) == p.initialLogits)
    }

    @Test("dlogits are (softmax − onehot)·scale, zero in the padded columns, and match finite differences")
    func dlogitsMatchFormulaAndFiniteDifferences() throws {
        let p = try Problem(seed: 3)
        let scale: Float = 1.0 / 6
        p.run(dlossScale: scale)
        let dlogits = p.arena.read(p.logits)
        var expected = [Float](repeating: 0, count: dlogits.count)
        for row in 0..<(Self.B * Self.T) {
            let probabilities = Self.probabilities(p.initialLogits, row: row)
            for i in 0..<Self.V {
                let onehot = i == Int(p.labels[row]) ? 1.0 : 0.0
                expected[row * Self.Vp + i] = Float((probabilities[i] - onehot) * Double(scale))
            }
            // padded columns: no probability mass, so exactly no gradient
            #expect(dlogits[row * Self.Vp + Self.V..<(row + 1) * Self.Vp].allSatisfy { $0 == 0 })
        }
        // softmax entries carry a few ulps of relative error: 1e-5 normwise is ample
        #expect(normwiseError(dlogits, expected) < 1e-5)

        // L = scale·Σ losses; the +1000 row is left out of the differences (its fp32 loss has ulp 6e-5)
        let rows = [0, 1, 2, 3, 5]
        let indices = rows.flatMap { row in (row * Self.Vp)..<((row + 1) * Self.Vp) }
        let numeric = centralDifferences(at: p.initialLogits, indices: indices) { values in
            p.arena.write(values, to: p.logits)
            p.run(dlossScale: nil)
            return Double(scale) * p.arena.read(p.losses).reduce(0.0) { $0 + Double($1) }
        }
        #expect(normwiseError(indices.map { dlogits[$0] }, numeric) < finiteDifferenceTolerance)
    }
}
