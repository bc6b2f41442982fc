/// Floating-point work of one training token, for throughput, MFU and the planner's time model.
/// Matmuls cost 2 FLOPs per weight per token forward and 4 backward (6N); attention adds 12·L·C·T.

public enum FLOPCount {
    /// Forward + backward FLOPs per token at sequence length `T`: 6·N + 12·L·C·T, where N is every parameter but the
    /// position table, which is a lookup (the tied embedding counts once, as the LM head; biases and LayerNorm weights,
    /// 0.1 % of d12's N, count as if multiplied too, as llm.c and nanoGPT count them).
    public static func trainingPerToken(_ config: ModelConfig, sequenceLength T: Int) -> Double {
        let matmulParameters = config.parameterCount - ParameterKind.wpe.elementCount(config)
        return 6 * Double(matmulParameters) + 12 * Double(config.layers * config.channels * T)
    }

    /// Peak fp32 FLOP/s assumed for a CPU run on `threads` worker threads, each taken to have a core of its own (threads
    /// beyond this machine's cores add none: they wait on one another): 115.2 GFLOP/s per core, the AVX2-FMA peak
    /// measured on the CI machine (Zen 4, 32 FLOP/cycle at 3.6 GHz). Override with `--peak-flops`.
    public static func cpuPeak(threads: Int) -> Double { Double(min(threads, WorkerThreads.cores)) * 115.2e9 }

    /// The peaks gpt2 takes (`--peak-flops`, the calibration file): from a megaflop, below which the plan's times run
    /// to infinity (a peak of 1e-300 printed "inf hours"), to 1e21 (a million H100s), above which its tokens per
    /// second would not fit the integers it prints them as.
    public static let plausiblePeaks: ClosedRange<Double> = 1e6...1e21
}
