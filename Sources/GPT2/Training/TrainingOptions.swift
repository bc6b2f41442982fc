/// Everything that defines a training run, resolved from the command line, printed at start and
/// saved with every checkpoint so `--resume` continues with exactly the options the run began with.

public struct TrainingOptions: Codable, Sendable, Equatable {
    /// Folder with `*_train_*.bin` and `*_val_*.bin` shards.
    public var dataDirectory: String
    /// The model shape (from a preset or an `--init-from` file).
    public var model: ModelConfig
    /// Preset name, or the file the weights came from.
    public var modelName: String
    /// Weights to start from instead of random initialisation: an llm.c model file, a checkpoint or run folder, or a
    /// safetensors GPT-2 (see `ModelSource`).
    public var initFrom: String?
    /// Sequences per forward/backward pass (B).
    public var microBatch: Int
    /// Tokens per sequence (T).
    public var sequenceLength: Int
    /// Micro-batches whose gradients add up to one optimizer step.
    public var gradientAccumulation: Int
    /// The learning rate of each step: warm-up, then cosine or WSD decay to a floor, reached at the run's last step.
    public var schedule: LearningRateSchedule
    /// The last optimizer step (steps count from 1): the schedule's end, so a new end (a resume's `--steps`) stretches
    /// the schedule with it.
    public var steps: Int {
        get { schedule.totalSteps }
        set { schedule.totalSteps = newValue }
    }
    /// AdamW's decoupled weight decay for the matrices and embeddings (biases and LayerNorms get none).
    public var weightDecay: Float
    /// The global gradient norm is scaled down to this when above it (0: no clipping).
    public var clipNorm: Float
    /// Fixes the initial weights, the order of the training shards' sequences and the samples' draws.
    public var seed: UInt64
    /// Whether the training sequences are read in a seeded random order (else in file order).
    public var shuffle: Bool
    /// Keep one shared slice of ln1, ln2 and the GELU output and recompute them in backward, for memory.
    public var recompute: Bool
    /// Validation loss every N steps (0 = off), over `evalBatches` micro-batches of the val split.
    public var evalEvery: Int
    public var evalBatches: Int
    /// HellaSwag accuracy every N steps (nil or 0 = off); optional so older saved options still load.
    public var hellaswagEvery: Int?
    /// A sample of `sampleTokens` tokens printed every N steps (0 = off).
    public var sampleEvery: Int
    public var sampleTokens: Int
    /// A checkpoint every N steps (0 = only after the last step and on a stop), keeping the newest `keepLast` (0 = all).
    public var checkpointEvery: Int
    public var keepLast: Int
    /// The run folder: checkpoints, `metrics.jsonl`, the lock.
    public var outDirectory: String
    /// CPU threads (0 = every core).
    public var threads: Int
    /// Peak FLOP/s used for MFU; nil when unknown (a GPU not in the table): MFU is then not reported.
    public var peakFLOPs: Double?
    /// Whether `peakFLOPs` was given (`--peak-flops`), which a resume keeps, rather than the device's own, which a
    /// resume takes afresh from the device it continues on; nil (not given) in runs saved before it was recorded.
    public var peakFLOPsGiven: Bool?
    /// The backend the run trains on (`cpu`, `cuda`), which a resume keeps unless told otherwise; nil in runs saved
    /// before it was recorded.
    public var device: String?

    /// The defaults make a quiet run, as tests and library callers want: no validation, samples or periodic
    /// checkpoints. The command line's own defaults (a demo that reports as it goes) are `TrainCommand`'s.
    public init(dataDirectory: String, model: ModelConfig, modelName: String, initFrom: String? = nil,
                microBatch: Int, sequenceLength: Int, gradientAccumulation: Int,
                schedule: LearningRateSchedule, weightDecay: Float = 0.1, clipNorm: Float = 1, seed: UInt64 = 1337,
                shuffle: Bool = true, recompute: Bool = false, evalEvery: Int = 0, evalBatches: Int = 20, hellaswagEvery: Int = 0,
                sampleEvery: Int = 0, sampleTokens: Int = 64, checkpointEvery: Int = 0, keepLast: Int = 0,
                outDirectory: String, threads: Int = 0, peakFLOPs: Double?) {
        self.dataDirectory = dataDirectory
        self.model = model
        self.modelName = modelName
        self.initFrom = initFrom
        self.microBatch = microBatch
        self.sequenceLength = sequenceLength
        self.gradientAccumulation = gradientAccumulation
        self.schedule = schedule
        self.weightDecay = weightDecay
        self.clipNorm = clipNorm
        self.seed = seed
        self.shuffle = shuffle
        self.recompute = recompute
        self.evalEvery = evalEvery
        self.evalBatches = evalBatches
        self.hellaswagEvery = hellaswagEvery
        self.sampleEvery = sampleEvery
        self.sampleTokens = sampleTokens
        self.checkpointEvery = checkpointEvery
        self.keepLast = keepLast
        self.outDirectory = outDirectory
        self.threads = threads
        self.peakFLOPs = peakFLOPs
    }

    /// Tokens in one optimizer step.
    public var tokensPerStep: Int { microBatch * sequenceLength * gradientAccumulation }

    /// Rejects combinations that cannot run, with a message naming the flag to change. `resuming`: the options of a
    /// saved run, which cannot be changed, so limits that only guard new runs from waste (the sample length, a weight
    /// decay that zeroes the weights) are not applied to them: a run saved before such a limit existed can always
    /// continue. `samplesGivenNow`: a resume given the sample options, whose length is then bounded as a new run's.
    public func validate(resuming: Bool = false, samplesGivenNow: Bool = false) throws {
        try model.validate()
        try Layout.requireBatchCount(microBatch, option: "--micro-batch")
        try model.requireSequenceLength(sequenceLength)
        try Layout.requireBatchCount(gradientAccumulation, option: "--grad-accum")
        guard steps > 0 else { throw ConfigError("--steps must be positive (got \(steps))") }
        guard schedule.maxLearningRate > 0, schedule.maxLearningRate.isFinite else {
            throw ConfigError("--lr must be a positive number (got \(schedule.maxLearningRate))")
        }
        guard schedule.warmupSteps >= 0 else { throw ConfigError("--warmup must not be negative") }
        guard schedule.decayFraction > 0 && schedule.decayFraction <= 1 else {   // (not an option: a damaged state.json)
            throw ConfigError("the schedule's decay fraction must be in (0, 1] (got \(schedule.decayFraction))")
        }
        guard (0...1).contains(schedule.minFraction) else {
            throw ConfigError("--min-lr-fraction must be between 0 and 1: the floor is that fraction of --lr (got \(schedule.minFraction))")
        }
        for (name, value) in [("--weight-decay", weightDecay), ("--clip", clipNorm)] where !(value >= 0 && value.isFinite) {
            throw ConfigError("\(name) must be 0 (off) or a positive number (got \(value))")
        }
        // AdamW takes lr × wd of each decayed weight off it at the peak: all of it or more zeroes or flips every one.
        let peakDecay = Double(weightDecay) * Double(schedule.maxLearningRate)
        guard peakDecay < 1 || resuming else {
            throw ConfigError("--weight-decay \(weightDecay) with --lr \(schedule.maxLearningRate) takes \(formatFixed(peakDecay * 100, digits: 0))% "
                              + "of each decayed weight off it at every step at the peak, which zeroes or flips them all; lower "
                              + "--weight-decay or --lr (GPT-2 is trained with 0.1 and 6e-4)")
        }
        // (given, --peak-flops checks it; a damaged state.json's made MFUs of -2e12 % in the log and metrics)
        if let peakFLOPs, !FLOPCount.plausiblePeaks.contains(peakFLOPs) {
            throw ConfigError("--peak-flops must be from 1e6 to 1e21 FLOP/s (got \(peakFLOPs))")
        }
        guard evalBatches >= 0 else { throw ConfigError("--eval-batches must be 0 (the whole split) or positive (got \(evalBatches))") }
        guard sampleTokens > 0 || sampleEvery == 0 else {
            throw ConfigError("--sample-tokens must be positive (got \(sampleTokens)); --sample-every 0 turns sampling off")
        }
        // Training waits for each sample, which is printed whole: a glance at the model, not a story.
        guard sampleTokens <= model.maxSequenceLength || sampleEvery == 0 || (resuming && !samplesGivenNow) else {
            throw ConfigError("--sample-tokens \(sampleTokens) is more than the model's context of \(model.maxSequenceLength) tokens, "
                              + "and training waits for each sample: use \(model.maxSequenceLength) or fewer (gpt2 sample --tokens N "
                              + "streams longer text from a checkpoint)")
        }
        for (name, value) in [("--eval-every", evalEvery), ("--eval-hellaswag-every", hellaswagEvery ?? 0), ("--sample-every", sampleEvery),
                              ("--checkpoint-every", checkpointEvery), ("--keep-last", keepLast)] where value < 0 {
            throw ConfigError("\(name) must be 0 (off) or positive (got \(value))")
        }
        // Samples and HellaSwag items are GPT-2 token ids (a sample starts from <|endoftext|>, 50256).
        let tokenizerVocabulary = GPT2Tokenizer.vocabularySize
        for (name, value) in [("--sample-every", sampleEvery), ("--eval-hellaswag-every", hellaswagEvery ?? 0)]
        where value > 0 && model.vocabularySize != tokenizerVocabulary {
            throw ConfigError("\(name) needs GPT-2's \(tokenizerVocabulary)-token vocabulary, and this model has \(model.vocabularySize) tokens; "
                              + "use \(name) 0")
        }
    }

    /// A few lines describing the run, for the start of the log.
    public var summary: String {
        let params = formatFixed(Double(model.parameterCount) / 1e6, digits: 2)
        return """
            model \(modelName): \(model.shape) (\(params)M parameters)
            batch: \(microBatch) × \(sequenceLength) tokens × \(gradientAccumulation) accumulation = \(tokensPerStep) tokens/step, \(formatCount(steps, "step"))\(recompute ? ", --recompute" : "")
            lr \(schedule.maxLearningRate) (\(schedule.shape.rawValue), warm-up \(schedule.warmupSteps), floor ×\(schedule.minFraction)), weight decay \(weightDecay), clip \(clipNorm), seed \(seed)
            data \(dataDirectory) (\(shuffle ? "shuffled" : "sequential")), out \(outDirectory)
            """
    }
}
