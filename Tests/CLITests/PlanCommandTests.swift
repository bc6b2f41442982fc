/// `gpt2 plan` end to end: the JSON fields scripts rely on, the human table, unknown GPUs, `gpt2 bench`
/// calibrating the MFU the plan uses, and `gpt2 train --micro-batch auto`.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct PlanCommandTests {
    /// docs/plan.md answers the README's question with `gpt2 plan`'s own output: each of its example blocks (a command,
    /// then lines it prints, in order; a block may show part of them) is what this binary prints, uncalibrated. Its
    /// backend scratch and allocation rounding had drifted by 4 bytes without a test noticing.
    @Test func theDocumentedPlansAreWhatPlanPrints() throws {
        let document = try String(contentsOf: TestPaths.repositoryRoot.appendingPathComponent("docs/plan.md"), encoding: .utf8)
        let blocks = document.components(separatedBy: "```").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        var checked = 0
        for block in blocks {
            let lines = block.split(separator: "\n").map { String($0) }
            guard let command = lines.first, command.hasPrefix("$ gpt2 plan ") else { continue }
            let result = try runGPT2(arguments: command.dropFirst("$ gpt2 ".count).split(separator: " ").map(String.init),
                                     environment: try CLIFixtures.emptyCalibration())
            #expect(result.status == 0, "\(command): \(result.stderrText)")
            var printed = result.stdoutText.split(separator: "\n").map { String($0) }[...]
            for line in lines.dropFirst() {
                guard let index = printed.firstIndex(of: line) else {
                    Issue.record("\(command): the documented line\n\(line)\nis not among what follows in its output:\n\(printed.joined(separator: "\n"))")
                    break
                }
                printed = printed[(index + 1)...]
            }
            checked += 1
        }
        #expect(checked == 4, "docs/plan.md's example plans")
    }

    @Test func jsonHasTheFieldsScriptsUse() throws {
        let result = try runGPT2(arguments: ["plan", "--gpu", "rtx4070", "--model", "d12", "--micro-batch", "8", "--seq", "1024",
                                             "--grad-accum", "64", "--steps", "12000", "--json"],
                                 environment: try CLIFixtures.emptyCalibration())
        #expect(result.status == 0, "\(result.stderrText)")
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        #expect(object["fits"] as? Bool == true)
        #expect(object["tokens_per_step"] as? Int == 524_288)
        #expect(object["classifier_chunk_rows"] as? Int == 4096)   // of micro-batch 8 × 1024 = 8192 rows
        #expect((object["max_micro_batch"] as? Int ?? 0) >= 8)
        #expect((object["step_seconds"] as? Double ?? 0) > 0)
        let total = try #require(object["total_seconds"] as? Double), step = try #require(object["step_seconds"] as? Double)
        #expect(abs(total - 12_000 * step) <= 1e-9 * total)
        #expect(object["mfu_calibrated"] as? Bool == false)
        let memory = try #require(object["memory"] as? [String: Int])
        for key in ["parameters", "parameter_copy", "gradients", "adam_m", "adam_v", "activation.logits", "cuda_context"] {
            #expect(memory[key] != nil, "memory.\(key)")
        }
        #expect(memory.values.reduce(0, +) == object["total_bytes"] as? Int)
    }

    @Test func textShowsTableVerdictAndTime() throws {
        let result = try runGPT2(arguments: ["plan", "--gpu", "rtx4070", "--model", "d12", "--seq", "1024",
                                             "--total-batch-tokens", "524288", "--tokens", "10B"],
                                 environment: try CLIFixtures.emptyCalibration())
        #expect(result.status == 0, "\(result.stderrText)")
        let text = result.stdoutText
        // GPT-2 124M is 124,439,808 parameters as Hugging Face counts them; ours adds 47 zero rows of 768 to the vocabulary
        for phrase in ["d12 (124,475,904 parameters, 36,096 of them the vocabulary's padding)",
                       "gradients (fp32)", "activation logits (R,Vp)", "verdict: fits", "largest micro-batch",
                       "(default, not calibrated)", "19,074", "total time",
                       "gpt2 bench --device cuda --model d12 --micro-batch 8 --seq 1024 on a GeForce RTX 4070 measures it"] {
            #expect(text.contains(phrase), "missing '\(phrase)' in:\n\(text)")
        }
    }

    /// `--mfu` replaces the default or calibrated MFU and says so ("from --mfu"); the step takes FLOPs per token ×
    /// tokens per step / (peak × MFU), so halving the MFU doubles it.
    @Test func aGivenMFUSetsTheStepTime() throws {
        func plan(_ mfu: String) throws -> [String: Any] {
            try CLIFixtures.planJSON(["--gpu", "rtx4070", "--model", "d12", "--micro-batch", "8", "--seq", "1024", "--grad-accum", "4",
                                      "--steps", "100", "--mfu", mfu])
        }
        let half = try plan("0.5"), quarter = try plan("0.25")
        #expect(half["mfu_source"] as? String == "from --mfu" && half["mfu_calibrated"] as? Bool == false, "\(half)")
        #expect(half["mfu"] as? Double == 0.5 && quarter["mfu"] as? Double == 0.25)
        let flops = try #require(half["flops_per_token"] as? Double), peak = try #require(half["peak_flops"] as? Double)
        let tokens = try #require(half["tokens_per_step"] as? Int)
        #expect(tokens == 8 * 1024 * 4)
        let step = try #require(half["step_seconds"] as? Double), slower = try #require(quarter["step_seconds"] as? Double)
        let expected = flops * Double(tokens) / (peak * 0.5)
        // (the plan's arithmetic is in double: a few ulps)
        #expect(abs(step - expected) <= 1e-12 * expected, "step \(step) s, expected \(expected) s")
        #expect(abs(slower - 2 * step) <= 1e-12 * slower, "MFU 0.25: \(slower) s, MFU 0.5: \(step) s")
    }

    /// `--list-gpus` prints a row for every GPU of the planner's table, its `--gpu` id first, under a header.
    @Test func listGPUsListsEveryGPUOfTheTable() throws {
        let result = try runGPT2(arguments: ["plan", "--list-gpus"])
        try #require(result.status == 0, "\(result.stderrText)")
        let lines = result.stdoutText.split(separator: "\n")
        #expect(lines.first?.hasPrefix("--gpu") == true, "\(result.stdoutText)")
        let ids = lines.dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) }
        for spec in GPUSpecification.all {
            #expect(ids.filter { $0 == spec.id }.count == 1, "\(spec.id) is listed once")
        }
        #expect(GPUSpecification.all.count > 10)
    }

    /// auto keeps the step's tokens — --total-batch-tokens, else the default micro-batch × seq × --grad-accum, so that a
    /// hyperparameter does not depend on the machine's free memory — and picks the largest micro-batch that fits and
    /// divides them: --grad-accum 64 at T=1024 on a 4070 (27 fit) is 16 × 32, 524,288 tokens either way.
    @Test func microBatchAutoKeepsTheStepsTokens() throws {
        func plan(_ extra: [String]) throws -> [String: Any] {
            try CLIFixtures.planJSON(["--gpu", "rtx4070", "--model", "d12", "--seq", "1024", "--micro-batch", "auto", "--steps", "10"] + extra)
        }
        for extra in [["--grad-accum", "64"], ["--total-batch-tokens", "524288"]] {
            let object = try plan(extra)
            let largest = try #require(object["max_micro_batch"] as? Int)
            let (B, A) = (try #require(object["micro_batch"] as? Int), try #require(object["grad_accum"] as? Int))
            #expect(largest > 16 && 512 % largest != 0, "the case needs a largest micro-batch that does not divide 512: \(largest)")
            #expect(B * A == 512 && B <= largest && B * 2 > largest && object["tokens_per_step"] as? Int == 524_288, "\(extra): \(B) × \(A)")
        }
        let plain = try plan([])   // the default step: 8 sequences
        #expect(plain["micro_batch"] as? Int == 8 && plain["grad_accum"] as? Int == 1, "\(plain)")
    }

    /// When the weights, gradients and AdamW moments alone exceed the card, auto's refusal says to use a smaller model,
    /// not --recompute or a shorter --seq (which cannot help), as train's refusal does.
    @Test(arguments: [[], ["--recompute", "--seq", "64"]])
    func microBatchAutoSaysWhenOnlyASmallerModelHelps(_ extra: [String]) throws {
        let result = try runGPT2(arguments: ["plan", "--gpu", "rtx3060", "--model", "d48", "--micro-batch", "auto", "--steps", "10"] + extra,
                                 environment: try CLIFixtures.emptyCalibration())
        // fp32 weights, gradients, m and v, and the bf16 copy: 18 bytes a parameter
        let state = formatBytes(try ModelPreset.named("d48").config.parameterCount * 18)
        expectOneLineError(result, mentioning: "the model's weights, gradients and AdamW moments alone (\(state)) do not fit: use a smaller model")
        #expect(!result.stderrText.contains("--recompute") && !result.stderrText.contains("--seq"), "\(result.stderrText)")
    }

    /// The memory table's columns widen for totals beyond a terabyte: "175583.19 GiB188,531,014,107,136" ran together.
    @Test func hugeTotalsKeepTheColumnsApart() throws {
        let result = try runGPT2(arguments: ["plan", "--gpu", "h200", "--model", "d48", "--micro-batch", "65535", "--seq", "1024",
                                             "--steps", "1"], environment: try CLIFixtures.emptyCalibration())
        let total = try #require(result.stdoutText.split(separator: "\n").first { $0.hasPrefix("total ") }, "\(result.stdoutText)")
        #expect(total.split(separator: " ").count == 4, "total, size, unit and bytes, apart: \(total)")
    }

    /// Where the micro-batch's own limit, not memory, ends the search, the plan says so ("65536 does not" fit read as
    /// a memory verdict).
    @Test func theMicroBatchLimitIsNotCalledMemory() throws {
        let result = try runGPT2(arguments: ["plan", "--gpu", "h200", "--model", "tiny", "--micro-batch", "2", "--seq", "16"],
                                 environment: try CLIFixtures.emptyCalibration())
        #expect(result.stdoutText.contains("seq 16: \(Layout.maximumBatchSize) (the most a micro-batch can be)")
                && !result.stdoutText.contains("does not)"), "\(result.stdoutText)")
    }

    @Test func unknownGPUFailsWithTheList() throws {
        expectOneLineError(try runGPT2(arguments: ["plan", "--gpu", "rtx9999"]), mentioning: "rtx4070")
    }

    /// A GPU from the table is planned for as it is: `--gpu rtx4070 --device cpu` planned for the 4070, and a --threads
    /// beside --gpu changed nothing, without a word.
    @Test(arguments: [["--device", "cpu"], ["--device", "cuda"], ["--threads", "2"]])
    func deviceOrThreadsBesideAGPUAreRefused(_ option: [String]) throws {
        let result = try runGPT2(arguments: ["plan", "--gpu", "rtx4070", "--model", "tiny"] + option)
        expectOneLineError(result, mentioning: "--gpu rtx4070 plans for that GPU, so \(option.joined(separator: " ")) does not apply")
    }

    /// A peak of 0 FLOP/s (or less) would make MFU infinite in train and bench, and the plan's time infinite (as a tiny
    /// one did: 1e-300 printed "inf hours"); one above 1e21 made the plan's tokens per second too large for an Int (a trap).
    @Test(arguments: ["plan", "train", "bench"])
    func nonPositiveTinyOrHugePeakFLOPsIsRefused(_ command: String) throws {
        for value in ["0", "-1e9", "inf", "nan", "1e308", "1e-300", "9.9e5"] {
            let result = try runGPT2(arguments: [command, "--peak-flops=\(value)", "--device", "cpu"])
            #expect(result.status != 0 && result.stderrText.contains("positive number of FLOP/s"), "\(command) \(value): \(result.stderrText)")
        }
    }

    /// A micro-batch or accumulation beyond `Layout.maximumBatchSize` is refused by every command that takes one: in a
    /// release build its sizes would otherwise overflow and wrap around into a plan of nonsense (`plan --grad-accum`
    /// of 2^63 − 1 printed a negative time per step, and `train` started a step that never ended) or an allocation of it.
    /// An accumulation that --total-batch-tokens implies is refused by that name.
    @Test(arguments: [["plan", "--micro-batch"], ["train", "--micro-batch"], ["bench", "--micro-batch"],
                      ["eval", "--checkpoint", "x", "--data", "y", "--micro-batch"], ["eval", "hellaswag", "--checkpoint", "x", "--batch"],
                      ["plan", "--grad-accum"], ["train", "--grad-accum"], ["bench", "--grad-accum"],
                      ["plan", "--seq", "1024", "--micro-batch", "1", "--total-batch-tokens"],
                      ["train", "--seq", "64", "--micro-batch", "auto", "--total-batch-tokens"]])
    func hugeBatchCountIsRefused(_ command: [String]) throws {
        let value = command.last == "--total-batch-tokens" ? "9223372036854774784" : "9223372036854775807"   // (both multiples of T)
        let result = try runGPT2(arguments: command + [value, "--device", "cpu"])
        #expect(result.status != 0 && result.stderrText.contains(command.last!), "\(command): \(result.stderrText)")
        #expect(result.stdoutText.isEmpty && !result.stderrText.contains("verdict"), "\(command): \(result.stderrText)")
    }

    /// A thread count beyond `WorkerThreads.maximum` is refused by every command that takes one (2^63 − 1 threads trapped
    /// in each), and a --seq beyond the model's context by bench and eval, before anything is built (it trapped too).
    @Test(arguments: [["train"], ["bench"], ["sample", "--checkpoint", "x"], ["eval", "--checkpoint", "x", "--data", "y"],
                      ["eval", "hellaswag", "--checkpoint", "x"], ["plan", "--device", "cpu"], ["tokenize"], ["prepare"]])
    func hugeThreadCountIsRefused(_ command: [String]) throws {
        for value in ["1025", "9223372036854775807", "-1"] {
            expectOneLineError(try runGPT2(arguments: command + ["--threads", value]), mentioning: "--threads must be 0 (one per core) or between 1 and 1024")
        }
    }

    @Test func seqBeyondTheContextIsRefusedByBenchAndEval() throws {
        expectOneLineError(try runGPT2(arguments: ["bench", "--model", "tiny", "--seq", "9223372036854775807", "--device", "cpu"]),
                           mentioning: "longer than the model's context of 64 tokens")
        let eval = try runGPT2(arguments: ["eval", "--checkpoint", try CLIFixtures.trainedRun(), "--data", try ShakespeareShards.directory(),
                                           "--seq", "65", "--device", "cpu"])
        expectOneLineError(eval, mentioning: "--seq 65 is longer than the model's context of 64 tokens")
    }

    /// Steps whose tokens an Int cannot count are refused: they overflowed into a negative total time (release) or a trap.
    @Test func stepsBeyondCountableTokensAreRefused() throws {
        let arguments = ["plan", "--gpu", "rtx4070", "--model", "d12", "--seq", "1024", "--micro-batch", "8", "--grad-accum", "64"]
        expectOneLineError(try runGPT2(arguments: arguments + ["--steps", "17592186044416"]), mentioning: "more tokens than a plan can count")
        let largest = try runGPT2(arguments: arguments + ["--steps", "17592186044415", "--json"])   // 2^44 − 1 steps of 2^19 tokens
        let object = try JSONSerialization.jsonObject(with: largest.stdout) as? [String: Any]
        #expect((object?["total_tokens"] as? Int) == Int.max - (1 << 19) + 1, "\(largest.stderrText)")
    }

    /// A bench whose MFU no plan could use (against a --peak-flops far too low) says so and records nothing, so the file
    /// stays one that plans read (such a record would now make it refused as damaged).
    @Test func benchRecordsNoImplausibleMFU() throws {
        let environment = try CLIFixtures.emptyCalibration()
        let bench = try runGPT2(arguments: ["bench", "--model", "tiny", "--micro-batch", "2", "--seq", "32", "--steps", "1",
                                            "--warmup", "0", "--threads", "2", "--device", "cpu", "--peak-flops", "1e6"], environment: environment)
        #expect(bench.status == 0 && bench.stderrText.contains("note: not recorded for gpt2 plan, since mfu"), "\(bench.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: environment["GPT2_CALIBRATION"]!))
    }

    /// A calibration file that cannot be read is left out of plans with a note (plan, and train and eval, which plan
    /// first, were refused), and a bench prints what it measured before refusing to record into it (it was lost).
    @Test func aDamagedCalibrationFileIsNotedAndKept() throws {
        let environment = try CLIFixtures.emptyCalibration()
        let path = try #require(environment["GPT2_CALIBRATION"])
        try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: path))
        let plan = try runGPT2(arguments: ["plan", "--gpu", "rtx4070", "--model", "d12", "--steps", "10", "--json"], environment: environment)
        #expect(plan.status == 0, "\(plan.stderrText)")
        #expect(plan.stderrText == "note: calibration file \(path) is not a list of gpt2 bench records (not valid JSON); delete it or set "
                + "GPT2_CALIBRATION; plans use the stated defaults meanwhile\n")
        let object = try #require(try JSONSerialization.jsonObject(with: plan.stdout) as? [String: Any])
        #expect(object["mfu_calibrated"] as? Bool == false)

        let bench = try runGPT2(arguments: ["bench", "--model", "tiny", "--micro-batch", "2", "--seq", "32", "--steps", "1",
                                            "--warmup", "0", "--threads", "2", "--device", "cpu", "--json"], environment: environment)
        #expect(bench.status != 0 && bench.stderrText.contains("Error: not recorded for gpt2 plan: calibration file \(path) is not a list"),
                "\(bench.stderrText)")
        #expect(bench.stderrText.contains(" (GPT2_CALIBRATION chooses another file; --no-record records nothing)"), "\(bench.stderrText)")
        let measured = try #require(try JSONSerialization.jsonObject(with: bench.stdout) as? [String: Any])
        #expect((measured["tokens_per_s"] as? Double ?? 0) > 0)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "garbage\n")
    }

    @Test func benchCalibratesThePlansMFU() throws {
        let environment = try CLIFixtures.emptyCalibration()
        let bench = try runGPT2(arguments: ["bench", "--model", "tiny", "--micro-batch", "2", "--seq", "32", "--steps", "2",
                                            "--warmup", "1", "--threads", "2", "--device", "cpu", "--json"], environment: environment)
        #expect(bench.status == 0, "\(bench.stderrText)")
        let measured = try #require(try JSONSerialization.jsonObject(with: bench.stdout) as? [String: Any])
        let plan = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "2", "--model", "tiny", "--micro-batch", "2",
                                           "--seq", "32", "--steps", "10", "--json"], environment: environment)
        #expect(plan.status == 0, "\(plan.stderrText)")
        let object = try #require(try JSONSerialization.jsonObject(with: plan.stdout) as? [String: Any])
        #expect(object["mfu_calibrated"] as? Bool == true)
        // The bench timed the optimizer's part of the step apart; at the bench's own shape the plan gives back its
        // step time and MFU, and with 4 micro-batches per step it counts the micro-step four times, the optimizer once.
        let stepMS = try #require(measured["step_ms"] as? Double), optimizerMS = try #require(measured["optimizer_ms"] as? Double)
        #expect(optimizerMS > 0 && optimizerMS < stepMS, "\(measured)")
        func close(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) <= 1e-9 * abs(b) } ?? false }
        #expect(close(object["step_seconds"] as? Double, stepMS / 1000), "\(object)")
        #expect(close(object["mfu"] as? Double, try #require(measured["mfu"] as? Double)), "\(object)")
        #expect(close(object["optimizer_seconds"] as? Double, optimizerMS / 1000), "\(object)")
        let accumulating = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "2", "--model", "tiny", "--micro-batch", "2",
                                                   "--seq", "32", "--grad-accum", "4", "--steps", "10", "--json"], environment: environment)
        let fourMicroSteps = try #require(try JSONSerialization.jsonObject(with: accumulating.stdout) as? [String: Any])
        #expect(close(fourMicroSteps["step_seconds"] as? Double, (4 * (stepMS - optimizerMS) + optimizerMS) / 1000), "\(fourMicroSteps)")
        // Another model, with only tiny's record: the stated default, as tiny's MFU says little of small's.
        let small = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "2", "--model", "small", "--micro-batch", "2",
                                            "--seq", "32", "--steps", "10", "--json"], environment: environment)
        let smallPlan = try #require(try JSONSerialization.jsonObject(with: small.stdout) as? [String: Any])
        #expect(smallPlan["mfu_calibrated"] as? Bool == false && smallPlan["mfu"] as? Double == TimePlan.defaultCPUMFU
                && smallPlan["optimizer_seconds"] as? Double == 0, "\(smallPlan)")
        // the text names the measurement, and no longer says how to make one
        let text = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "2", "--model", "tiny", "--micro-batch", "2",
                                           "--seq", "32", "--steps", "10"], environment: environment).stdoutText
        #expect(text.contains("calibrated by gpt2 bench tiny B=2 T=32") && !text.contains("the MFU is a default")
                && !text.contains("another shape"), "\(text)")
        // --mfu replaces the measurement as it replaces the default (the optimizer's time with it)
        let given = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "2", "--model", "tiny", "--micro-batch", "2",
                                            "--seq", "32", "--steps", "10", "--json", "--mfu", "0.25"], environment: environment)
        let override = try #require(try JSONSerialization.jsonObject(with: given.stdout) as? [String: Any], "\(given.stderrText)")
        #expect(override["mfu_source"] as? String == "from --mfu" && override["micro_step_mfu"] as? Double == 0.25
                && override["optimizer_seconds"] as? Double == 0, "\(override)")
        // The record keeps the peak its MFU was measured against: a plan against another --peak-flops predicts the same
        // measured time (it scaled the time with the peak), and an MFU scaled to that peak.
        let againstOtherPeak = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "2", "--model", "tiny", "--micro-batch", "2",
                                                       "--seq", "32", "--steps", "10", "--json", "--peak-flops", "1e14"], environment: environment)
        let rescaled = try #require(try JSONSerialization.jsonObject(with: againstOtherPeak.stdout) as? [String: Any], "\(againstOtherPeak.stderrText)")
        #expect(close(rescaled["step_seconds"] as? Double, stepMS / 1000), "\(rescaled)")
        let benchPeak = try #require(measured["peak_flops"] as? Double)
        #expect(close(rescaled["mfu"] as? Double, try #require(measured["mfu"] as? Double) * benchPeak / 1e14), "\(rescaled)")
        // without --peak-flops the peak is the device's: a CPU plan for twice the threads keeps the MFU and halves the time
        let fourThreads = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "4", "--model", "tiny", "--micro-batch", "2",
                                                  "--seq", "32", "--steps", "10", "--json"], environment: environment)
        let scaled = try #require(try JSONSerialization.jsonObject(with: fourThreads.stdout) as? [String: Any], "\(fourThreads.stderrText)")
        #expect(close(scaled["micro_step_mfu"] as? Double, try #require(object["micro_step_mfu"] as? Double)), "\(scaled)")
        // A newer bench of another shape does not take over the plan of the shape measured, and does set its own shape's.
        var calibration = try CalibrationFile(path: try #require(environment["GPT2_CALIBRATION"]))
        try calibration.append(CalibrationRecord(device: "cpu", kind: "cpu", model: "tiny", microBatch: 1, seq: 16, mfu: 0.001, tokensPerSecond: 1))
        let sameShape = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "2", "--model", "tiny", "--micro-batch", "2",
                                                "--seq", "32", "--steps", "10", "--json"], environment: environment)
        let unchanged = try #require(try JSONSerialization.jsonObject(with: sameShape.stdout) as? [String: Any], "\(sameShape.stderrText)")
        #expect(close(unchanged["mfu"] as? Double, try #require(measured["mfu"] as? Double)), "\(unchanged)")
        let newShape = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "2", "--model", "tiny", "--micro-batch", "1",
                                               "--seq", "16", "--steps", "10", "--json"], environment: environment)
        let recalibrated = try #require(try JSONSerialization.jsonObject(with: newShape.stdout) as? [String: Any], "\(newShape.stderrText)")
        #expect(recalibrated["micro_step_mfu"] as? Double == 0.001, "\(recalibrated)")
        // a plan of a shape not measured uses the model's record nearest in tokens per micro-batch (2 × 32 for 4 × 64, not
        // the newer 1 × 16) and says how to measure its own
        let otherShape = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "2", "--model", "tiny", "--micro-batch", "4",
                                                 "--seq", "64", "--steps", "10"], environment: environment).stdoutText
        #expect(otherShape.contains("calibrated by gpt2 bench tiny B=2 T=32") && otherShape.contains(
            "the MFU was measured at another shape: gpt2 bench --device cpu --threads 2 --model tiny --micro-batch 4 --seq 64 on this machine"),
            "\(otherShape)")
        // a bench on other threads is said, and counts as another shape (threads scale less than their peak)
        let oneThread = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "1", "--model", "tiny", "--micro-batch", "2",
                                                "--seq", "32", "--steps", "10"], environment: environment).stdoutText
        #expect(oneThread.contains("calibrated by gpt2 bench tiny B=2 T=32 on 2 threads") && oneThread.contains(
            "the MFU was measured at another shape: gpt2 bench --device cpu --threads 1 --model tiny --micro-batch 2 --seq 32"), "\(oneThread)")
        // and once a bench of that shape on 1 thread is recorded, a 1-thread plan takes it, though a 2-thread one is newer
        try calibration.append(CalibrationRecord(device: "cpu", kind: "cpu", model: "tiny", microBatch: 2, seq: 32, mfu: 0.002,
                                                 tokensPerSecond: 1, peakFLOPs: FLOPCount.cpuPeak(threads: 1)))
        try calibration.append(CalibrationRecord(device: "cpu", kind: "cpu", model: "tiny", microBatch: 2, seq: 32, mfu: 0.003,
                                                 tokensPerSecond: 1, peakFLOPs: FLOPCount.cpuPeak(threads: 2)))
        let ownThreads = try runGPT2(arguments: ["plan", "--device", "cpu", "--threads", "1", "--model", "tiny", "--micro-batch", "2",
                                                 "--seq", "32", "--steps", "10", "--json"], environment: environment)
        let taken = try #require(try JSONSerialization.jsonObject(with: ownThreads.stdout) as? [String: Any], "\(ownThreads.stderrText)")
        #expect(taken["micro_step_mfu"] as? Double == 0.002, "\(taken)")
    }

    /// A bench that accumulates calibrates the plan too: at its own shape (3 micro-batches per step) the plan gives back
    /// its step time, and at one micro-batch per step a third of its micro-steps' time plus the optimizer's.
    @Test func benchWithAccumulationCalibratesThePlan() throws {
        let environment = try CLIFixtures.emptyCalibration()
        let common = ["--device", "cpu", "--threads", "2", "--model", "tiny", "--micro-batch", "2", "--seq", "32"]
        let bench = try runGPT2(arguments: ["bench"] + common + ["--grad-accum", "3", "--steps", "2", "--warmup", "1", "--json"],
                                environment: environment)
        try #require(bench.status == 0, "\(bench.stderrText)")
        let measured = try #require(try JSONSerialization.jsonObject(with: bench.stdout) as? [String: Any])
        #expect(measured["grad_accum"] as? Int == 3)
        let stepMS = try #require(measured["step_ms"] as? Double), optimizerMS = try #require(measured["optimizer_ms"] as? Double)
        func planStep(_ accumulation: Int) throws -> Double? {
            let plan = try runGPT2(arguments: ["plan"] + common + ["--grad-accum", "\(accumulation)", "--steps", "1", "--json"],
                                   environment: environment)
            let object = try JSONSerialization.jsonObject(with: plan.stdout) as? [String: Any]
            #expect((object?["mfu_source"] as? String)?.contains("tiny B=2 T=32 A=3") == true, "\(plan.stdoutText)")
            return object?["step_seconds"] as? Double
        }
        func close(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) <= 1e-9 * abs(b) } ?? false }
        #expect(close(try planStep(3), stepMS / 1000))
        #expect(close(try planStep(1), ((stepMS - optimizerMS) / 3 + optimizerMS) / 1000))
        let bad = try runGPT2(arguments: ["bench"] + common + ["--grad-accum", "0"], environment: environment)
        expectOneLineError(bad, mentioning: "--grad-accum")
    }

    /// auto picks the largest micro-batch that fits and divides the total batch: 128 tokens at T=32 → 4 × 1.
    @Test func trainMicroBatchAutoKeepsTheTotalBatch() throws {
        let root = try TestPaths.temporaryDirectory("cli-auto").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var arguments = try CLIFixtures.trainArguments(out: root + "/run", steps: 1, extra: ["--total-batch-tokens", "128"])
        arguments[arguments.firstIndex(of: "--micro-batch")! + 1] = "auto"
        let result = try runGPT2(arguments: arguments)
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stderrText.contains("--micro-batch auto: 4 × 1 accumulation"), "\(result.stderrText)")
        #expect(result.stderrText.contains("plan: fits"), "\(result.stderrText)")
        // with no total, the default step of 8 sequences (the largest micro-batch that fits a CPU's memory was tens of
        // thousands of sequences, more than the data holds)
        arguments = try CLIFixtures.trainArguments(out: root + "/default", steps: 1)
        arguments[arguments.firstIndex(of: "--micro-batch")! + 1] = "auto"
        let plain = try runGPT2(arguments: arguments)
        #expect(plain.status == 0 && plain.stderrText.contains("--micro-batch auto: 8 × 1 accumulation (the largest micro-batch that divides the step's 8 sequences"),
                "\(plain.stderrText)")
    }

    /// auto picks no micro-batch larger than one batch of the smallest shard the run reads: the validation split's
    /// 32,768 tokens hold 1,023 sequences of 32, so a step of 2,048 sequences is 512 × 4 where the run evaluates
    /// (the loader refused the 2,048 that fit memory), and 2,048 × 1 where it does not.
    @Test func trainMicroBatchAutoFitsTheShards() throws {
        let root = try TestPaths.temporaryDirectory("cli-auto-shards").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func train(_ out: String, evalEvery: String) throws -> CommandResult {
            var arguments = try CLIFixtures.trainArguments(out: root + "/" + out, steps: 1,
                                                           extra: ["--total-batch-tokens", "65536", "--eval-batches", "1"])
            arguments[arguments.firstIndex(of: "--micro-batch")! + 1] = "auto"
            arguments[arguments.firstIndex(of: "--eval-every")! + 1] = evalEvery
            return try runGPT2(arguments: arguments)
        }
        let evaluating = try train("eval", evalEvery: "1")
        #expect(evaluating.status == 0, "\(evaluating.stderrText)")
        #expect(evaluating.stderrText.contains("--micro-batch auto: 512 × 4 accumulation")
                && evaluating.stderrText.contains("at most the 1023 sequences of 32 that tinyshakespeare_val_000000.bin (32768 tokens) holds"),
                "\(evaluating.stderrText)")
        let trainingOnly = try train("train", evalEvery: "0")
        #expect(trainingOnly.status == 0 && trainingOnly.stderrText.contains("--micro-batch auto: 2048 × 1 accumulation (the largest micro-batch that divides the step's 2048 sequences and fits"),
                "\(trainingOnly.stderrText)")
    }
}
