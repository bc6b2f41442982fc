/// LayerNorm forward and backward on the CPU, one row of C channels at a time, rows split across cores.
/// Statistics are accumulated in fp32 SIMD lanes; eps is 1e-5 as in GPT-2.

import GPT2

extension CPUBackend {
    /// out (B,T,C), mean (B,T), rstd (B,T) = layernorm(inp (B,T,C)) * weight (C) + bias (C)
    public func layerNormForward(out: TensorRef, mean: TensorRef, rstd: TensorRef, inp: TensorRef,
                                 weight: TensorRef, bias: TensorRef, B: Int, T: Int, C: Int) {
        nonisolated(unsafe) let o = floats(out), m = floats(mean), s = floats(rstd), x = floats(inp)
        nonisolated(unsafe) let w = floats(weight), b = floats(bias)
        parallelFor(B * T, minimumPerThread: 16) { rows in
            for row in rows {
                let stats = layerNormRow(x + row * C, o + row * C, weight: w, bias: b, C: C)
                m[row] = stats.mean
                s[row] = stats.rstd
            }
        }
    }

    /// dinp (B,T,C) +=, dweight (C) +=, dbias (C) +=  from dout (B,T,C)
    public func layerNormBackward(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef, dout: TensorRef,
                                  inp: TensorRef, weight: TensorRef, mean: TensorRef, rstd: TensorRef,
                                  B: Int, T: Int, C: Int) {
        nonisolated(unsafe) let dx = floats(dinp), dy = floats(dout), x = floats(inp), w = floats(weight)
        nonisolated(unsafe) let m = floats(mean), s = floats(rstd)
        let rows = B * T
        let workers = workerCount(for: rows, minimumPerThread: 16)
        // Each worker sums its rows' dweight/dbias into its own partial (2C), added up at the end.
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: workers * 2 * C)
        defer { partials.deallocate() }
        partials.initialize(repeating: 0, count: workers * 2 * C)
        nonisolated(unsafe) let shared = partials
        forEachWorker(workers) { worker in
            let dw = shared + worker * 2 * C, db = dw + C
            for row in (rows * worker / workers)..<(rows * (worker + 1) / workers) {
                layerNormBackwardRow(dx + row * C, dw, db, dy + row * C, x + row * C, w,
                                     mean: m[row], rstd: s[row], C: C)
            }
        }
        let dw = floats(dweight), db = floats(dbias)
        for worker in 0..<workers {
            axpy(dw, 1, partials + worker * 2 * C, C)
            axpy(db, 1, partials + worker * 2 * C + C, C)
        }
    }
}

/// Normalises one row; returns its mean and 1/std.
@inline(__always)
private func layerNormRow(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                          weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, C: Int) -> (mean: Float, rstd: Float) {
    var sum = Vec()
    var i = 0
    while i + 8 <= C { sum += loadVec(x + i); i += 8 }
    var total = sum.sum()
    while i < C { total += x[i]; i += 1 }
    let mean = total / Float(C)
    var squares = Vec()
    let meanVec = Vec(repeating: mean)
    i = 0
    while i + 8 <= C {
        let d = loadVec(x + i) - meanVec
        squares += d * d
        i += 8
    }
    var variance = squares.sum()
    while i < C { variance += (x[i] - mean) * (x[i] - mean); i += 1 }
    variance /= Float(C)
    let rstd = 1 / (variance + 1e-5).squareRoot()
    for c in 0..<C { out[c] = (x[c] - mean) * rstd * weight[c] + bias[c] }
    return (mean, rstd)
}

/// One row of LayerNorm backward: dx += …, dw += dy·x̂, db += dy.
@inline(__always)
private func layerNormBackwardRow(_ dx: UnsafeMutablePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                  _ db: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>,
                                  _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                  mean: Float, rstd: Float, C: Int) {
    // dnorm = dy·w; dx = rstd·(dnorm − mean(dnorm) − x̂·mean(dnorm·x̂))
    var meanDnorm: Float = 0, meanDnormXhat: Float = 0
    for c in 0..<C {
        let xhat = (x[c] - mean) * rstd
        let dnorm = dy[c] * w[c]
        meanDnorm += dnorm
        meanDnormXhat += dnorm * xhat
    }
    meanDnorm /= Float(C)
    meanDnormXhat /= Float(C)
    for c in 0..<C {
        let xhat = (x[c] - mean) * rstd
        let dnorm = dy[c] * w[c]
        db[c] += dy[c]
        dw[c] += xhat * dy[c]
        dx[c] += (dnorm - meanDnorm - xhat * meanDnormXhat) * rstd
    }
}
