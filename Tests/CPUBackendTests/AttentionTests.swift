/// Causal self-attention on the CPU backend: forward (output and per-row log-sum-exp) against the naive
/// (T,T) softmax in double precision, backward against central finite differences; dqkv overwrites.

import CPUBackend
import GPT2
import GPT2TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct AttentionTests {
    struct Shape: Sendable, CustomTestStringConvertible {
        let B, T, C, NH: Int
        var testDescription: String { "B\(B) T\(T) C\(C) NH\(NH)" }
    }

    /// T = 1 (a single key), rows shorter than one 8-lane block, and T = 9 / 17 whose last rows have
    /// t+1 = 9 / 17 keys: a full SIMD block plus a scalar tail. HS = 8 and HS = 6 (dot-product tail).
    /// T = 150: three blocks of query rows (64, 64 and 22), so the later blocks see keys of the earlier ones.
    static let shapes = [
        Shape(B: 2, T: 1, C: 16, NH: 2), Shape(B: 2, T: 5, C: 16, NH: 2), Shape(B: 2, T: 9, C: 16, NH: 2),
        Shape(B: 1, T: 17, C: 16, NH: 2), Shape(B: 2, T: 4, C: 12, NH: 2), Shape(B: 1, T: 150, C: 16, NH: 2),
    ]

    /// One attention problem in an arena.
    struct Problem {
        let arena: TensorArena<CPUBackend>
        let shape: Shape
        let qkv, out, stats: TensorRef

        init(_ shape: Shape, seed: UInt64) throws {
            self.shape = shape
            arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 20_000)
            var data = TestData(seed: seed)
            // std 1.5 makes the softmax rows far from uniform, so wrong weights show
            qkv = arena.tensor(data.normal(shape.B * shape.T * 3 * shape.C, standardDeviation: 1.5))
            out = arena.tensor(count: shape.B * shape.T * shape.C, repeating: .nan)
            stats = arena.tensor(count: shape.B * shape.NH * shape.T, repeating: .nan)
        }

        func forward() {
            arena.backend.attentionForward(out: out, stats: stats, qkv: qkv, B: shape.B, T: shape.T, C: shape.C, NH: shape.NH)
        }
    }

    /// The textbook version: the full (T,T) score matrix per head, masked, softmaxed, times V.
    static func naiveAttention(_ x: [Float], _ s: Shape) -> (out: [Float], logSumExp: [Float]) {
        let (T, C, NH) = (s.T, s.C, s.NH)
        let HS = C / NH
        var out = [Float](repeating: 0, count: s.B * T * C)
        var lse = [Float](repeating: 0, count: s.B * NH * T)
        func at(_ b: Int, _ t: Int, _ part: Int, _ h: Int, _ i: Int) -> Double {
            Double(x[(b * T + t) * 3 * C + part * C + h * HS + i])
        }
        for b in 0..<s.B {
            for h in 0..<NH {
                var scores = [[Double]](repeating: [Double](repeating: -.infinity, count: T), count: T)
                for t in 0..<T {
                    for j in 0...t {
                        scores[t][j] = (0..<HS).reduce(0.0) { $0 + at(b, t, 0, h, $1) * at(b, j, 1, h, $1) } / Double(HS).squareRoot()
                    }
                }
                for t in 0..<T {
                    let maxScore = scores[t].max()!
                    let sum = scores[t].reduce(0.0) { $0 + exp($1 - maxScore) }
                    lse[(b * NH + h) * T + t] = Float(maxScore + log(sum))
                    for i in 0..<HS {
                        var y = 0.0
                        for j in 0..<T { y += exp(scores[t][j] - maxScore) / sum * at(b, j, 2, h, i) }
                        out[(b * T + t) * C + h * HS + i] = Float(y)
                    }
                }
            }
        }
        return (out, lse)
    }

    @Test("forward matches the naive (T,T) softmax", arguments: shapes)
    func forwardMatchesNaiveSoftmax(shape: Shape) throws {
        let p = try Problem(shape, seed: 1)
        p.forward()
        let expected = Self.naiveAttention(p.arena.read(p.qkv), shape)
        // fp32 scores of HS ≤ 8 terms, a polynomial exp with relative error ≲ 2e-7, ≤ 150 weighted sums:
        // a handful of ulps; 1e-5 normwise leaves an order of magnitude of room
        #expect(normwiseError(p.arena.read(p.out), expected.out) < 1e-5)
        #expect(normwiseError(p.arena.read(p.stats), expected.logSumExp) < 1e-5)
    }

    @Test("backward matches finite differences and overwrites dqkv", arguments: shapes)
    func backwardMatchesFiniteDifferences(shape: Shape) throws {
        let p = try Problem(shape, seed: 2)
        var data = TestData(seed: 20)
        let w = data.normal(shape.B * shape.T * shape.C)
        let dout = p.arena.tensor(w)
        let dqkv = p.arena.tensor(count: shape.B * shape.T * 3 * shape.C, repeating: .nan)
        p.forward()
        p.arena.backend.attentionBackward(dqkv: dqkv, dout: dout, qkv: p.qkv, out: p.out, stats: p.stats,
                                          B: shape.B, T: shape.T, C: shape.C, NH: shape.NH)
        let analytic = p.arena.read(dqkv)
        let numeric = p.arena.numericGradient(of: p.qkv, output: p.out, weights: w, forward: p.forward)
        #expect(normwiseError(analytic, numeric) < finiteDifferenceTolerance)
        if shape.T == 1 {
            // one key: the softmax weight is exactly 1, so dq and dk are 0 and dv is dout
            let C = shape.C
            for row in 0..<shape.B {
                #expect(analytic[row * 3 * C..<row * 3 * C + 2 * C].allSatisfy { abs($0) < 1e-6 })
                #expect(maxAbsoluteError(Array(analytic[row * 3 * C + 2 * C..<(row + 1) * 3 * C]),
                                         Array(w[row * C..<(row + 1) * C])) < 1e-6)
            }
        }
    }
}
