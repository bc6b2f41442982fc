/// Attention parity of the CUDA backend against the CPU reference: flash attention forward and backward over shapes
/// from one row to a full GPT-2 context and every head size, on either kernel family, and the decode step's row.

import CPUBackend
import CUDABackend
import GPT2

extension CUDAParity {
    /// The (T, HS) shapes the attention checks cover: T from one row to a full GPT-2 context, every head size. 17, 33 and
    /// 65 end in a tile of one row, which the tensor-core kernels' pipelines stage on its own: at 33 into a buffer that dq
    /// and dkv have not used before, at 65 one the forward has not, so that a tile left unstaged reads as NaN.
    public static let attentionShapes: [(T: Int, HS: Int)] =
        [1, 17, 33, 64, 65, 256, 1024].flatMap { T in [16, 32, 64, 128].map { (T, $0) } }

    /// The kernel family that runs head size `HS` on `gpu` when `kernels` is asked for: the CUDA-core kernels
    /// where the device or the head size rules the tensor-core ones out.
    public static func attentionKernels(_ kernels: AttentionKernels, HS: Int, on gpu: CUDABackend) -> AttentionKernels {
        kernels == .tensorCores && !TensorCoreAttention.supports(HS: HS, on: gpu.properties) ? .cudaCores : kernels
    }

    /// Flash attention forward (out, log-sum-exp) and backward (dqkv) for one (T, HS), B=2, NH=2, on one
    /// kernel family; the checks are named after the family that ran (see `attentionKernels(_:HS:on:)`).
    public static func attention(T: Int, HS: Int, kernels: AttentionKernels, cpu: CPUBackend, gpu: CUDABackend,
                                 log: @escaping (String) -> Void = { _ in }) throws -> [ParityResult] {
        let results = ResultLog(log: log)
        let chosen = gpu.attentionKernels
        gpu.attentionKernels = kernels
        defer { gpu.attentionKernels = chosen }
        let (B, NH) = (2, 2)
        let C = NH * HS
        let config = ModelConfig(maxSequenceLength: T, vocabularySize: 64, layers: 1, heads: NH, channels: C)
        let twins = try TwinModels(config: config, cpu: cpu, gpu: gpu, B: B, T: T, seed: UInt64(T * 1000 + HS))
        let layout = twins.layout
        let qkv = layout.activation(.qkv), out = layout.activation(.atty), stats = layout.activation(.attStats)
        let name = "attention \(attentionKernels(kernels, HS: HS, on: gpu).rawValue) T=\(T) HS=\(HS)"
        twins.fillRandom(qkv)
        twins.run(overwriting: [out, stats]) { $0.attentionForward(out: out, stats: stats, qkv: qkv, B: B, T: T, C: C, NH: NH) }
        results.expect("\(name) forward out", twins.compare(out), relativeL2: Tolerance.oneRounding)
        // The log-sum-exp, below 16 here (scores of unit q and k are ~N(0,1), plus ln T ≤ ln 1024), differs by its own
        // fp32 rounding (2⁻²⁰ ≈ 1e-6 below 16), by the approximate exponentials (__expf, ex2.approx: ~2⁻²² relative
        // error in the sum, so 2⁻²² in its log) and by the scores' accumulation over HS ≤ 128 exact bf16 products in
        // another order (≲ 5e-6 even if tensor cores truncate; see `Tolerance.fp32Accumulated`): ~1e-5 together.
        // Measured on the emulator: 9.5e-7 at most, one ulp, over every shape. 1e-4 keeps 10× over the estimate and
        // still fails a key masked wrongly, which moves its row's log-sum-exp by the key's weight (~1/T ≥ 1e-3).
        let lse = twins.compare(stats), lseTolerance = 1e-4
        results.expect("\(name) forward lse", lse.maxAbsolute <= lseTolerance,
                       "maxAbs \(scientific(lse.maxAbsolute)) ≤ \(scientific(lseTolerance))")
        // Backward from identical forward results: the CPU's out (rounded to bf16) and statistics.
        twins.shareCPUResult(out)
        twins.shareCPUResult(stats)
        let dout = layout.activationGradient(.atty), dqkv = layout.activationGradient(.qkv)
        twins.fillRandom(dout)
        twins.run(overwriting: [dqkv]) {
            $0.attentionBackward(dqkv: dqkv, dout: dout, qkv: qkv, out: out, stats: stats, B: B, T: T, C: C, NH: NH)
        }
        let gpuGrad = twins.gpu.download(dqkv), cpuGrad = twins.cpu.download(dqkv)
        for (part, label) in ["dq", "dk", "dv"].enumerated() {
            // One part of every row: elements [part·C, (part+1)·C) of each 3C-wide row.
            func select(_ values: [Float]) -> [Float] {
                var selected: [Float] = []
                for row in 0..<(B * T) {
                    let start = row * 3 * C + part * C
                    selected += values[start..<(start + C)]
                }
                return selected
            }
            // With T = 1, dS = p·(dout·v − dout·out) is exactly 0 on the CPU (out = v): allow fp32 noise there.
            results.expect("\(name) backward \(label)", Comparison(select(gpuGrad), select(cpuGrad)),
                           relativeL2: Tolerance.twoRoundings, absoluteFloor: 1e-5)
        }
        return results.results
    }

    /// Decode-step attention: row t of sequence 0 over rows 0...t.
    static func checkDecodeAttention(_ twins: TwinModels, _ results: ResultLog) {
        let (layout, _, T, C) = twins.shape
        let qkv = layout.activation(.qkv)
        twins.fillRandom(qkv)
        for t in [0, 5, T - 1] {
            let row = layout.activation(.atty).slice(t * C, C)
            twins.run(overwriting: [row]) { $0.attentionForwardRow(out: row, qkv: qkv, t: t, C: C, NH: layout.config.heads) }
            results.expect("attention row t=\(t)", twins.compare(row), relativeL2: Tolerance.oneRounding)
        }
    }
}
