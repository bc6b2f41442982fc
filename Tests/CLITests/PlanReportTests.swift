/// What `gpt2 plan` reports, checked against the arithmetic it states and against itself: the largest micro-batch with
/// and without --recompute, the rows of the time table, the memory table's last rows, the default MFUs, and the GPU
/// table's figures (found by mutation testing: these lines and fields could be wrong without a test noticing).

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct PlanReportTests {
    private let d12 = ["--gpu", "rtx4070", "--model", "d12", "--seq", "1024", "--micro-batch", "8"]

    private func planText(_ arguments: [String]) throws -> [Substring] {
        let result = try runGPT2(arguments: ["plan"] + arguments, environment: try CLIFixtures.emptyCalibration())
        try #require(result.status == 0, "\(result.stderrText)")
        return result.stdoutText.split(separator: "\n")
    }

    /// --recompute keeps fewer activations, so more sequences fit with it than without; each plan reports the other
    /// setting's largest micro-batch, under the key that names it, and it is the number the plan with that setting
    /// gives as its own. The text says the same, and that one sequence more than the largest does not fit.
    @Test func theLargestMicroBatchWithAndWithoutRecompute() throws {
        let plain = try CLIFixtures.planJSON(d12), recomputing = try CLIFixtures.planJSON(d12 + ["--recompute"])
        let without = try #require(plain["max_micro_batch"] as? Int), with = try #require(recomputing["max_micro_batch"] as? Int)
        #expect(without > 8 && with > without, "without --recompute \(without), with \(with)")
        #expect(plain["max_micro_batch_with_recompute"] as? Int == with && plain["max_micro_batch_without_recompute"] == nil, "\(plain)")
        #expect(recomputing["max_micro_batch_without_recompute"] as? Int == without && recomputing["max_micro_batch_with_recompute"] == nil,
                "\(recomputing)")
        let text = try planText(d12)
        let line = "largest micro-batch that fits at seq 1024: \(without) (\(without + 1) does not); with --recompute: \(with)"
        #expect(text.contains { $0 == line }, "expected '\(line)' in:\n\(text.joined(separator: "\n"))")
        let recomputed = try planText(d12 + ["--recompute"])
        let other = "largest micro-batch that fits at seq 1024: \(with) (\(with + 1) does not); without --recompute: \(without)"
        #expect(recomputed.contains { $0 == other }, "expected '\(other)' in:\n\(recomputed.joined(separator: "\n"))")
        // where both are --micro-batch's own limit, both say so (the other setting's was a bare 65535)
        let tiny = try planText(["--gpu", "h200", "--model", "tiny", "--seq", "16", "--micro-batch", "2"])
        let capped = "largest micro-batch that fits at seq 16: 65535 (the most a micro-batch can be); with --recompute: 65535 (the most a micro-batch can be)"
        #expect(tiny.contains { $0 == capped }, "expected '\(capped)' in:\n\(tiny.joined(separator: "\n"))")
    }

    /// The time rows: tokens per step as micro-batch × seq × accumulation (8 × 1024 × 64 = 524,288), and the total time
    /// in hours, the total seconds / 3,600, of the training steps alone (the text said so only in docs/plan.md).
    @Test func theTimeRowsShowTheirArithmetic() throws {
        let options = d12 + ["--grad-accum", "64", "--steps", "1000", "--mfu", "0.5"]
        let seconds = try #require(try CLIFixtures.planJSON(options)["total_seconds"] as? Double)
        let text = try planText(options)
        let tokens = try #require(text.first { $0.hasPrefix("  tokens per step") }, "\(text)")
        #expect(tokens.hasSuffix(" 524,288 (8 × 1024 × 64)"), "\(tokens)")
        let total = try #require(text.first { $0.hasPrefix("  total time") }, "\(text)")
        #expect(total.hasSuffix("(\(formatFixed(seconds / 3600, digits: 1)) hours) of training steps; validation, samples and "
                                + "checkpoints come on top"), "\(total) for \(seconds) s")
        // A short run's rows say each number once: "2,560", not "2,560 (2560)"; "2m10s", not "2m10s (0.0 hours)".
        let short = try planText(["--gpu", "rtx4070", "--model", "tiny", "--micro-batch", "4", "--seq", "64", "--steps", "10"])
        let shortTokens = try #require(short.first { $0.hasPrefix("  total tokens") }, "\(short)")
        #expect(shortTokens.hasSuffix(" 2,560"), "\(shortTokens)")
        let shortTime = try #require(short.first { $0.hasPrefix("  total time") }, "\(short)")
        #expect(!shortTime.contains("hours"), "\(shortTime)")
        // and a run of years says so, not "87600000h00m (87600000.0 hours)"
        let long = try planText(d12 + ["--grad-accum", "64", "--steps", "100000", "--mfu", "1e-6"])
        let longTime = try #require(long.first { $0.hasPrefix("  total time") }, "\(long)")
        #expect(longTime.contains(" years of training steps") && !longTime.contains("hours"), "\(longTime)")
        // and a step under a second is in milliseconds (a tiny model's 12 ms read "0.00 s")
        let shortStep = try #require(short.first { $0.hasPrefix("  time per step") }, "\(short)")
        #expect(shortStep.hasSuffix(" ms") && !shortStep.hasSuffix(" 0.0 ms"), "\(shortStep)")
    }

    /// The memory table ends with the total and what the device has (an RTX 4070: 12 GiB, 12,884,901,888 bytes), and the
    /// JSON's headroom is what is left of it.
    @Test func theMemoryTableEndsWithTotalAndAvailable() throws {
        let object = try CLIFixtures.planJSON(d12)
        let total = try #require(object["total_bytes"] as? Int)
        #expect(object["capacity_bytes"] as? Int == 12 << 30, "\(object)")
        #expect(object["headroom_bytes"] as? Int == 12 << 30 - total, "\(object)")
        let text = try planText(d12)
        let available = try #require(text.first { $0.hasPrefix("available ") }, "\(text)")
        #expect(available.split(separator: " ") == ["available", "12.00", "GiB", "12,884,901,888"], "\(available)")
        let totalRow = try #require(text.first { $0.hasPrefix("total ") }, "\(text)")
        #expect(totalRow.split(separator: " ").last?.filter { $0 != "," } == "\(total)", "\(totalRow) for \(total) bytes")
    }

    /// Without a bench record or --mfu, the MFU is the stated default (docs/plan.md): 0.40 on a GPU, 0.50 on a CPU,
    /// whose peak is 115.2 GFLOP/s a thread (230.4 GFLOP/s for two).
    @Test func theDefaultMFUIsTheDevicesOwn() throws {
        let gpu = try CLIFixtures.planJSON(d12 + ["--steps", "1"])
        #expect(gpu["mfu"] as? Double == 0.4 && gpu["mfu_calibrated"] as? Bool == false, "\(gpu)")
        let cpu = try CLIFixtures.planJSON(["--device", "cpu", "--threads", "2", "--model", "tiny", "--micro-batch", "2", "--seq", "32",
                                            "--steps", "1"])
        #expect(cpu["mfu"] as? Double == 0.5 && cpu["mfu_calibrated"] as? Bool == false, "\(cpu)")
        let peak = try #require(cpu["peak_flops"] as? Double)
        #expect(abs(peak - 230.4e9) <= 1e-9 * peak, "\(peak)")
    }

    /// Threads beyond the machine's cores add no peak (they wait on one another), and the plan says so: --threads 1024
    /// planned 1024 cores' worth of FLOP/s, and times 1/512 of what this machine takes.
    @Test func threadsBeyondTheCoresAddNoPeak() throws {
        let arguments = ["plan", "--device", "cpu", "--threads", "1024", "--model", "tiny", "--micro-batch", "2", "--seq", "32",
                         "--steps", "1", "--json"]
        let result = try runGPT2(arguments: arguments, environment: try CLIFixtures.emptyCalibration())
        try #require(result.status == 0, "\(result.stderrText)")
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        let peak = try #require(object["peak_flops"] as? Double)
        #expect(abs(peak - Double(WorkerThreads.cores) * 115.2e9) <= 1e-9 * peak, "\(peak) on \(WorkerThreads.cores) cores")
        #expect(result.stderrText.contains("note: --threads 1024 is more than this machine's \(formatCount(WorkerThreads.cores, "core"))"),
                "\(result.stderrText)")
    }

    /// --list-gpus gives each card's dense BF16 TFLOP/s (the H100 SXM's 989.4, the A10's 125) and, where ECC takes a
    /// sixteenth of the memory, what is left: the A10's 24 GiB leave 22.5.
    @Test func theGPUTableGivesTFLOPsAndTheMemoryECCLeaves() throws {
        let result = try runGPT2(arguments: ["plan", "--list-gpus"])
        try #require(result.status == 0, "\(result.stderrText)")
        func row(_ id: String) -> [Substring] {
            result.stdoutText.split(separator: "\n").first { $0.hasPrefix(id + " ") }.map { $0.split(separator: " ") } ?? []
        }
        #expect(row("h100-sxm").contains("989.4"), "\(row("h100-sxm"))")
        let a10 = row("a10").joined(separator: " ")
        #expect(a10.contains("24.00 GiB (ECC: 22.50 GiB) 125.0 600 "), "\(a10)")
    }
}
