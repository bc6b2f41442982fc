/// Linear layers on the CPU backend: forward against a double-precision loop (with and without bias),
/// backward against central finite differences, and the contract: dinp overwrites, dweight/dbias add.

import CPUBackend
import GPT2
import GPT2TestSupport
import Testing

@Suite struct MatmulTests {
    struct Shape: Sendable, CustomTestStringConvertible {
        let B, T, C, OC: Int
        let hasBias: Bool
        var testDescription: String { "B\(B) T\(T) C\(C) OC\(OC)\(hasBias ? "" : " no bias")" }
    }

    static let shapes = [
        Shape(B: 2, T: 3, C: 8, OC: 16, hasBias: true),
        Shape(B: 2, T: 5, C: 12, OC: 5, hasBias: true),
        Shape(B: 2, T: 4, C: 16, OC: 24, hasBias: false),
        // dbias's column sums in two blocks, 64 columns and a ragged 8, one per worker thread
        Shape(B: 2, T: 3, C: 8, OC: 72, hasBias: true),
        // one row: a matrix-vector product (decoding a sampled token)
        Shape(B: 1, T: 1, C: 12, OC: 7, hasBias: true),
        Shape(B: 1, T: 1, C: 16, OC: 24, hasBias: false),
    ]

    /// One linear-layer problem in an arena.
    struct Problem {
        let arena: TensorArena<CPUBackend>
        let shape: Shape
        let inp, weight, out: TensorRef
        let bias: TensorRef?

        init(_ shape: Shape, seed: UInt64) throws {
            self.shape = shape
            arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 8192)
            var data = TestData(seed: seed)
            inp = arena.tensor(data.normal(shape.B * shape.T * shape.C))
            weight = arena.tensor(data.normal(shape.OC * shape.C, standardDeviation: 0.5))
            bias = shape.hasBias ? arena.tensor(data.normal(shape.OC)) : nil
            // NaN: the forward must overwrite every output, bias or not
            out = arena.tensor(count: shape.B * shape.T * shape.OC, repeating: .nan)
        }

        func forward() {
            arena.backend.matmulForward(out: out, inp: inp, weight: weight, bias: bias,
                                        B: shape.B, T: shape.T, C: shape.C, OC: shape.OC)
        }
    }

    @Test("forward matches a double-precision loop", arguments: shapes)
    func forwardMatchesReference(shape: Shape) throws {
        let p = try Problem(shape, seed: 1)
        p.forward()
        let x = p.arena.read(p.inp), w = p.arena.read(p.weight)
        let b = p.bias.map { p.arena.read($0) }
        var expected = [Float]()
        for row in 0..<(shape.B * shape.T) {
            for o in 0..<shape.OC {
                var sum = Double(b?[o] ?? 0)
                for c in 0..<shape.C { sum += Double(x[row * shape.C + c]) * Double(w[o * shape.C + c]) }
                expected.append(Float(sum))
            }
        }
        // dot products of ≤ 16 fp32 terms of order 1: error ~ √C·u·|x||w|, far below 1e-5 normwise
        #expect(normwiseError(p.arena.read(p.out), expected) < 1e-5)
    }

    @Test("backward matches finite differences; dinp overwrites, dweight and dbias accumulate", arguments: shapes)
    func backwardMatchesFiniteDifferences(shape: Shape) throws {
        let p = try Problem(shape, seed: 2)
        var data = TestData(seed: 20)
        let w = data.normal(shape.B * shape.T * shape.OC)
        let dweightBefore = data.normal(shape.OC * shape.C), dbiasBefore = data.normal(shape.OC)
        let dout = p.arena.tensor(w)
        let dinp = p.arena.tensor(count: shape.B * shape.T * shape.C, repeating: .nan)   // garbage to overwrite
        let dweight = p.arena.tensor(dweightBefore)
        let dbias = shape.hasBias ? p.arena.tensor(dbiasBefore) : nil
        p.arena.backend.matmulBackward(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: p.inp,
                                       weight: p.weight, B: shape.B, T: shape.T, C: shape.C, OC: shape.OC)
        var checks: [(String, [Float], TensorRef)] = [
            ("dinp", p.arena.read(dinp), p.inp),
            ("dweight", subtracting(p.arena.read(dweight), dweightBefore), p.weight),
        ]
        if let dbias, let bias = p.bias { checks.append(("dbias", subtracting(p.arena.read(dbias), dbiasBefore), bias)) }
        for (name, analytic, tensor) in checks {
            let numeric = p.arena.numericGradient(of: tensor, output: p.out, weights: w, forward: p.forward)
            #expect(normwiseError(analytic, numeric) < finiteDifferenceTolerance, "\(name) for \(shape.testDescription)")
        }
    }
}
