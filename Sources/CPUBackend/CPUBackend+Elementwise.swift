/// The elementwise and lookup ops on the CPU: embeddings, GELU (tanh approximation) and residual add.
/// GELU runs on SIMD lanes with the vectorised tanh, split across cores.

import GPT2

extension CPUBackend {
    /// out (B,T,C) = wte (Vp,C)[inp (B,T)] + wpe (maxT,C)[0..<T]
    public func encoderForward(out: TensorRef, inp: TensorRef, wte: TensorRef, wpe: TensorRef, B: Int, T: Int, C: Int) {
        let o = floats(out), tokens = ints(inp), te = floats(wte), pe = floats(wpe)
        let vocabulary = wte.count / C
        for row in 0..<(B * T) {
            let token = Int(tokens[row])
            precondition(token >= 0 && token < vocabulary, "token id \(token) outside the vocabulary")
            let y = o + row * C, e = te + token * C, p = pe + (row % T) * C
            for c in 0..<C { y[c] = e[c] + p[c] }
        }
    }

    /// dwte (Vp,C) +=, dwpe (maxT,C) +=  from dout (B,T,C)
    public func encoderBackward(dwte: TensorRef, dwpe: TensorRef, dout: TensorRef, inp: TensorRef, B: Int, T: Int, C: Int) {
        let dy = floats(dout), tokens = ints(inp), dte = floats(dwte), dpe = floats(dwpe)
        for row in 0..<(B * T) {
            axpy(dte + Int(tokens[row]) * C, 1, dy + row * C, C)
            axpy(dpe + (row % T) * C, 1, dy + row * C, C)
        }
    }

    /// out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    public func geluForward(out: TensorRef, inp: TensorRef, count: Int) {
        nonisolated(unsafe) let y = floats(out), x = floats(inp)
        forEachVectorBlock(count) { i in
            let v = loadVec(x + i)
            storeVec(0.5 * v * (1 + tanh(geluScale * (v + 0.044715 * v * v * v))), y + i)
        } scalar: { i in
            y[i] = geluScalar(x[i])
        }
    }

    /// dinp = gelu'(inp) · dout
    public func geluBackward(dinp: TensorRef, inp: TensorRef, dout: TensorRef, count: Int) {
        nonisolated(unsafe) let dx = floats(dinp), x = floats(inp), dy = floats(dout)
        forEachVectorBlock(count) { i in
            storeVec(geluDerivative(loadVec(x + i)) * loadVec(dy + i), dx + i)
        } scalar: { i in
            dx[i] = geluDerivative(Vec(repeating: x[i]))[0] * dy[i]
        }
    }

    /// out = a + b
    public func residualForward(out: TensorRef, a: TensorRef, b: TensorRef, count: Int) {
        nonisolated(unsafe) let y = floats(out), p = floats(a), q = floats(b)
        forEachVectorBlock(count) { i in
            storeVec(loadVec(p + i) + loadVec(q + i), y + i)
        } scalar: { i in
            y[i] = p[i] + q[i]
        }
    }

    /// Calls `vector(i)` for each full 8-lane block start and `scalar(i)` for the tail, split across cores.
    func forEachVectorBlock(_ count: Int, _ vector: (Int) -> Void, scalar: (Int) -> Void) {
        let blocks = count / 8
        parallelFor(blocks, minimumPerThread: 4096) { range in
            for block in range { vector(block * 8) }
        }
        for i in (blocks * 8)..<count { scalar(i) }
    }
}

private let geluScale: Float = 0.797_884_56  // √(2/π)

@inline(__always)
private func geluScalar(_ x: Float) -> Float {
    let v = Vec(repeating: x)
    return (0.5 * v * (1 + tanh(geluScale * (v + 0.044715 * v * v * v))))[0]
}

/// d/dx of the tanh-approximated GELU.
@inline(__always)
private func geluDerivative(_ x: Vec) -> Vec {
    let cube = 0.044715 * x * x * x
    let th = tanh(geluScale * (x + cube))
    let sech2 = 1 - th * th
    return 0.5 * (1 + th) + 0.5 * x * sech2 * geluScale * (1 + 3 * 0.044715 * x * x)
}
