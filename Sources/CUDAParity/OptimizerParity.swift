/// Optimizer parity of the CUDA backend against the CPU reference: AdamW per tensor, the whole clipped step over every
/// parameter, and a step over tensors with gaps between them.

import CPUBackend
import CUDABackend
import GPT2

extension CUDAParity {
    /// Gradient norm² and AdamW (decayed matrix and undecayed vector), bf16 copy refreshed.
    static func checkOptimizer(_ twins: TwinModels, _ results: ResultLog) {
        let layout = twins.layout
        let gradients = layout.whole(.gradients)
        twins.fillRandom(gradients, std: 0.01)
        let cpuNorm = twins.cpu.backend.sumOfSquares(gradients), gpuNorm = twins.gpu.backend.sumOfSquares(gradients)
        let normError = abs(gpuNorm - cpuNorm) / cpuNorm
        results.expect("sumOfSquares", normError <= Tolerance.fp32Reordered, "rel \(scientific(normError)) ≤ \(scientific(Tolerance.fp32Reordered))")
        twins.fillRandom(layout.whole(.parameters), std: 0.5)
        twins.fillRandom(layout.whole(.adamM), std: 0.01)
        twins.fill(layout.whole(.adamV), (0..<layout.whole(.adamV).count).map { _ in Float(twins.random.nextUniform()) * 1e-4 })
        let hyper = AdamWHyperparameters(learningRate: 1e-2, weightDecay: 0.1)
        for kind in [ParameterKind.qkvw, .ln1w] {
            var tensorHyper = hyper
            if !kind.isDecayed { tensorHyper.weightDecay = 0 }
            twins.run { $0.adamWUpdate(params: layout.parameter(kind), grads: twins.gradient(kind), m: layout.parameter(kind, in: .adamM),
                                       v: layout.parameter(kind, in: .adamV), step: 3, hyperparameters: tensorHyper, gradScale: 0.7) }
            results.expect("adamw \(kind) params", twins.compare(layout.parameter(kind)), relativeL2: 1e-6)
            results.expect("adamw \(kind) m", twins.compare(layout.parameter(kind, in: .adamM)), relativeL2: 1e-6)
            results.expect("adamw \(kind) v", twins.compare(layout.parameter(kind, in: .adamV)), relativeL2: 1e-6)
            let master = twins.gpu.download(layout.parameter(kind))
            let copy = twins.gpu.download(TensorRef(buffer: .parameterCopy, offset: layout.parameter(kind).offset,
                                                    count: layout.parameter(kind).count))
            let mismatches = zip(master, copy).filter { BFloat16Bits(rounding: $0.0).float != $0.1 }.count
            results.expect("adamw \(kind) bf16 copy = bf16(master)", mismatches == 0, "\(mismatches) mismatches")
        }
    }

    /// The whole optimizer step as training runs it (`optimizerStep`: on the GPU the norm and one AdamW launch for every
    /// tensor, clipping on the device), at step 5 from moments of earlier steps, with clipping active (the clip is half
    /// the gradient norm, so every gradient is halved) and a weight decay of 0.5 on the matrices (none on biases and
    /// norms), large enough to see: it moves a decayed weight by lr·0.5 = 5e-3 of itself. Inputs are identical fp32, so
    /// the two differ only where the clip factors do (the norm summed in another order: ≲ 1e-7 relative, see
    /// `Tolerance.fp32Reordered`) and by the formulas' last bits (the GPU divides by 1 − βᵗ where the CPU multiplies by
    /// its inverse): a few ulp of m, v and the update, so relative L2 ≤ 1e-6, as for `adamWUpdate` above. Ignoring the
    /// clip would move m by (1 − β1)·|g|/2, ~10 % of it here, and v by more; ignoring the decay would move the matrices
    /// by 5e-3 of themselves: both thousands of times the tolerance.
    static func checkOptimizerStep(_ twins: TwinModels, _ results: ResultLog) {
        let layout = twins.layout
        let (parameters, gradients) = (layout.whole(.parameters), layout.whole(.gradients))
        let (m, v) = (layout.whole(.adamM), layout.whole(.adamV))
        let values = twins.fillRandom(gradients, std: 0.01)
        twins.fillRandom(parameters, std: 0.5)
        twins.fillRandom(m, std: 0.005)
        twins.fill(v, (0..<v.count).map { _ in 1e-6 + Float(twins.random.nextUniform()) * 1e-4 })
        let norm = Float(values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        let hyper = AdamWHyperparameters(learningRate: 1e-2, weightDecay: 0.5)
        let cpuNorm = twins.cpu.optimizerStep(hyperparameters: hyper, step: 5, clipNorm: norm / 2)
        let gpuNorm = twins.gpu.optimizerStep(hyperparameters: hyper, step: 5, clipNorm: norm / 2)
        let normError = Double(abs(gpuNorm - cpuNorm) / cpuNorm)
        results.expect("optimizer step norm (before clipping)", normError <= Tolerance.fp32Reordered,
                       "cpu \(cpuNorm) gpu \(gpuNorm): rel \(scientific(normError)) ≤ \(scientific(Tolerance.fp32Reordered))")
        results.expect("optimizer step params (clipped to half, decay 0.5)", twins.compare(parameters), relativeL2: 1e-6)
        results.expect("optimizer step m", twins.compare(m), relativeL2: 1e-6)
        results.expect("optimizer step v", twins.compare(v), relativeL2: 1e-6)
        let master = twins.gpu.download(parameters)
        let copy = twins.gpu.download(TensorRef(buffer: .parameterCopy, offset: 0, count: parameters.count))
        let mismatches = zip(master, copy).filter { BFloat16Bits(rounding: $0.0).float != $0.1 }.count
        results.expect("optimizer step bf16 copy = bf16(master)", mismatches == 0, "\(mismatches) mismatches")
    }

    /// The optimizer step over tensors that leave gaps between them in the gradients (two of the layer's matrices, not
    /// the tensors between them), with clipping active: the GPU's norm must cover those tensors only (it takes the
    /// per-tensor path). Then the whole step again, on the AdamW table `checkOptimizerStep` uploaded, which the tables of
    /// single tensors uploaded since must have left as it was. Tolerances as in `checkOptimizerStep`.
    static func checkOptimizerStepOverOtherTensors(_ twins: TwinModels, _ results: ResultLog) {
        let layout = twins.layout
        let (parameters, m, v) = (layout.whole(.parameters), layout.whole(.adamM), layout.whole(.adamV))
        let hyper = AdamWHyperparameters(learningRate: 1e-2, weightDecay: 0.5)
        let subset = [ParameterKind.qkvw, .fcw].map { OptimizerTensor(window: layout.parameter($0), weightDecay: hyper.weightDecay) }
        let gradients = twins.fillRandom(layout.whole(.gradients), std: 0.01)
        let squares = subset.flatMap { gradients[$0.window.offset..<($0.window.offset + $0.window.count)] }
            .reduce(0.0) { $0 + Double($1) * Double($1) }
        let norm = Float(squares.squareRoot())
        let cpuNorm = twins.cpu.backend.optimizerStep(tensors: subset, hyperparameters: hyper, step: 6, clipNorm: norm / 2)
        let gpuNorm = twins.gpu.backend.optimizerStep(tensors: subset, hyperparameters: hyper, step: 6, clipNorm: norm / 2)
        let normError = Double(abs(gpuNorm - cpuNorm) / cpuNorm)
        results.expect("optimizer step over qkvw and fcw: norm", normError <= Tolerance.fp32Reordered,
                       "cpu \(cpuNorm) gpu \(gpuNorm): rel \(scientific(normError)) ≤ \(scientific(Tolerance.fp32Reordered))")
        results.expect("optimizer step over qkvw and fcw: params", twins.compare(parameters), relativeL2: 1e-6)
        twins.fillRandom(layout.whole(.gradients), std: 0.01)
        _ = twins.cpu.optimizerStep(hyperparameters: hyper, step: 7, clipNorm: 0)
        _ = twins.gpu.optimizerStep(hyperparameters: hyper, step: 7, clipNorm: 0)
        results.expect("optimizer step after single-tensor steps: params", twins.compare(parameters), relativeL2: 1e-6)
        results.expect("optimizer step after single-tensor steps: m", twins.compare(m), relativeL2: 1e-6)
        results.expect("optimizer step after single-tensor steps: v", twins.compare(v), relativeL2: 1e-6)
    }
}
