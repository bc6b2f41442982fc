/// Causal self-attention on the GPU through flash kernels: the forward keeps each row's log-sum-exp, the
/// backward recomputes the weights from it; the decode step attends one row to the cache. Two kernel
/// families compute the same thing: attention_tensor_cores.cu (bf16 mma.sync in registers, used for head
/// sizes 16, 32, 64 and 128 where the device's shared memory allows) and attention.cu (fp32 on CUDA cores,
/// any head size ≤ 128).

import CCUDA
import GPT2

/// Which flash-attention kernels the backend runs.
public enum AttentionKernels: String, Sendable, CaseIterable {
    /// attention_tensor_cores.cu where `TensorCoreAttention.supports` allows, attention.cu elsewhere.
    case tensorCores = "tensor-cores"
    /// attention.cu always.
    case cudaCores = "cuda-cores"
}

/// The dynamic shared memory of attention_tensor_cores.cu's kernels, mirroring its attention_tc_*_shared_bytes
/// (each kernel traps when given less, so a drift between the two fails every tensor-core attention test).
public enum TensorCoreAttention {
    static let blockRows = 64, forwardKeys = 64, backwardTile = 32
    /// The head sizes with kernels of their own (attention_forward_tc_hs64, …).
    public static let headSizes = [16, 32, 64, 128]

    static func forwardKernel(HS: Int) -> String { "attention_forward_tc_hs\(HS)" }
    static func dkvKernel(HS: Int) -> String { "attention_backward_dkv_tc_hs\(HS)" }
    static func dqKernel(HS: Int) -> String { "attention_backward_dq_tc_hs\(HS)" }
    /// The forward, dK/dV and dQ kernels for head size `HS`.
    static func kernelNames(HS: Int) -> [String] { [forwardKernel(HS: HS), dkvKernel(HS: HS), dqKernel(HS: HS)] }

    /// Bytes of a bf16 tile of `rows` rows of `columns` elements, rows padded by 8 elements.
    static func tileBytes(rows: Int, columns: Int) -> Int { rows * (columns + 8) * 2 }

    /// Q (64 rows × HS), then two buffers of K, V (64 keys × HS)
    public static func forwardBytes(HS: Int) -> Int {
        tileBytes(rows: blockRows + 2 * 2 * forwardKeys, columns: HS)
    }

    /// K, V (64 rows × HS), then two buffers of Q, dO (32 queries × HS) and of lse, delta (32 floats each)
    public static func dkvBytes(HS: Int) -> Int {
        tileBytes(rows: 2 * blockRows + 2 * 2 * backwardTile, columns: HS) + 2 * 2 * backwardTile * 4
    }

    /// Q, dO (64 rows × HS), then two buffers of K, V (32 keys × HS)
    public static func dqBytes(HS: Int) -> Int {
        tileBytes(rows: 2 * blockRows + 2 * 2 * backwardTile, columns: HS)
    }

    /// Whether the tensor-core kernels run head size `HS` on a device: bf16 mma.sync needs sm_80, the head
    /// size must be one with kernels of its own, and every kernel's dynamic shared memory must fit the device
    /// (`fitsDynamicSharedMemory`; the kernels have no static shared memory). Head size 64, GPT-2's: 45, 37 and
    /// 36 KiB; 128: 85, 68 and 68 KiB; an RTX 4070 allows 99 KiB, an H100 227 KiB.
    public static func supports(HS: Int, on properties: CUDADeviceProperties) -> Bool {
        properties.computeCapability.major >= 8 && headSizes.contains(HS)
            && properties.fitsDynamicSharedMemory(max(forwardBytes(HS: HS), dkvBytes(HS: HS), dqBytes(HS: HS)))
    }
}

extension CUDABackend {
    /// Which kernels carry out each fusion that can be switched off, for a model of head size `headSize`, as it
    /// stands now (a fusion cuBLASLt refused falls back for good): `attention` tensor-cores or cuda-cores; `bias`,
    /// `gelu` and `bias_gradient` epilogue (cuBLASLt's, fused into the GEMM) or kernels (the GELU's forward
    /// epilogue also adds the bias, so with the bias kernel the GELU forward is a kernel too).
    public func fusions(headSize: Int) -> KeyValuePairs<String, String> {
        func fused(_ separate: Bool) -> String { separate ? "kernels" : "epilogue" }
        let gelu = separateGeluKernels ? "kernels" : separateBiasKernel ? "kernel forward, epilogue backward" : "epilogue"
        return ["attention": usesTensorCoreAttention(HS: headSize) ? AttentionKernels.tensorCores.rawValue : AttentionKernels.cudaCores.rawValue,
                "bias": fused(separateBiasKernel), "gelu": gelu, "bias_gradient": fused(separateBiasGradientKernels)]
    }

    /// Whether this call's head size runs on the tensor-core kernels.
    func usesTensorCoreAttention(HS: Int) -> Bool {
        attentionKernels == .tensorCores && TensorCoreAttention.supports(HS: HS, on: properties)
    }

    /// The work of an attention kernel that forms `products` T×T×HS products over the causal pairs (query, key ≤
    /// query) of every head, reading `reads` and writing `writes` (B,T,C) bf16 matrices, and one fp32 per row and head
    /// of each of `statistics` (B,NH,T) vectors: the forward forms 2 products (scores, then probabilities · V), dK/dV 4
    /// (scores and dP again, then dV and dK), dQ 3 (scores and dP again, then dQ).
    func attentionWork(products: Int, reads: Int, writes: Int, statistics: Int, B: Int, T: Int, C: Int, NH: Int) -> KernelWork {
        let causalPairs = Double(T) * Double(T + 1) / 2
        return KernelWork(flops: Double(products) * 2 * causalPairs * Double(C) * Double(B),
                          bytes: Double(2 * (reads + writes) * B * T * C + 4 * statistics * B * NH * T))
    }

    /// out (B,T,C) bf16, stats (B,NH,T) fp32 from qkv (B,T,3C) bf16
    public func attentionForward(out: TensorRef, stats: TensorRef, qkv: TensorRef, B: Int, T: Int, C: Int, NH: Int) {
        precondition(C % NH == 0 && C / NH <= 128, "attention: head size \(C)/\(NH) must be a whole number ≤ 128")
        let arguments: [KernelArgument] = [.pointer(bf16(out)), .pointer(f32(stats)), .pointer(bf16(qkv)), .int(B), .int(T), .int(C), .int(NH)]
        // reads q, k, v; writes out and the log-sum-exp
        let work = attentionWork(products: 2, reads: 3, writes: 1, statistics: 1, B: B, T: T, C: C, NH: NH)
        if usesTensorCoreAttention(HS: C / NH) {
            // grid (ceil(T/64), NH, B), block 128: 4 warps × 16 query rows
            let rowBlocks = ceilDiv(T, TensorCoreAttention.blockRows)
            launch(TensorCoreAttention.forwardKernel(HS: C / NH), grid: Dim3(rowBlocks, NH, B), block: Dim3(128),
                   sharedBytes: TensorCoreAttention.forwardBytes(HS: C / NH), work: work, arguments)
        } else {
            // grid (ceil(T/16), NH, B), block 128: 4 warps × 4 query rows
            launch("attention_forward", grid: Dim3(ceilDiv(T, 16), NH, B), block: Dim3(128), work: work, arguments)
        }
    }

    /// out (C) bf16 = attention of row t over rows 0...t of one sequence's qkv (T,3C)
    public func attentionForwardRow(out: TensorRef, qkv: TensorRef, t: Int, C: Int, NH: Int) {
        precondition(qkv.count >= (t + 1) * 3 * C && out.count >= C, "attention row outside its tensors")
        let sharedBytes = (t + 1) * 4
        precondition(properties.fitsDynamicSharedMemory(sharedBytes),
                     "attentionForwardRow: position \(t) needs \(sharedBytes) bytes of shared memory, more than the device allows")
        // grid NH, block 32 (one warp per head), dynamic shared memory (t+1) floats
        launch("attention_forward_row", grid: Dim3(NH), block: Dim3(32), sharedBytes: sharedBytes,
               [.pointer(bf16(out)), .pointer(bf16(qkv)), .int(t), .int(C), .int(NH)])
    }

    /// dqkv (B,T,3C) bf16 = the gradient through attention of dout (B,T,C) bf16, recomputing the weights from qkv (B,T,3C)
    /// bf16 and stats (B,NH,T) fp32; out (B,T,C) bf16 gives delta = Σ dout·out per row and head
    public func attentionBackward(dqkv: TensorRef, dout: TensorRef, qkv: TensorRef, out: TensorRef, stats: TensorRef,
                                  B: Int, T: Int, C: Int, NH: Int) {
        precondition(C % NH == 0 && C / NH <= 128, "attention: head size \(C)/\(NH) must be a whole number ≤ 128")
        precondition(B * NH * T <= (scratch.sizes.map { $0.floatCount - $0.deltaOffset } ?? 0), "attention delta exceeds its scratch")
        // delta (B,NH,T) = Σ dout·out per head: grid ceil(B*T*NH/8), block 256 (one warp per (b,t,h))
        launch("attention_backward_preprocess", grid: Dim3(ceilDiv(B * T * NH, 8)), block: Dim3(256),
               work: attentionWork(products: 0, reads: 2, writes: 0, statistics: 1, B: B, T: T, C: C, NH: NH),
               [.pointer(scratch.delta), .pointer(bf16(dout)), .pointer(bf16(out)), .int(B), .int(T), .int(C), .int(NH)])
        let arguments: [KernelArgument] = [.pointer(bf16(dqkv)), .pointer(bf16(dout)), .pointer(bf16(qkv)), .pointer(f32(stats)),
                                           .pointer(scratch.delta), .int(B), .int(T), .int(C), .int(NH)]
        let HS = C / NH
        // dK, dV read q, k, v, dO and the statistics and delta, and write dK, dV; dQ reads the same and writes dQ
        let dkvWork = attentionWork(products: 4, reads: 4, writes: 2, statistics: 2, B: B, T: T, C: C, NH: NH)
        let dqWork = attentionWork(products: 3, reads: 4, writes: 1, statistics: 2, B: B, T: T, C: C, NH: NH)
        if usesTensorCoreAttention(HS: HS) {
            // dK, dV: grid (ceil(T/64), NH, B), block 128 (4 warps × 16 keys); dQ: the same, 4 warps × 16 queries
            let rowBlocks = ceilDiv(T, TensorCoreAttention.blockRows)
            launch(TensorCoreAttention.dkvKernel(HS: HS), grid: Dim3(rowBlocks, NH, B), block: Dim3(128),
                   sharedBytes: TensorCoreAttention.dkvBytes(HS: HS), work: dkvWork, arguments)
            launch(TensorCoreAttention.dqKernel(HS: HS), grid: Dim3(rowBlocks, NH, B), block: Dim3(128),
                   sharedBytes: TensorCoreAttention.dqBytes(HS: HS), work: dqWork, arguments)
        } else {
            // dK, dV: grid (ceil(T/8), NH, B), block 128 (4 warps × 2 keys)
            launch("attention_backward_dkv", grid: Dim3(ceilDiv(T, 8), NH, B), block: Dim3(128), work: dkvWork, arguments)
            // dQ: grid (ceil(T/8), NH, B), block 128 (4 warps × 2 query rows)
            launch("attention_backward_dq", grid: Dim3(ceilDiv(T, 8), NH, B), block: Dim3(128), work: dqWork, arguments)
        }
    }
}
