/// `gpt2 plan`'s checks on its options, each by the message that names what to change: the step count and token budget,
/// the assumed MFU, and the batch options that disagree or exceed what a step can hold (found by mutation testing: none
/// of these refusals was exercised).

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct PlanOptionChecksTests {
    private let d12 = ["--gpu", "rtx4070", "--model", "d12", "--seq", "1024"]

    private func refusal(_ arguments: [String]) throws -> CommandResult {
        try runGPT2(arguments: ["plan"] + arguments, environment: try CLIFixtures.emptyCalibration())
    }

    /// --steps and --tokens both say how long the run is, so both at once are refused; a step count must be positive.
    @Test(arguments: [(["--steps", "10", "--tokens", "1B"], "give --steps or --tokens, not both"),
                      (["--steps", "0"], "--steps must be positive"), (["--steps", "-5"], "--steps must be positive")])
    func theRunsLengthIsChecked(_ options: [String], _ message: String) throws {
        expectOneLineError(try refusal(d12 + options), mentioning: message)
    }

    /// An MFU is a fraction of the peak from 1e-6 to 1: 0 would make the time infinite (and 5e-324, a subnormal, made it
    /// inf and NaN in the JSON), and 1 (the peak itself) is the top of the range, taken as given: the step then takes
    /// FLOPs per token × tokens per step / peak.
    @Test func theMFUIsAFractionUpToOne() throws {
        for bad in ["0", "1.5", "-0.2", "5e-324", "1e-300"] {
            expectOneLineError(try refusal(d12 + ["--mfu", bad]), mentioning: "--mfu must be a fraction from 1e-6 to 1 (0.4 is 40%; got ")
        }
        let slowest = try CLIFixtures.planJSON(d12 + ["--micro-batch", "8", "--steps", "1", "--mfu", "1e-6", "--peak-flops", "1e6"])
        #expect((slowest["total_seconds"] as? Double)?.isFinite == true, "\(slowest)")
        let full = try CLIFixtures.planJSON(d12 + ["--micro-batch", "8", "--steps", "1", "--mfu", "1"])
        #expect(full["mfu"] as? Double == 1 && full["mfu_source"] as? String == "from --mfu", "\(full)")
        let flops = try #require(full["flops_per_token"] as? Double), peak = try #require(full["peak_flops"] as? Double)
        let expected = flops * 8 * 1024 / peak
        let step = try #require(full["step_seconds"] as? Double)
        #expect(abs(step - expected) <= 1e-12 * expected, "step \(step) s, expected \(expected) s")
    }

    /// --grad-accum beside --total-batch-tokens must be the accumulation the total implies (524,288 / (8 × 1024) = 64);
    /// with --micro-batch auto, which sets the accumulation itself, it is refused outright.
    @Test func gradAccumMustAgreeWithTheTotalBatch() throws {
        let total = ["--micro-batch", "8", "--total-batch-tokens", "524288"]
        expectOneLineError(try refusal(d12 + total + ["--grad-accum", "32"]),
                           mentioning: "--grad-accum 32 disagrees with --total-batch-tokens (which needs 64)")
        #expect(try CLIFixtures.planJSON(d12 + total + ["--grad-accum", "64"])["grad_accum"] as? Int == 64)
        expectOneLineError(try refusal(d12 + ["--micro-batch", "auto", "--grad-accum", "4", "--total-batch-tokens", "524288"]),
                           mentioning: "--micro-batch auto sets the accumulation itself: give --total-batch-tokens, not --grad-accum too")
    }

    /// With auto, the step's tokens must be whole sequences: 1,000 tokens are not a multiple of --seq 64.
    @Test func autoNeedsATotalOfWholeSequences() throws {
        expectOneLineError(try refusal(["--gpu", "h200", "--model", "tiny", "--seq", "64", "--micro-batch", "auto", "--total-batch-tokens", "1000"]),
                           mentioning: "--total-batch-tokens 1000 must be a positive multiple of --seq 64")
    }

    /// A step holds at most 65,535 micro-batches: a total of 65,535 micro-batches of 1 × 16 tokens (1,048,560) is planned,
    /// one more micro-batch's worth (1,048,576) is refused by --total-batch-tokens, which asked for it.
    @Test func aStepHoldsAtMost65535MicroBatches() throws {
        let tiny = ["--gpu", "h200", "--model", "tiny", "--seq", "16", "--micro-batch", "1"]
        let most = try CLIFixtures.planJSON(tiny + ["--total-batch-tokens", "1048560"])
        #expect(most["grad_accum"] as? Int == 65_535 && most["tokens_per_step"] as? Int == 1_048_560, "\(most)")
        expectOneLineError(try refusal(tiny + ["--total-batch-tokens", "1048576"]),
                           mentioning: "--total-batch-tokens 1048576 is 65536 micro-batches of 1 × 16 tokens, and at most 65535 accumulate")
    }

    /// A micro-batch out of range is refused with both things --micro-batch takes: a size, or auto.
    @Test func aMicroBatchOutOfRangeNamesAuto() throws {
        expectOneLineError(try refusal(d12 + ["--micro-batch", "0"]), mentioning: "--micro-batch must be auto or between 1 and 65535 (got 0)")
    }
}
