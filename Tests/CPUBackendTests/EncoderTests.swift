/// Token and position embeddings on the CPU backend: forward against a lookup loop, backward against
/// central finite differences; dwte and dwpe accumulate, repeated tokens included.

import CPUBackend
import GPT2
import GPT2TestSupport
import Testing

@Suite struct EncoderTests {
    static let B = 2, T = 4, C = 12, Vp = 16, maxT = 6

    /// One embedding problem; token 3 appears three times so its gradient row sums several positions.
    struct Problem {
        let arena: TensorArena<CPUBackend>
        let wte, wpe, out, inp: TensorRef
        let tokens: [Int32] = [3, 0, 15, 3, 7, 3, 1, 0]

        init(seed: UInt64) throws {
            let s = EncoderTests.self
            arena = try TensorArena(backend: CPUBackend(threads: 2), floats: 4096, ints: s.B * s.T)
            var data = TestData(seed: seed)
            wte = arena.tensor(data.normal(s.Vp * s.C))
            wpe = arena.tensor(data.normal(s.maxT * s.C))
            out = arena.tensor(count: s.B * s.T * s.C, repeating: .nan)
            inp = arena.tokens(tokens)
        }

        func forward() {
            let s = EncoderTests.self
            arena.backend.encoderForward(out: out, inp: inp, wte: wte, wpe: wpe, B: s.B, T: s.T, C: s.C)
        }
    }

    @Test("forward is wte[token] + wpe[position]")
    func forwardLooksUpAndAdds() throws {
        let p = try Problem(seed: 1)
        p.forward()
        let te = p.arena.read(p.wte), pe = p.arena.read(p.wpe)
        let C = Self.C
        var expected = [Float]()
        for row in 0..<(Self.B * Self.T) {
            let token = Int(p.tokens[row]), position = row % Self.T
            for c in 0..<C { expected.append(te[token * C + c] + pe[position * C + c]) }
        }
        // one fp32 addition, the same one: bit-identical
        #expect(p.arena.read(p.out) == expected)
    }

    @Test("backward matches finite differences and accumulates into dwte and dwpe")
    func backwardMatchesFiniteDifferences() throws {
        let p = try Problem(seed: 2)
        var data = TestData(seed: 20)
        let w = data.normal(Self.B * Self.T * Self.C)
        let dwteBefore = data.normal(Self.Vp * Self.C), dwpeBefore = data.normal(Self.maxT * Self.C)
        let dwte = p.arena.tensor(dwteBefore), dwpe = p.arena.tensor(dwpeBefore)
        p.arena.backend.encoderBackward(dwte: dwte, dwpe: dwpe, dout: p.arena.tensor(w), inp: p.inp,
                                        B: Self.B, T: Self.T, C: Self.C)
        let dwteAdded = subtracting(p.arena.read(dwte), dwteBefore)
        let dwpeAdded = subtracting(p.arena.read(dwpe), dwpeBefore)
        for (name, analytic, tensor) in [("dwte", dwteAdded, p.wte), ("dwpe", dwpeAdded, p.wpe)] {
            let numeric = p.arena.numericGradient(of: tensor, output: p.out, weights: w, forward: p.forward)
            #expect(normwiseError(analytic, numeric) < finiteDifferenceTolerance, "\(name)")
        }
        // rows of tokens never seen, and positions at or past T, get nothing added
        for token in [2, 4, 14] { #expect(dwteAdded[token * Self.C..<(token + 1) * Self.C].allSatisfy { $0 == 0 }) }
        #expect(dwpeAdded[Self.T * Self.C..<Self.maxT * Self.C].allSatisfy { $0 == 0 })
    }
}
