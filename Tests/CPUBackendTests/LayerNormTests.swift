/// LayerNorm on the CPU backend: forward against a double-precision loop, backward against central
/// finite differences, and the gradient contract (dinp, dweight and dbias all accumulate).

import CPUBackend
import GPT2
import GPT2TestSupport
import Testing

@Suite struct LayerNormTests {
    /// One LayerNorm problem: inputs, parameters and the tensors the op writes, in an arena.
    struct Problem {
        let arena: TensorArena<CPUBackend>
        let B: Int, T: Int, C: Int
        let inp, weight, bias, out, mean, rstd: TensorRef

        init(B: Int, T: Int, C: Int, seed: UInt64, spread: Float = 2) throws {
            (self.B, self.T, self.C) = (B, T, C)
            arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 4096)
            var data = TestData(seed: seed)
            // rows with a non-zero mean and a spread unlike 1, so normalisation really does something (the mean is
            // 0.35 spreads: fp32 rounding of the mean, relative to the spread, stays as small at any spread)
            inp = arena.tensor(data.normal(B * T * C, standardDeviation: spread, mean: 0.35 * spread))
            weight = arena.tensor(data.normal(C, standardDeviation: 0.5, mean: 1))
            bias = arena.tensor(data.normal(C, standardDeviation: 0.5))
            out = arena.tensor(count: B * T * C, repeating: .nan)
            mean = arena.tensor(count: B * T, repeating: .nan)
            rstd = arena.tensor(count: B * T, repeating: .nan)
        }

        func forward() {
            arena.backend.layerNormForward(out: out, mean: mean, rstd: rstd, inp: inp, weight: weight, bias: bias,
                                           B: B, T: T, C: C)
        }
    }

    /// Spread 2 (variance 4): the 1e-5 added to the variance moves rstd by 1.25e-6 relative, under the tolerance, so
    /// there a dropped or wrong epsilon passed unseen. Spread 0.01 (variance 1e-4, the scale of GPT-2's residual stream
    /// at initialisation, whose embeddings are N(0, 0.02²)): the 1e-5 is a tenth of the variance, and an epsilon of
    /// 1e-6 instead moves rstd by ≈ √(1.1/1.01) − 1 ≈ 4 %, none at all by ≈ 5 % (more in rows whose sample variance
    /// is below 1e-4: 8–14 % measured), against a tolerance of 1e-5.
    @Test("forward matches a double-precision loop", arguments: [8, 12, 16], [2, 0.01] as [Float])
    func forwardMatchesReference(C: Int, spread: Float) throws {
        let p = try Problem(B: 2, T: 3, C: C, seed: 1, spread: spread)
        p.forward()
        let (x, w, b) = (p.arena.read(p.inp), p.arena.read(p.weight), p.arena.read(p.bias))
        var expected = [Float](), expectedMean = [Float](), expectedRstd = [Float]()
        for row in 0..<(p.B * p.T) {
            let values = x[row * C..<(row + 1) * C].map(Double.init)
            let mean = values.reduce(0, +) / Double(C)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(C)
            let rstd = 1 / (variance + 1e-5).squareRoot()
            expectedMean.append(Float(mean))
            expectedRstd.append(Float(rstd))
            for c in 0..<C { expected.append(Float((values[c] - mean) * rstd * Double(w[c]) + Double(b[c]))) }
        }
        // a sum of C ≤ 16 fp32 terms and a rsqrt: a few ulps, far below 1e-5
        #expect(normwiseError(p.arena.read(p.out), expected) < 1e-5)
        #expect(maxRelativeError(p.arena.read(p.mean), expectedMean) < 1e-5)
        #expect(maxRelativeError(p.arena.read(p.rstd), expectedRstd) < 1e-5)
    }

    @Test("backward matches finite differences and accumulates into dinp, dweight and dbias", arguments: [8, 12, 16])
    func backwardMatchesFiniteDifferences(C: Int) throws {
        let p = try Problem(B: 2, T: 3, C: C, seed: 2)
        var data = TestData(seed: 20)
        let w = data.normal(p.B * p.T * C)
        // pre-filled gradients: the op must add onto them, not overwrite them
        let dinpBefore = data.normal(p.B * p.T * C), dweightBefore = data.normal(C), dbiasBefore = data.normal(C)
        let dout = p.arena.tensor(w)
        let dinp = p.arena.tensor(dinpBefore)
        let dweight = p.arena.tensor(dweightBefore), dbias = p.arena.tensor(dbiasBefore)
        p.forward()
        p.arena.backend.layerNormBackward(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: p.inp,
                                          weight: p.weight, mean: p.mean, rstd: p.rstd, B: p.B, T: p.T, C: C)
        let analytic = [
            subtracting(p.arena.read(dinp), dinpBefore),
            subtracting(p.arena.read(dweight), dweightBefore),
            subtracting(p.arena.read(dbias), dbiasBefore),
        ]
        for (index, tensor) in [p.inp, p.weight, p.bias].enumerated() {
            let numeric = p.arena.numericGradient(of: tensor, output: p.out, weights: w, forward: p.forward)
            #expect(normwiseError(analytic[index], numeric) < finiteDifferenceTolerance,
                    "gradient \(["dinp", "dweight", "dbias"][index]) at C=\(C)")
        }
    }

    @Test("dweight and dbias sum over every row, whatever the number of worker threads")
    func parameterGradientsAreIndependentOfThreads() throws {
        // 65 rows reach the multi-worker path (at least 16 rows per worker) with 2 and 4 threads, and neither
        // divides them: the last worker's share ends at row 65, not at 2·32 or 4·16
        var gradients: [[Float]] = []
        for threads in [1, 2, 4] {
            let arena = try TensorArena(backend: CPUBackend(threads: threads), floats: 4096)
            var data = TestData(seed: 3)
            let (B, T, C) = (5, 13, 8)
            let inp = arena.tensor(data.normal(B * T * C)), weight = arena.tensor(data.normal(C, mean: 1))
            let bias = arena.tensor(data.normal(C)), dout = arena.tensor(data.normal(B * T * C))
            let out = arena.tensor(count: B * T * C), mean = arena.tensor(count: B * T), rstd = arena.tensor(count: B * T)
            let dinp = arena.tensor(count: B * T * C), dweight = arena.tensor(count: C), dbias = arena.tensor(count: C)
            arena.backend.layerNormForward(out: out, mean: mean, rstd: rstd, inp: inp, weight: weight, bias: bias,
                                           B: B, T: T, C: C)
            arena.backend.layerNormBackward(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: inp,
                                            weight: weight, mean: mean, rstd: rstd, B: B, T: T, C: C)
            gradients.append(arena.read(dweight) + arena.read(dbias))
        }
        // only the summation order of per-worker partials differs: fp32 rounding, nothing more
        #expect(maxRelativeError(gradients[1], gradients[0], floor: 1e-3) < 1e-5)
        #expect(maxRelativeError(gradients[2], gradients[0], floor: 1e-3) < 1e-5)
    }
}
