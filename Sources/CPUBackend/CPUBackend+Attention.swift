/// Causal multi-head self-attention on the CPU with an exact softmax. Each (sequence, head) is worked through in
/// blocks of 64 query rows: the block's scores against the keys it may see, and every product with them, are
/// SGEMMs, and only one block is held per worker (`CPUScratch.attentionFloats`: 64·(T+1) floats forward, the scores
/// and each row's 1/Σexp; 2·64·T backward, the probabilities and their gradients). The forward keeps each row's
/// log-sum-exp, from which the backward recomputes the weights, so no (T,T) matrix outlives a block. Work is split
/// across cores by (batch, head), with OpenBLAS on one thread inside each worker.

import COpenBLAS
import GPT2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private let blockRows = CPUScratch.attentionBlockRows

extension CPUBackend {
    /// out (B,T,C), stats (B,NH,T) = causal softmax(Q·Kᵀ/√HS)·V over qkv (B,T,3C)
    public func attentionForward(out: TensorRef, stats: TensorRef, qkv: TensorRef, B: Int, T: Int, C: Int, NH: Int) {
        nonisolated(unsafe) let o = floats(out), lse = floats(stats), x = floats(qkv)
        let HS = C / NH
        let scale = 1 / Float(HS).squareRoot()
        forEachHead(B: B, NH: NH, scratchFloats: CPUScratch.attentionFloats(sequenceLength: T, backward: false)) { b, h, scratch in
            let scores = scratch, inverseSums = scratch + blockRows * T   // a block's scores; its rows' 1 / Σ exp
            let head = AttentionHead(qkv: x + b * T * 3 * C + h * HS, C: C, HS: HS)
            let outHead = o + b * T * C + h * HS, lseHead = lse + (b * NH + h) * T
            for t0 in stride(from: 0, to: T, by: blockRows) {
                let rows = min(blockRows, T - t0), keys = t0 + rows
                head.scores(into: scores, queries: t0, rows: rows, scale: scale)
                for r in 0..<rows {
                    let row = scores + r * keys, seen = t0 + r + 1
                    let maxScore = maximum(row, count: seen)
                    let sum = sumOfExponentials(row, count: seen, subtracting: maxScore, store: true)
                    (row + seen).initialize(repeating: 0, count: keys - seen)
                    inverseSums[r] = 1 / sum
                    lseHead[t0 + r] = maxScore + logf(sum)
                }
                // out rows = exp(S − max) · V, then each row divided by its sum
                let outRows = outHead + t0 * C
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(HS), Int32(keys),
                            1, scores, Int32(keys), head.values, Int32(3 * C), 0, outRows, Int32(C))
                for r in 0..<rows { multiply(outRows + r * C, by: inverseSums[r], count: HS) }
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
                attendRow(out: o + h * HS, qkv: x, t: t, head: h, C: C, HS: HS, scale: scale, weights: weights)
            }
        }
    }

    /// dqkv (B,T,3C) = the gradient through causal attention of dout (B,T,C), given the forward's qkv, out and stats
    public func attentionBackward(dqkv: TensorRef, dout: TensorRef, qkv: TensorRef, out: TensorRef, stats: TensorRef,
                                  B: Int, T: Int, C: Int, NH: Int) {
        nonisolated(unsafe) let dx = floats(dqkv), dy = floats(dout), x = floats(qkv), y = floats(out), lse = floats(stats)
        let HS = C / NH
        let scale = 1 / Float(HS).squareRoot()
        forEachHead(B: B, NH: NH, scratchFloats: CPUScratch.attentionFloats(sequenceLength: T, backward: true)) { b, h, scratch in
            let head = AttentionHead(qkv: x + b * T * 3 * C + h * HS, C: C, HS: HS)
            let gradient = AttentionHead(qkv: dx + b * T * 3 * C + h * HS, C: C, HS: HS)
            let doutHead = dy + b * T * C + h * HS, outHead = y + b * T * C + h * HS, lseHead = lse + (b * NH + h) * T
            for t in 0..<T {   // dK and dV accumulate over the blocks; dQ is written whole by each block
                (gradient.keys + t * 3 * C).initialize(repeating: 0, count: HS)
                (gradient.values + t * 3 * C).initialize(repeating: 0, count: HS)
            }
            let p = scratch, ds = scratch + blockRows * T
            for t0 in stride(from: 0, to: T, by: blockRows) {
                let rows = min(blockRows, T - t0), keys = t0 + rows
                let doutRows = doutHead + t0 * C
                head.scores(into: p, queries: t0, rows: rows, scale: scale)
                // dP = dO · Vᵀ, into ds
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(keys), Int32(HS),
                            1, doutRows, Int32(C), head.values, Int32(3 * C), 0, ds, Int32(keys))
                for r in 0..<rows {
                    let t = t0 + r, seen = t + 1
                    let pRow = p + r * keys, dsRow = ds + r * keys
                    _ = sumOfExponentials(pRow, count: seen, subtracting: lseHead[t], store: true)
                    // Σ_j p_j·dp_j = dout·out, so ds_j = p_j·(dp_j − dout·out), times the scores' scale
                    softmaxGradient(dsRow, probabilities: pRow, rowDot: dot(doutHead + t * C, outHead + t * C, HS),
                                    scale: scale, count: seen)
                    (pRow + seen).initialize(repeating: 0, count: keys - seen)
                    (dsRow + seen).initialize(repeating: 0, count: keys - seen)
                }
                // dQ rows = dS · K;  dK += dSᵀ · Q rows;  dV += Pᵀ · dO rows
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(HS), Int32(keys),
                            1, ds, Int32(keys), head.keys, Int32(3 * C), 0, gradient.queries + t0 * 3 * C, Int32(3 * C))
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(keys), Int32(HS), Int32(rows),
                            1, ds, Int32(keys), head.queries + t0 * 3 * C, Int32(3 * C), 1, gradient.keys, Int32(3 * C))
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(keys), Int32(HS), Int32(rows),
                            1, p, Int32(keys), doutRows, Int32(C), 1, gradient.values, Int32(3 * C))
            }
        }
    }

    /// Runs `body(b, h, scratch)` for every (sequence, head) pair, split across the workers, each with `scratchFloats`
    /// floats of its own. OpenBLAS runs on one thread meanwhile: each worker calls its own SGEMMs, which OpenBLAS's
    /// threads would only take turns with (measured: with them, d12's step at T=1024 was twice as slow).
    private func forEachHead(B: Int, NH: Int, scratchFloats: Int, _ body: (Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        BLASThreads.shared.using(1) {
            parallelFor(B * NH) { pairs in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchFloats)
                defer { scratch.deallocate() }
                for pair in pairs { body(pair / NH, pair % NH, scratch) }
            }
        }
    }
}

/// One head of one sequence in a qkv-shaped tensor (T,3C): its query, key and value rows, HS floats each at a
/// stride of 3C floats.
private struct AttentionHead {
    let queries: UnsafeMutablePointer<Float>
    var keys: UnsafeMutablePointer<Float> { queries + C }
    var values: UnsafeMutablePointer<Float> { queries + 2 * C }
    let C: Int, HS: Int

    init(qkv: UnsafeMutablePointer<Float>, C: Int, HS: Int) {
        (queries, self.C, self.HS) = (qkv, C, HS)
    }

    /// scores (rows, t0 + rows) = scale · Q[t0 ..< t0+rows] · K[0 ..< t0+rows]ᵀ: a block of query rows against every
    /// key up to its last row (the later keys of its earlier rows are computed too, and masked by the caller).
    func scores(into scores: UnsafeMutablePointer<Float>, queries t0: Int, rows: Int, scale: Float) {
        let keys = t0 + rows
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(keys), Int32(HS),
                    scale, queries + t0 * 3 * C, Int32(3 * C), self.keys, Int32(3 * C), 0, scores, Int32(keys))
    }
}

/// gradients[j] = probabilities[j]·(gradients[j] − rowDot)·scale for j < count: the softmax's backward, in place.
@inline(__always)
private func softmaxGradient(_ gradients: UnsafeMutablePointer<Float>, probabilities: UnsafePointer<Float>,
                             rowDot: Float, scale: Float, count: Int) {
    let dotVec = Vec(repeating: rowDot), scaleVec = Vec(repeating: scale)
    var j = 0
    while j + 8 <= count {
        storeVec(loadVec(probabilities + j) * (loadVec(gradients + j) - dotVec) * scaleVec, gradients + j)
        j += 8
    }
    while j < count {
        gradients[j] = probabilities[j] * (gradients[j] - rowDot) * scale
        j += 1
    }
}

/// One head's output for query row t of a sequence's qkv (T,3C): out (HS) = softmax(q·Kᵀ·scale)·V over
/// rows 0...t. `weights` is scratch for t+1 floats.
@inline(__always)
private func attendRow(out: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>, t: Int, head h: Int,
                       C: Int, HS: Int, scale: Float, weights: UnsafeMutablePointer<Float>) {
    let q = qkv + t * 3 * C + h * HS
    var maxScore = -Float.infinity
    for j in 0...t {
        let score = dot(q, qkv + j * 3 * C + C + h * HS, HS) * scale
        weights[j] = score
        maxScore = max(maxScore, score)
    }
    let sum = sumOfExponentials(weights, count: t + 1, subtracting: maxScore, store: true)
    out.initialize(repeating: 0, count: HS)
    let inverseSum = 1 / sum
    for j in 0...t { axpy(out, weights[j] * inverseSum, qkv + j * 3 * C + 2 * C + h * HS, HS) }
}
