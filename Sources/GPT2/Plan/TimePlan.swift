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

/// Parses token counts as people write them: `10B`, `500M`, `12k`, `1e9`, `524288` (decimal units).
public enum TokenCount {
    public static func parse(_ text: String) throws -> Int {
        let trimmed = text.trimmingSpaces
        let units: [Character: Double] = ["k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "b": 1e9, "B": 1e9, "g": 1e9, "G": 1e9, "t": 1e12, "T": 1e12]
        var number = Substring(trimmed), scale = 1.0
        if let last = number.last, let unit = units[last] {
            number = number.dropLast()
            scale = unit
        }
        // (decimal only: Double also reads hexadecimal, 0x10 as 16)
        guard number.allSatisfy({ $0.isASCII && ($0.isNumber || ".eE+-".contains($0)) }), let value = Double(number), value.isFinite else {
            throw ConfigError("cannot read '\(text)' as a token count; write e.g. 10B, 500M, 12k or 1e9")
        }
        guard value > 0 else { throw ConfigError("a token count must be positive (got '\(text)')") }
        guard value * scale < 9e18 else { throw ConfigError("token count '\(text)' is beyond any run (it must be below 9e18)") }
        let count = (value * scale).rounded()
        guard count >= 1 else { throw ConfigError("token count '\(text)' is less than one token") }
        return Int(count)
    }

    /// `10.00B`, `1.50M`, `524.3k`, `786`: a token count short enough for a table.
    public static func format(_ count: Int) -> String {
        let value = Double(count)
        if value >= 1e9 { return formatFixed(value / 1e9, digits: 2) + "B" }
        if value >= 1e6 { return formatFixed(value / 1e6, digits: 2) + "M" }
        if value >= 1e4 { return formatFixed(value / 1e3, digits: 1) + "k" }
        return String(count)
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
