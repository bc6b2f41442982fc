/// GELU (tanh approximation) and the residual add on the CPU backend: forward against the formula in
/// double precision, backward against central finite differences and the analytic derivative; dinp overwrites.

import CPUBackend
import GPT2
import GPT2TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct GeluTests {
    static let scale = (2 / Double.pi).squareRoot()

    static func gelu(_ x: Double) -> Double { 0.5 * x * (1 + tanh(scale * (x + 0.044715 * x * x * x))) }

    static func geluDerivative(_ x: Double) -> Double {
        let th = tanh(scale * (x + 0.044715 * x * x * x))
        return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * scale * (1 + 3 * 0.044715 * x * x)
    }

    /// Inputs covering the curved middle, both saturated ends and exact zeros.
    static func inputs(_ count: Int, seed: UInt64) -> [Float] {
        var data = TestData(seed: seed)
        var values = data.uniform(count, -6, 6)
        for (i, special) in [Float(0), -0.0, -12, 12, -40, 40].enumerated() where i < count { values[i] = special }
        return values
    }

    /// 37 elements: four SIMD blocks and a scalar tail. 70 001: enough blocks for the multi-threaded path.
    @Test("forward matches the tanh-approximation formula", arguments: [37, 70_001])
    func forwardMatchesFormula(count: Int) throws {
        let arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 2 * count)
        let x = Self.inputs(count, seed: 1)
        let inp = arena.tensor(x), out = arena.tensor(count: count, repeating: .nan)
        arena.backend.geluForward(out: out, inp: inp, count: count)
        let expected = x.map { Float(Self.gelu(Double($0))) }
        // the vectorised tanh has absolute error ~1e-7, scaled by 0.5·|x| ≤ 20 in gelu: ≲ 2e-6 absolute
        // (a relative bound would not hold: in the negative tail gelu → 0 while that absolute error remains)
        #expect(maxAbsoluteError(arena.read(out), expected) < 5e-6)
    }

    @Test("backward matches finite differences and overwrites dinp")
    func backwardMatchesFiniteDifferences() throws {
        let count = 37
        let arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 4 * count)
        var data = TestData(seed: 20)
        let w = data.normal(count)
        let inp = arena.tensor(Self.inputs(count, seed: 2)), out = arena.tensor(count: count)
        let dout = arena.tensor(w), dinp = arena.tensor(count: count, repeating: .nan)
        arena.backend.geluBackward(dinp: dinp, inp: inp, dout: dout, count: count)
        let numeric = arena.numericGradient(of: inp, output: out, weights: w) {
            arena.backend.geluForward(out: out, inp: inp, count: count)
        }
        #expect(normwiseError(arena.read(dinp), numeric) < finiteDifferenceTolerance)
    }

    @Test("backward matches the analytic derivative over the multi-threaded path")
    func backwardMatchesDerivative() throws {
        let count = 70_001
        let arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 3 * count)
        let x = Self.inputs(count, seed: 3)
        var data = TestData(seed: 30)
        let dy = data.normal(count)
        let inp = arena.tensor(x), dout = arena.tensor(dy), dinp = arena.tensor(count: count, repeating: .nan)
        arena.backend.geluBackward(dinp: dinp, inp: inp, dout: dout, count: count)
        let expected = (0..<count).map { Float(Self.geluDerivative(Double(x[$0])) * Double(dy[$0])) }
        // gelu' ≤ 1.13 built from tanh with ~1e-7 absolute error times |x|·(1+0.13x²) ≲ 300 at |x| = 6,
        // but there sech² ≈ 0; in practice a few e-7 absolute, times |dout| ≲ 5
        #expect(maxAbsoluteError(arena.read(dinp), expected) < 1e-5)
    }

    @Test("residual add is elementwise a + b, tail included")
    func residualAddsElementwise() throws {
        let count = 37
        let arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 3 * count)
        var data = TestData(seed: 4)
        let a = data.normal(count), b = data.normal(count)
        let out = arena.tensor(count: count, repeating: .nan)
        arena.backend.residualForward(out: out, a: arena.tensor(a), b: arena.tensor(b), count: count)
        #expect(arena.read(out) == zip(a, b).map { $0 + $1 })
    }
}
