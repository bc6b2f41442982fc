/// The plan `gpt2 train` checks before it starts: the memory verdict it prints for every run, and the
/// refusal (with advice) before allocating a config that cannot fit, on a GPU or in the CPU's memory (where
/// the alternative is the kernel's out-of-memory killer, which ends the process without a word).

public enum TrainingPlanCheck {
    /// The memory plan of a training run's options on `device`.
    public static func plan(_ options: TrainingOptions, device: PlanDevice) -> MemoryPlan {
        MemoryPlan(config: options.model, batchSize: options.microBatch, sequenceLength: options.sequenceLength,
                   recompute: options.recompute, device: device)
    }

    /// Before a run: the plan, or a `ConfigError` saying how far short it falls and what to change
    /// (a micro-batch that fits and the accumulation that keeps the step's tokens, `--micro-batch auto`, `--recompute`).
    @discardableResult
    public static func requireFits(_ options: TrainingOptions, device: PlanDevice) throws -> MemoryPlan {
        let memory = plan(options, device: device)
        try memory.requireFits(sequencesPerStep: sequencesPerStep(options))
        return memory
    }

    private static func sequencesPerStep(_ options: TrainingOptions) -> Int {
        options.microBatch * options.gradientAccumulation
    }

    /// Before a resume, which keeps the run's micro-batch: the plan, or a `ConfigError` saying where it can go on.
    @discardableResult
    public static func requireFits(resuming run: SavedRun, device: PlanDevice) throws -> MemoryPlan {
        let options = run.options
        let memory = plan(options, device: device)
        guard memory.fits else {
            let step = sequencesPerStep(options)
            let largest = MemoryPlan.largestMicroBatch(config: options.model, sequenceLength: options.sequenceLength,
                                                       recompute: options.recompute, device: device, dividing: step)
            // (no micro-batch fits when the device's fixed costs fill it: then there is no new run to offer either)
            let newRun = largest == 0 ? "" : ", or go on from its weights in a new run: gpt2 train --init-from \(run.folder) "
                + "--data \(options.dataDirectory) --seq \(options.sequenceLength) --micro-batch \(largest) --grad-accum \(step / largest)"
                + (options.recompute ? " --recompute" : "") + " --out NEW_FOLDER, with the run's other options (the same tokens per step)"
            let freeOthers = memory.memoryInUseAtOpenText.map { "\($0): free what other programs hold, or " } ?? ""
            throw ConfigError("\(run.folder) trains micro-batches of \(options.microBatch) × seq \(options.sequenceLength), which \(memory.verdict); "
                              + freeOthers + "resume it where it fits" + newRun)
        }
        return memory
    }
}
