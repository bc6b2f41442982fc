/// How long a training run takes: FLOPs per token (forward + backward, attention included) × tokens, over
/// the device's peak × MFU, plus the optimizer's time once per step — both measured by `gpt2 bench` on that
/// device when there is a record, else a default MFU (and no separate optimizer time).

/// Where the MFU came from.
public enum MFUSource: Sendable, Equatable {
    /// A `gpt2 bench` record from the calibration file: what it ran (`d12 B=4 T=64`), when, and whether at the
    /// planned micro-batch and sequence length.
    case calibrated(run: String, date: String, sameShape: Bool)
    /// `--mfu` on the command line.
    case given
    /// The stated default for the kind of device.
    case uncalibrated

    /// How the plan prints it.
    public var text: String {
        switch self {
        case .calibrated(let run, let date, _): return "calibrated by gpt2 bench \(run), \(date)"
        case .given: return "from --mfu"
        case .uncalibrated: return "default, not calibrated"
        }
    }
}

/// The time arithmetic of one run.
public struct TimePlan: Sendable {
    /// Default GPU MFU: llm.c's GPT-2 124M runs reach ~40–50% of dense BF16 peak on A100/H100 with cuDNN
    /// attention; our own NVRTC kernels are unmeasured, so the low end, until `gpt2 bench` says otherwise.
    public static let defaultGPUMFU = 0.40
    /// Default CPU MFU: BENCHMARKS.md measured 57–62% for d12 at T=64 on 2 threads; attention (not BLAS)
    /// grows with T, so a round 0.50.
    public static let defaultCPUMFU = 0.50

    public let flopsPerToken: Double
    public let tokensPerStep: Int
    /// Optimizer steps: given, or enough to cover the token budget.
    public let steps: Int?
    public let peakFLOPs: Double
    /// The MFU of the forward and backward passes (the micro-steps).
    public let microStepMFU: Double
    /// Seconds each optimizer step adds once, however many micro-batches it accumulates: zeroing the gradients,
    /// clipping, AdamW (0 when not measured apart: then `microStepMFU` is the whole step's).
    public let optimizerSeconds: Double
    public let mfuSource: MFUSource

    /// - Parameters:
    ///   - steps: optimizer steps; or nil with `tokenBudget` (steps = ⌈budget / tokensPerStep⌉), or neither (per step only).
    public init(config: ModelConfig, sequenceLength: Int, tokensPerStep: Int, steps: Int?, tokenBudget: Int?,
                peakFLOPs: Double, microStepMFU: Double, optimizerSeconds: Double = 0, mfuSource: MFUSource) {
        flopsPerToken = FLOPCount.trainingPerToken(config, sequenceLength: sequenceLength)
        self.tokensPerStep = tokensPerStep
        self.steps = Self.steps(steps, tokenBudget: tokenBudget, tokensPerStep: tokensPerStep)
        self.peakFLOPs = peakFLOPs
        self.microStepMFU = microStepMFU
        self.optimizerSeconds = optimizerSeconds
        self.mfuSource = mfuSource
    }

    /// Optimizer steps: `steps`, else ⌈`tokenBudget` / `tokensPerStep`⌉, else nil (per step only).
    public static func steps(_ steps: Int?, tokenBudget: Int?, tokensPerStep: Int) -> Int? {
        steps ?? tokenBudget.map { ($0 + tokensPerStep - 1) / tokensPerStep }
    }

    /// The micro-batches' forward and backward passes, at `microStepMFU`.
    private var computeSeconds: Double { Double(tokensPerStep) * flopsPerToken / (peakFLOPs * microStepMFU) }
    public var stepSeconds: Double { computeSeconds + optimizerSeconds }
    public var tokensPerSecond: Double { Double(tokensPerStep) / stepSeconds }
    /// The whole step's MFU, the optimizer included: what training reports. (Written as a fraction of the micro-step
    /// MFU so that, with no optimizer time, it is that MFU exactly, not 0.49999999999999994 for 0.5.)
    public var mfu: Double { microStepMFU * (computeSeconds / stepSeconds) }
    public var totalTokens: Int? { steps.map { $0 * tokensPerStep } }
    public var totalSeconds: Double? { steps.map { Double($0) * stepSeconds } }
}
