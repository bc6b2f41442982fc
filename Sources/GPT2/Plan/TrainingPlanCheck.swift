/// The plan `gpt2 train` checks before it starts: the memory verdict it prints for every run, and the
/// refusal (with advice) the CUDA backend's wiring calls before allocating a config that cannot fit.

public enum TrainingPlanCheck {
    /// The memory plan of a training run's options on `device`.
    public static func plan(_ options: TrainingOptions, device: PlanDevice) -> MemoryPlan {
        MemoryPlan(config: options.model, batchSize: options.microBatch, sequenceLength: options.sequenceLength,
                   recompute: options.recompute, device: device)
    }

    /// Before a GPU run: the plan, or a `ConfigError` saying how far short it falls and what to change
    /// (a micro-batch that fits, `--micro-batch auto`, `--recompute`).
    @discardableResult
    public static func requireFits(_ options: TrainingOptions, device: PlanDevice) throws -> MemoryPlan {
        let memory = plan(options, device: device)
        try memory.requireFits()
        return memory
    }
}
