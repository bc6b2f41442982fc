/// Causal self-attention on the GPU through attention.cu's flash kernels: the forward keeps each row's
/// log-sum-exp, the backward recomputes the weights from it; the decode step attends one row to the cache.

import CCUDA
import GPT2

extension CUDABackend {
    /// out (B,T,C) bf16, stats (B,NH,T) fp32 from qkv (B,T,3C) bf16
    public func attentionForward(out: TensorRef, stats: TensorRef, qkv: TensorRef, B: Int, T: Int, C: Int, NH: Int) {
        precondition(C % NH == 0 && C / NH <= 128, "attention: head size \(C)/\(NH) must be a whole number ≤ 128")
        // grid (ceil(T/16), NH, B), block 128: 4 warps × 4 query rows
        launch("attention_forward", grid: Dim3(ceilDiv(T, 16), NH, B), block: Dim3(128),
               [.pointer(bf16(out)), .pointer(f32(stats)), .pointer(bf16(qkv)), .int(B), .int(T), .int(C), .int(NH)])
    }

    /// out (C) bf16 = attention of row t over rows 0...t of one sequence's qkv (T,3C)
    public func attentionForwardRow(out: TensorRef, qkv: TensorRef, t: Int, C: Int, NH: Int) {
        precondition(qkv.count >= (t + 1) * 3 * C && out.count >= C, "attention row outside its tensors")
        let sharedBytes = (t + 1) * 4
        precondition(sharedBytes <= 48 * 1024, "attentionForwardRow: position \(t) needs more than 48 KiB of shared memory")
        // grid NH, block 32 (one warp per head), dynamic shared memory (t+1) floats
        launch("attention_forward_row", grid: Dim3(NH), block: Dim3(32), sharedBytes: sharedBytes,
               [.pointer(bf16(out)), .pointer(bf16(qkv)), .int(t), .int(C), .int(NH)])
    }

    /// dqkv (B,T,3C) bf16 = from dout (B,T,C), qkv, out and stats
    public func attentionBackward(dqkv: TensorRef, dout: TensorRef, qkv: TensorRef, out: TensorRef, stats: TensorRef,
                                  B: Int, T: Int, C: Int, NH: Int) {
        precondition(C % NH == 0 && C / NH <= 128, "attention: head size \(C)/\(NH) must be a whole number ≤ 128")
        precondition(B * NH * T <= (scratch.sizes.map { $0.floatCount - $0.deltaOffset } ?? 0), "attention delta exceeds its scratch")
        // delta (B,NH,T) = Σ dout·out per head: grid ceil(B*T*NH/8), block 256 (one warp per (b,t,h))
        launch("attention_backward_preprocess", grid: Dim3(ceilDiv(B * T * NH, 8)), block: Dim3(256),
               [.pointer(scratch.delta), .pointer(bf16(dout)), .pointer(bf16(out)), .int(B), .int(T), .int(C), .int(NH)])
        let arguments: [KernelArgument] = [.pointer(bf16(dqkv)), .pointer(bf16(dout)), .pointer(bf16(qkv)), .pointer(f32(stats)),
                                           .pointer(scratch.delta), .int(B), .int(T), .int(C), .int(NH)]
        // dK, dV: grid (ceil(T/8), NH, B), block 128 (4 warps × 2 keys)
        launch("attention_backward_dkv", grid: Dim3(ceilDiv(T, 8), NH, B), block: Dim3(128), arguments)
        // dQ: grid (ceil(T/8), NH, B), block 128 (4 warps × 2 query rows)
        launch("attention_backward_dq", grid: Dim3(ceilDiv(T, 8), NH, B), block: Dim3(128), arguments)
    }
}
