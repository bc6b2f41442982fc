/// Whole-model parity of the CUDA backend against the CPU reference: one forward/backward/AdamW step of a
/// tiny GPT-2 from identical fp32 weights, 50 training steps on tinyshakespeare, and an exact GPU resume.

import CPUBackend
import CUDABackend
import GPT2

extension CUDAParity {
    /// L=2, C=128, NH=4, V=1000, B=4, T=64, identical fp32 master weights: the loss, each gradient tensor,
    /// the gradient norm, and the loss after one AdamW step.
    public static func model(cpu: CPUBackend, gpu: CUDABackend, log: @escaping (String) -> Void = { _ in }) throws -> [ParityResult] {
        let results = ResultLog(log: log)
        let config = ModelConfig(maxSequenceLength: 64, vocabularySize: 1000, layers: 2, heads: 4, channels: 128)
        let (B, T) = (4, 64)
        let twins = try TwinModels(config: config, cpu: cpu, gpu: gpu, B: B, T: T)
        twins.cpu.initializeParameters(seed: 7)
        twins.gpu.setParameters(twins.cpu.parameters())
        let inputs = (0..<(B * T)).map { _ in Int32(twins.random.nextInt(below: config.vocabularySize)) }
        let targets = (0..<(B * T)).map { _ in Int32(twins.random.nextInt(below: config.vocabularySize)) }
        let scale = 1 / Float(B * T)
        // Loss ≈ ln V ≈ 6.9; bf16 activations perturb the logits by ~u of their (small, ~0.02·√C) size, so the
        // mean loss moves by far less than 1e-2: that bound is loose on purpose and still catches any real bug.
        let cpuLoss = twins.cpu.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, lossScale: scale)!
        let gpuLoss = twins.gpu.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, lossScale: scale)!
        results.expect("model loss", abs(cpuLoss - gpuLoss) <= 1e-2, "cpu \(cpuLoss) gpu \(gpuLoss) |Δ| ≤ 1e-2")
        twins.cpu.zeroGradients()
        twins.gpu.zeroGradients()
        twins.cpu.backward(batchSize: B, sequenceLength: T)
        twins.gpu.backward(batchSize: B, sequenceLength: T)
        // Each gradient went through ~10–20 bf16 roundings of activations and activation gradients per layer;
        // independent errors of ≤ u each add in quadrature to ~√20·u ≈ 1.7 %: allow 5 %.
        for kind in ParameterKind.allCases {
            let tensor = twins.layout.parameter(kind, in: .gradients)
            results.expect("model gradient \(kind)", twins.compare(tensor), relativeL2: 0.05)
        }
        let hyper = AdamWHyperparameters(learningRate: 1e-3)
        let cpuNorm = twins.cpu.optimizerStep(hyper: hyper, step: 1, clipNorm: 1)
        let gpuNorm = twins.gpu.optimizerStep(hyper: hyper, step: 1, clipNorm: 1)
        results.expect("model gradient norm", abs(cpuNorm - gpuNorm) <= 0.05 * cpuNorm, "cpu \(cpuNorm) gpu \(gpuNorm) within 5 %")
        let cpuAfter = twins.cpu.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)!
        let gpuAfter = twins.gpu.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)!
        results.expect("model loss after one AdamW step", abs(cpuAfter - gpuAfter) <= 1e-2 && gpuAfter < gpuLoss,
                       "cpu \(cpuAfter) gpu \(gpuAfter) |Δ| ≤ 1e-2, and below the first loss \(gpuLoss)")
        return results.results
    }

    /// The options of the training checks: a 2-layer C=128 model on the shards in `dataDirectory`, B=4, T=64.
    static func trainingOptions(dataDirectory: String, outDirectory: String, steps: Int) -> TrainingOptions {
        let config = ModelConfig(maxSequenceLength: 64, layers: 2, heads: 4, channels: 128)
        return TrainingOptions(
            dataDirectory: dataDirectory, model: config, modelName: "parity", microBatch: 4, sequenceLength: 64,
            gradientAccumulation: 1, steps: steps,
            schedule: LearningRateSchedule(shape: .cosine, maxLearningRate: 1e-3, minFraction: 0.1, warmupSteps: 5, totalSteps: steps),
            seed: 1337, outDirectory: outDirectory, peakFLOPs: 1e12)
    }

    /// 50 steps on the CPU and on the GPU from the same seed: the GPU's loss curve must track the CPU's.
    /// Losses fall from ~10.8 to ~6–7; the GPU's per-step loss differs by its bf16 forward error (~1e-2) plus
    /// the drift of two trajectories whose updates disagree only where gradients are within bf16 noise of
    /// zero (Adam moves those weights by ≤ lr per step). A mean |Δ| of 0.1 allows that drift; a wrong
    /// gradient anywhere costs several tenths within 50 steps.
    public static func training(dataDirectory: String, workDirectory: String, cpu: CPUBackend, gpu: CUDABackend,
                                log: @escaping (String) -> Void = { _ in }) throws -> [ParityResult] {
        let results = ResultLog(log: log)
        let steps = 50
        let cpuLosses = try Trainer(options: trainingOptions(dataDirectory: dataDirectory, outDirectory: workDirectory + "/cpu", steps: steps),
                                    backend: cpu).run()
        let gpuLosses = try Trainer(options: trainingOptions(dataDirectory: dataDirectory, outDirectory: workDirectory + "/gpu", steps: steps),
                                    backend: gpu).run()
        let differences = zip(cpuLosses, gpuLosses).map { abs(Double($0) - Double($1)) }
        let mean = differences.reduce(0, +) / Double(max(1, differences.count))
        results.expect("training \(steps) steps tracks the CPU", cpuLosses.count == steps && gpuLosses.count == steps && mean < 0.1,
                       "mean |Δloss| \(formatFixed(mean, digits: 4)) < 0.1; max \(formatFixed(differences.max() ?? 0, digits: 4)); "
                        + "cpu \(formatFixed(Double(cpuLosses.first ?? 0), digits: 3))→\(formatFixed(Double(cpuLosses.last ?? 0), digits: 3)) "
                        + "gpu \(formatFixed(Double(gpuLosses.first ?? 0), digits: 3))→\(formatFixed(Double(gpuLosses.last ?? 0), digits: 3))")
        return results.results
    }

    /// 20 steps straight through, against 10 steps, a checkpoint, and a resumed run to 20, on the GPU: the
    /// last 10 losses must be bit-identical. Every kernel is deterministic (no floating-point atomics) and
    /// cuBLASLt uses one cached algorithm per shape, so nothing excuses a difference.
    public static func resume(dataDirectory: String, workDirectory: String, gpu: CUDABackend,
                              log: @escaping (String) -> Void = { _ in }) throws -> [ParityResult] {
        let results = ResultLog(log: log)
        let (steps, stop) = (20, 10)
        let straight = try Trainer(options: trainingOptions(dataDirectory: dataDirectory, outDirectory: workDirectory + "/straight", steps: steps),
                                   backend: gpu).run()
        let interruptedOptions = trainingOptions(dataDirectory: dataDirectory, outDirectory: workDirectory + "/interrupted", steps: steps)
        let first = try Trainer(options: interruptedOptions, backend: gpu).run(stopAfter: stop)
        let folder = interruptedOptions.outDirectory + "/" + Checkpoint.folderName(step: stop)
        let resumed = try Trainer(resuming: folder, backend: gpu).run()
        let joined = first + resumed
        let mismatches = zip(straight, joined).enumerated().filter { $0.element.0 != $0.element.1 }
        let detail = mismatches.isEmpty ? "\(joined.count) losses bit-identical"
            : "first mismatch at step \(mismatches[0].offset + 1): \(mismatches[0].element.0) vs \(mismatches[0].element.1)"
        results.expect("resume on the GPU is exact", joined.count == steps && mismatches.isEmpty, detail)
        return results.results
    }
}
