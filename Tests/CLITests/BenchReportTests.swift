/// `gpt2 bench` reports the shape it measured and numbers that agree with one another (throughput from the step time,
/// MFU from the throughput and the peak), and refuses step counts and option pairs it cannot measure (found by mutation
/// testing: the JSON's shape fields, the text's MFU and these refusals went unchecked).

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct BenchReportTests {
    private let tiny = ["bench", "--model", "tiny", "--micro-batch", "2", "--seq", "16", "--device", "cpu", "--no-record"]

    /// The JSON echoes the shape measured, and its numbers follow from each other: tokens per second are the step's
    /// 2 × 16 × 2 tokens over its time, and the MFU is tokens per second × FLOPs per token over the peak given.
    /// tiny has 1,637,248 parameters: wte 50,304 × 32 (the padded vocabulary) = 1,609,728, wpe 64 × 32 = 2,048, two blocks
    /// of 12,704 (see InteropCommandTests) and ln_f's 64.
    @Test func theJSONGivesTheShapeAndConsistentRates() throws {
        let result = try runGPT2(arguments: tiny + ["--grad-accum", "2", "--steps", "2", "--warmup", "0", "--threads", "1",
                                                    "--peak-flops", "1e12", "--json"])
        try #require(result.status == 0, "\(result.stderrText)")
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], "\(result.stdoutText)")
        #expect(object["model"] as? String == "tiny" && object["micro_batch"] as? Int == 2 && object["seq"] as? Int == 16
                && object["grad_accum"] as? Int == 2 && object["threads"] as? Int == 1 && object["steps"] as? Int == 2
                && object["micro_batch_auto"] as? Bool == false && object["params"] as? Int == 1_637_248, "\(object)")
        let stepMS = try #require(object["step_ms"] as? Double), tokensPerSecond = try #require(object["tokens_per_s"] as? Double)
        #expect(abs(tokensPerSecond - 64 / (stepMS / 1000)) <= 1e-9 * tokensPerSecond, "\(object)")
        let flops = try #require(object["flops_per_token"] as? Double), mfu = try #require(object["mfu"] as? Double)
        #expect(object["peak_flops"] as? Double == 1e12 && abs(mfu - tokensPerSecond * flops / 1e12) <= 1e-9 * mfu, "\(object)")
    }

    /// The text gives the MFU as a percentage: tokens per second × FLOPs per token / peak × 100, to the printed tokens
    /// per second (whole ones) and the percentage's one decimal.
    @Test func theTextGivesTheMFUAsAPercentage() throws {
        let result = try runGPT2(arguments: tiny + ["--steps", "1", "--warmup", "0", "--threads", "1", "--peak-flops", "1e9"])
        try #require(result.status == 0, "\(result.stderrText)")
        let words = result.stdoutText.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" })
        let tokensIndex = try #require(words.firstIndex(of: "tokens/s"), "\(result.stdoutText)")
        let mfuIndex = try #require(words.firstIndex(of: "MFU"), "\(result.stdoutText)")
        let tokensPerSecond = try #require(Double(words[tokensIndex - 1])), percent = try #require(Double(words[mfuIndex + 1].dropLast()))
        let flopsPerToken = FLOPCount.trainingPerToken(try ModelPreset.named("tiny").config, sequenceLength: 16)
        let expected = tokensPerSecond * flopsPerToken / 1e9 * 100
        // (the tokens per second are truncated to a whole number: up to one token's share more)
        #expect(percent >= expected - 0.05 && percent <= expected + flopsPerToken / 1e9 * 100 + 0.05,
                "MFU \(percent)%, expected \(expected)% from \(result.stdoutText)")
    }

    /// Steps that cannot be timed are refused by name: none, a negative warm-up, or more than can be counted together
    /// (their range traps); and --classifier-chunk, which compares chunkings at one micro-batch, with auto.
    @Test(arguments: [(["--steps", "0"], "--steps must be positive and --warmup not negative"),
                      (["--warmup", "-1"], "--steps must be positive and --warmup not negative"),
                      (["--steps", "9223372036854775807", "--warmup", "1"], "--steps and --warmup add up to more steps than can be counted"),
                      (["--micro-batch", "auto", "--classifier-chunk", "5"], "give --micro-batch N with it, not auto")])
    func unmeasurableRunsAreRefused(_ options: [String], _ message: String) throws {
        expectOneLineError(try runGPT2(arguments: tiny + ["--threads", "1"] + options), mentioning: message)
    }
}
