/// Causal multi-head self-attention on the CPU, one query row at a time with an exact softmax: the
/// forward keeps only each row's log-sum-exp, and the backward recomputes the weights from it, so no
/// (T,T) matrix is ever stored. Work is split across cores by (batch, head).

import GPT2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension CPUBackend {
    /// out (B,T,C), stats (B,NH,T) = causal softmax(Q·Kᵀ/√HS)·V over qkv (B,T,3C)
    public func attentionForward(out: TensorRef, stats: TensorRef, qkv: TensorRef, B: Int, T: Int, C: Int, NH: Int) {
        nonisolated(unsafe) let o = floats(out), lse = floats(stats), x = floats(qkv)
        let HS = C / NH
        let scale = 1 / Float(HS).squareRoot()
        parallelFor(B * NH) { pairs in
            let weights = UnsafeMutablePointer<Float>.allocate(capacity: T)
            defer { weights.deallocate() }
            for pair in pairs {
                let (b, h) = (pair / NH, pair % NH)
                let sequence = x + b * T * 3 * C
                for t in 0..<T {
                    lse[(b * NH + h) * T + t] = attendRow(out: o + (b * T + t) * C + h * HS, qkv: sequence, t: t,
                                                          head: h, C: C, HS: HS, scale: scale, weights: weights)
                }
            }
        }
    }

    /// out (C) = attention of query row t over rows 0...t of qkv (T,3C), one sequence
    public func attentionForwardRow(out: TensorRef, qkv: TensorRef, t: Int, C: Int, NH: Int) {
        precondition(qkv.count >= (t + 1) * 3 * C && out.count >= C, "attention row outside its tensors")
        nonisolated(unsafe) let o = floats(out), x = floats(qkv)
        let HS = C / NH
        let scale = 1 / Float(HS).squareRoot()
        parallelFor(NH) { heads in
            let weights = UnsafeMutablePointer<Float>.allocate(capacity: t + 1)
            defer { weights.deallocate() }
            for h in heads {
                _ = attendRow(out: o + h * HS, qkv: x, t: t, head: h, C: C, HS: HS, scale: scale, weights: weights)
            }
        }
    }

    /// dqkv (B,T,3C) =  from dout (B,T,C)
    public func attentionBackward(dqkv: TensorRef, dout: TensorRef, qkv: TensorRef, out: TensorRef, stats: TensorRef,
                                  B: Int, T: Int, C: Int, NH: Int) {
        nonisolated(unsafe) let dx = floats(dqkv), dy = floats(dout), x = floats(qkv), y = floats(out), lse = floats(stats)
        let HS = C / NH
        let scale = 1 / Float(HS).squareRoot()
        parallelFor(B * NH) { pairs in
            let weights = UnsafeMutablePointer<Float>.allocate(capacity: T)
            defer { weights.deallocate() }
            for pair in pairs {
                let (b, h) = (pair / NH, pair % NH)
                for t in 0..<T {
                    for part in 0..<3 { (dx + (b * T + t) * 3 * C + part * C + h * HS).initialize(repeating: 0, count: HS) }
                }
                for t in 0..<T {
                    let row = (b * T + t) * 3 * C + h * HS
                    let q = x + row, dq = dx + row
                    let dyRow = dy + (b * T + t) * C + h * HS
                    // D = Σ_j p_j·dp_j = dout·out, so ds_j = p_j·(dp_j − D)
                    let rowDot = dot(dyRow, y + (b * T + t) * C + h * HS, HS)
                    for j in 0...t { weights[j] = dot(q, x + (b * T + j) * 3 * C + C + h * HS, HS) * scale }
                    _ = exponentiate(weights, count: t + 1, subtracting: lse[(b * NH + h) * T + t])
                    for j in 0...t {
                        let keyRow = (b * T + j) * 3 * C + C + h * HS
                        let p = weights[j]
                        let dp = dot(dyRow, x + keyRow + C, HS)
                        let ds = p * (dp - rowDot) * scale
                        axpy(dq, ds, x + keyRow, HS)
                        axpy(dx + keyRow, ds, q, HS)
                        axpy(dx + keyRow + C, p, dyRow, HS)
                    }
                }
            }
        }
    }
}

/// values[i] = exp(values[i] − shift) for i < count; returns their sum.
@inline(__always)
func exponentiate(_ values: UnsafeMutablePointer<Float>, count: Int, subtracting shift: Float) -> Float {
    let shiftVec = Vec(repeating: shift)
    var sums = Vec()
    var i = 0
    while i + 8 <= count {
        let e = exp(loadVec(values + i) - shiftVec)
        storeVec(e, values + i)
        sums += e
        i += 8
    }
    var sum = sums.sum()
    while i < count {
        values[i] = expf(values[i] - shift)
        sum += values[i]
        i += 1
    }
    return sum
}

/// One head's output for query row t of a sequence's qkv (T,3C): out (HS) = softmax(q·Kᵀ·scale)·V over
/// rows 0...t. `weights` is scratch for t+1 floats. Returns the row's log-sum-exp.
@inline(__always)
private func attendRow(out: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>, t: Int, head h: Int,
                       C: Int, HS: Int, scale: Float, weights: UnsafeMutablePointer<Float>) -> Float {
    let q = qkv + t * 3 * C + h * HS
    var maxScore = -Float.infinity
    for j in 0...t {
        let score = dot(q, qkv + j * 3 * C + C + h * HS, HS) * scale
        weights[j] = score
        maxScore = max(maxScore, score)
    }
    let sum = exponentiate(weights, count: t + 1, subtracting: maxScore)
    out.initialize(repeating: 0, count: HS)
    let inverseSum = 1 / sum
    for j in 0...t { axpy(out, weights[j] * inverseSum, qkv + j * 3 * C + 2 * C + h * HS, HS) }
    return maxScore + logf(sum)
}
