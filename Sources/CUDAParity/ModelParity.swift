/// Whole-model parity of the CUDA backend against the CPU reference: one forward/backward/AdamW step of a
/// tiny GPT-2 from identical fp32 weights, 50 training steps on tinyshakespeare, an exact GPU resume,
/// recompute, and checkpoints moved between the CPU and the GPU.

import CPUBackend
import CUDABackend
import GPT2

extension CUDAParity {
    /// L=2, C=128, NH=4, V=1000, B=4, T=64, identical fp32 master weights: the loss, each gradient tensor,
    /// the gradient norm, and the loss after one AdamW step. The classifier runs in chunks of 96 of the 256 rows
    /// (96, 96, 64) on both backends, so the lm head's chunked backward is checked too.
    public static func model(cpu: CPUBackend, gpu: CUDABackend, log: @escaping (String) -> Void = { _ in }) throws -> [ParityResult] {
        let results = ResultLog(log: log)
        let config = ModelConfig(maxSequenceLength: 64, vocabularySize: 1000, layers: 2, heads: 4, channels: 128)
        let (B, T) = (4, 64)
        let twins = try TwinModels(config: config, cpu: cpu, gpu: gpu, B: B, T: T, classifierChunkRows: 96)
        twins.cpu.initializeParameters(seed: 7)
        twins.gpu.setParameters(twins.cpu.parameters())
        let inputs = (0..<(B * T)).map { _ in Int32(twins.random.nextInt(below: config.vocabularySize)) }
        let targets = (0..<(B * T)).map { _ in Int32(twins.random.nextInt(below: config.vocabularySize)) }
        let scale = 1 / Float(B * T)
        // Loss ≈ ln V ≈ 6.9; bf16 activations perturb the logits by ~u of their (small, ~0.02·√C) size, so the
        // mean loss moves by far less than 1e-2: that bound is loose on purpose and still catches any real bug.
        twins.cpu.zeroGradients()
        twins.gpu.zeroGradients()
        let cpuLoss = twins.cpu.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, lossScale: scale)!
        let gpuLoss = twins.gpu.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, lossScale: scale)!
        results.expect("model loss", abs(cpuLoss - gpuLoss) <= 1e-2, "cpu \(cpuLoss) gpu \(gpuLoss) |Δ| ≤ 1e-2")
        twins.cpu.backward(batchSize: B, sequenceLength: T)
        twins.gpu.backward(batchSize: B, sequenceLength: T)
        // Each gradient went through ~10–20 bf16 roundings of activations and activation gradients per layer;
        // independent errors of ≤ u each add in quadrature to ~√20·u ≈ 1.7 %: allow 5 %.
        for kind in ParameterKind.allCases {
            let tensor = twins.layout.parameter(kind, in: .gradients)
            results.expect("model gradient \(kind)", twins.compare(tensor), relativeL2: 0.05)
        }
        let hyper = AdamWHyperparameters(learningRate: 1e-3, weightDecay: 0.1)
        let before = twins.cpu.parameters(), gradients = twins.cpu.download(twins.layout.whole(.gradients))
        let cpuNorm = twins.cpu.optimizerStep(hyperparameters: hyper, step: 1, clipNorm: 1)
        let gpuNorm = twins.gpu.optimizerStep(hyperparameters: hyper, step: 1, clipNorm: 1)
        results.expect("model gradient norm", abs(cpuNorm - gpuNorm) <= 0.05 * cpuNorm, "cpu \(cpuNorm) gpu \(gpuNorm) within 5 %")
        // Every tensor moved as on the CPU: the size of each tensor's update agrees within 10 %, over the weights
        // whose gradient stands out of the noise (above 1e-3 of the tensor's largest). On the first step Adam moves
        // each weight by ≈ lr·g/(|g| + ε), so a gradient that is zero but for rounding (the key bias: softmax ignores
        // a shift shared by every key) moves by up to lr on one side and less on the other, depending only on the
        // noise's size. For the same reason this step cannot see the clip (its factor cancels in g/|g|), nor the weight
        // decay (lr·0.1·|w|, inside the 10 %): `ops`' optimizer-step check covers both, at step 5.
        let (cpuAfterStep, gpuAfterStep) = (twins.cpu.parameters(), twins.gpu.parameters())
        for kind in ParameterKind.allCases {
            let window = twins.layout.parameter(kind)
            let range = window.offset..<(window.offset + window.count)
            let largest = range.map { abs(gradients[$0]) }.max() ?? 0
            let clear = range.filter { abs(gradients[$0]) > 1e-3 * largest }
            func updateNorm(_ after: [Float]) -> Double {
                var sum = 0.0
                for i in clear {
                    let delta = Double(after[i]) - Double(before[i])
                    sum += delta * delta
                }
                return sum.squareRoot()
            }
            let (cpuUpdate, gpuUpdate) = (updateNorm(cpuAfterStep), updateNorm(gpuAfterStep))
            results.expect("model AdamW update \(kind)", cpuUpdate > 0 && abs(gpuUpdate - cpuUpdate) <= 0.1 * cpuUpdate,
                           "‖Δ‖ cpu \(scientific(cpuUpdate)) gpu \(scientific(gpuUpdate)) within 10 %")
        }
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
            gradientAccumulation: 1,
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
    /// cuBLASLt uses one cached algorithm per shape, so nothing excuses a difference. Then `--recompute`
    /// (GELU and LayerNorm outputs recomputed in the backward by the same kernels) must not change a bit
    /// against a run that also computes the GELU with its kernel rather than in the GEMM's epilogue. And
    /// checkpoints must move between devices: a CPU checkpoint resumed on the GPU and a GPU checkpoint
    /// resumed on the CPU both continue an uninterrupted CPU run (within the training check's bf16 drift).
    public static func resume(dataDirectory: String, workDirectory: String, cpu: CPUBackend, gpu: CUDABackend,
                              log: @escaping (String) -> Void = { _ in }) throws -> [ParityResult] {
        let results = ResultLog(log: log)
        let (steps, stop) = (20, 10)
        func options(_ name: String, recompute: Bool = false) -> TrainingOptions {
            var options = trainingOptions(dataDirectory: dataDirectory, outDirectory: workDirectory + "/" + name, steps: steps)
            options.recompute = recompute
            return options
        }
        func checkpoint(_ name: String) -> String { options(name).outDirectory + "/" + Checkpoint.folderName(step: stop) }
        func describe(_ a: [Float], _ b: [Float]) -> (identical: Bool, text: String) {
            let mismatches = zip(a, b).enumerated().filter { $0.element.0 != $0.element.1 }
            return mismatches.isEmpty && a.count == b.count
                ? (true, "\(a.count) losses bit-identical")
                : (false, mismatches.first.map { "first mismatch at step \($0.offset + 1): \($0.element.0) vs \($0.element.1)" }
                    ?? "\(a.count) vs \(b.count) losses")
        }

        let straight = try Trainer(options: options("straight"), backend: gpu).run()
        let first = try Trainer(options: options("interrupted"), backend: gpu).run(stopAfter: stop)
        let resumed = try Trainer(resuming: checkpoint("interrupted"), backend: gpu).run()
        let exact = describe(straight, first + resumed)
        results.expect("resume on the GPU is exact", exact.identical, exact.text)

        // --recompute rebuilds the GELU output with gelu.cu from the stored input, so its forward computes it that
        // way too rather than in the GEMM epilogue (which takes the GELU of the unrounded product): compare it
        // with a plain run that also uses the GELU kernels.
        let plain: [Float], recomputed: [Float]
        do {
            let saved = gpu.separateGeluKernels
            defer { gpu.separateGeluKernels = saved }   // restored for the checks below, and when a run throws
            gpu.separateGeluKernels = true
            plain = try Trainer(options: options("plain-gelu"), backend: gpu).run(stopAfter: stop)
            recomputed = try Trainer(options: options("recompute", recompute: true), backend: gpu).run(stopAfter: stop)
        }
        let same = describe(plain, recomputed)
        results.expect("--recompute on the GPU changes nothing", same.identical, same.text)

        let cpuStraight = try Trainer(options: options("cpu-straight"), backend: cpu).run()
        _ = try Trainer(options: options("cpu-first"), backend: cpu).run(stopAfter: stop)
        let gpuAfterCPU = try Trainer(resuming: checkpoint("cpu-first"), backend: gpu).run()
        // from step 10 again, beside the GPU's own continuation (ckpt_20), which it replaces
        let cpuAfterGPU = try Trainer(resuming: checkpoint("interrupted"), backend: cpu, replacingLaterSteps: true).run()
        let reference = Array(cpuStraight.suffix(steps - stop))
        for (label, losses) in [("a CPU checkpoint resumes on the GPU", gpuAfterCPU), ("a GPU checkpoint resumes on the CPU", cpuAfterGPU)] {
            let differences = zip(reference, losses).map { abs(Double($0) - Double($1)) }
            let mean = differences.reduce(0, +) / Double(max(1, differences.count))
            results.expect(label, losses.count == steps - stop && mean < 0.1,
                           "steps \(stop + 1)–\(steps): mean |Δloss| \(formatFixed(mean, digits: 4)) < 0.1 against an uninterrupted CPU run")
        }
        return results.results
    }
}
