/// The machinery the parity checks share: one model layout allocated on the CPU reference and on the GPU,
/// filled with identical inputs, and the error measures (relative L2, max abs) between their outputs.

import CPUBackend
import CUDABackend
import GPT2

/// The outcome of one check: its name, whether it passed, and the errors measured against the tolerances.
public struct ParityResult: Sendable, CustomStringConvertible {
    public var name: String
    public var passed: Bool
    public var detail: String

    public init(name: String, passed: Bool, detail: String) {
        self.name = name
        self.passed = passed
        self.detail = detail
    }

    public var description: String { "\(passed ? "PASS" : "FAIL")  \(name)  \(detail)" }
}

/// Tolerances, from bf16's precision: 8 significant bits, so rounding to nearest moves a value by at most
/// u = 2⁻⁸ ≈ 0.39 % of itself, and a tensor whose every element was rounded once is within relative L2
/// error u of the exact one. The CPU computes in fp32 (error ~1e-7 relative, negligible here).
public enum Tolerance {
    public static let u = 1.0 / 256
    /// Outputs rounded to bf16 once from fp32 arithmetic on identical bf16 inputs: ≤ u, with a 2× margin
    /// for fp32 reassociation (different summation orders) feeding the rounding.
    public static let oneRounding = 2 * u
    /// Two roundings (a GEMM output rounded, then the bias added and rounded again; or attention's dQ/dK,
    /// whose sums over dS cancel — each dS row sums to zero — and so amplify reassociation): ≤ 2u, + margin.
    public static let twoRoundings = 3 * u
    /// fp32 results from identical inputs summed in another order (the GPU's partials against the CPU's loop), over
    /// n ≲ 10⁴ terms. Rounding to nearest makes each addition's error a ±2⁻²⁴ of the running sum that goes either
    /// way, so the errors add like a random walk: ≈ √n·2⁻²⁴ of the sum, 6e-6 at n = 10⁴ (the worst-case bound n·2⁻²⁴,
    /// 6e-4 there, needs every rounding to go the same way). Measured on the emulator, which sums in the GPU's order:
    /// at most 8.4e-7 (the LayerNorm backward's dweight over 4104 rows). 1e-4 is ~15× the estimate, and one term in
    /// 10⁴ missing or counted twice still fails it (≈ 1/√n = 1e-2 for terms of random sign).
    public static let fp32Reordered = 1e-4
    /// fp32 weight-gradient GEMMs, dW += doutᵀ·inp over k = B·T terms (128 in the op checks). The bf16 products are
    /// exact in fp32, so only the accumulation differs, and cuBLASLt's tensor cores may not round it to nearest:
    /// on V100 to A100 they truncate (Fasi, Higham, Mikaitis, Pranesh, "Numerical behavior of NVIDIA tensor cores",
    /// 2021), which makes the errors one-signed, ≈ Σⱼ 2⁻²⁴·|partial sumⱼ| ≈ (2/3)·k·2⁻²⁴ of the result for terms of
    /// random sign: 5e-6 at k = 128, 4e-5 at k = 1024. 1e-4 covers that with 20× to spare at the checks' k. (The
    /// emulator measures 0: its GEMMs run on OpenBLAS in the CPU backend's order. This was 1e-3, ~200× the estimate.)
    public static let fp32Accumulated = 1e-4
}

/// Error measures between a GPU result and the CPU reference.
public struct Comparison {
    public var relativeL2: Double
    public var maxAbsolute: Double
    public var referenceMaxAbsolute: Double

    public init(_ gpu: [Float], _ cpu: [Float]) {
        precondition(gpu.count == cpu.count, "comparing \(gpu.count) with \(cpu.count) values")
        var difference = 0.0, reference = 0.0, worst = 0.0, largest = 0.0
        for i in gpu.indices {
            let d = Double(gpu[i]) - Double(cpu[i])
            difference += d * d
            reference += Double(cpu[i]) * Double(cpu[i])
            worst = max(worst, abs(d).isNaN ? .infinity : abs(d))
            largest = max(largest, abs(Double(cpu[i])))
        }
        relativeL2 = difference.isNaN ? .infinity : difference.squareRoot() / max(reference.squareRoot(), 1e-30)
        maxAbsolute = worst
        referenceMaxAbsolute = largest
    }

    public var summary: String {
        "relL2 \(scientific(relativeL2)) maxAbs \(scientific(maxAbsolute)) (ref max \(scientific(referenceMaxAbsolute)))"
    }
}

func scientific(_ value: Double) -> String { formatScientific(value, digits: 2) }

/// One layout on both backends: `cpu` in fp32, `gpu` in mixed bf16. Inputs are written to both through
/// `fill`, rounded to bf16 first where the GPU stores bf16, so outputs differ only by the ops' arithmetic.
final class TwinModels {
    let cpu: GPT2Model<CPUBackend>
    let gpu: GPT2Model<CUDABackend>
    var random: SeededRandom
    var layout: Layout { cpu.layout }

    init(config: ModelConfig, cpu: CPUBackend, gpu: CUDABackend, B: Int, T: Int, classifierChunkRows: Int? = nil,
         seed: UInt64 = 42) throws {
        self.cpu = try GPT2Model(config: config, backend: cpu, batchSize: B, sequenceLength: T, classifierChunkRows: classifierChunkRows)
        self.gpu = try GPT2Model(config: config, backend: gpu, batchSize: B, sequenceLength: T, classifierChunkRows: classifierChunkRows)
        random = SeededRandom(seed: seed)
    }

    /// Whether the GPU reads `tensor` as bf16 (parameters are read through their bf16 copy).
    func gpuRoundsInputs(_ tensor: TensorRef) -> Bool {
        tensor.buffer == .parameters || gpu.layout.precision.dtype(of: tensor.buffer) == .bfloat16
    }

    /// Writes `values` into `tensor` on both backends (rounded to bf16 where the GPU reads bf16).
    func fill(_ tensor: TensorRef, _ values: [Float]) {
        let stored = gpuRoundsInputs(tensor) ? values.map { BFloat16Bits(rounding: $0).float } : values
        cpu.upload(stored, to: tensor)
        gpu.upload(stored, to: tensor)
    }

    /// Fills `tensor` with N(mean, std) values on both backends; returns them (as stored).
    @discardableResult
    func fillRandom(_ tensor: TensorRef, mean: Float = 0, std: Float = 1) -> [Float] {
        var values = [Float](repeating: 0, count: tensor.count)
        random.fillNormal(&values, mean: mean, std: std)
        fill(tensor, values)
        return gpuRoundsInputs(tensor) ? values.map { BFloat16Bits(rounding: $0).float } : values
    }

    /// Random token ids below `V` into `tensor` (a window of `.tokens`) on both backends; the last one is `last` when given.
    func fillTokens(_ tensor: TensorRef, below V: Int, last: Int? = nil) {
        var ids = (0..<tensor.count).map { _ in Int32(random.nextInt(below: V)) }
        if let last { ids[ids.count - 1] = Int32(last) }
        ids.withUnsafeBytes { cpu.backend.upload($0, to: tensor) }
        ids.withUnsafeBytes { gpu.backend.upload($0, to: tensor) }
    }

    /// Copies the CPU's values of `tensor` to the GPU (rounded to bf16 on the CPU side too when the GPU
    /// stores bf16), so a backward op starts from identical forward results.
    func shareCPUResult(_ tensor: TensorRef) {
        fill(tensor, cpu.download(tensor))
    }

    func compare(_ tensor: TensorRef) -> Comparison {
        Comparison(gpu.download(tensor), cpu.download(tensor))
    }

    /// Runs `body` on the CPU backend, then on the GPU's, after filling the GPU's `overwritten` tensors (what the op
    /// writes whole, with =) with NaN: an element the kernel fails to write, such as the last one of a tail, then
    /// compares as NaN (an infinite error) instead of as a stale value that one element in thousands hides in the L2 error.
    func run(overwriting overwritten: [TensorRef] = [], _ body: (any Backend) -> Void) {
        body(cpu.backend)
        for tensor in overwritten { gpu.upload([Float](repeating: .nan, count: tensor.count), to: tensor) }
        body(gpu.backend)
    }

    /// The gradient of parameter `kind`.
    func gradient(_ kind: ParameterKind) -> TensorRef { layout.parameter(kind, in: .gradients) }

    /// The layout and its B, T, C.
    var shape: (layout: Layout, B: Int, T: Int, C: Int) { (layout, layout.batchSize, layout.sequenceLength, layout.config.channels) }
}

/// Collects results; a check that crashes the GPU stops the process, so each result is also logged as it comes.
final class ResultLog {
    var results: [ParityResult] = []
    let log: (String) -> Void

    init(log: @escaping (String) -> Void) { self.log = log }

    /// Records `name` as passed when `comparison.relativeL2 ≤ tolerance`, or when every difference is at
    /// most `absoluteFloor` (for references that are exactly zero, where any rounding noise is "infinitely" relative).
    func expect(_ name: String, _ comparison: Comparison, relativeL2 tolerance: Double, absoluteFloor: Double = 0) {
        let passed = comparison.relativeL2 <= tolerance || comparison.maxAbsolute <= absoluteFloor
        let floor = absoluteFloor > 0 ? " or maxAbs ≤ \(scientific(absoluteFloor))" : ""
        record(ParityResult(name: name, passed: passed, detail: comparison.summary + " ≤ \(scientific(tolerance))" + floor))
    }

    func expect(_ name: String, _ passed: Bool, _ detail: String) {
        record(ParityResult(name: name, passed: passed, detail: detail))
    }

    func record(_ result: ParityResult) {
        results.append(result)
        log(result.description)
    }
}
