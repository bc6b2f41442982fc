/// `gpt2 train` end to end: two runs never share a run folder, bad input fails with one clear line without
/// touching the run folder, and what a run leaves (peak memory, checkpoints --keep-last cannot remove) is reported.
/// Resuming is in TrainResumeCommandTests.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct TrainCommandTests {
    /// An empty path is refused in every command, before anything is read or written: `--out ""` wrote `/ckpt_1`,
    /// `/metrics.jsonl` and `/.lock`, prepare's shards went into `/`, and eval read `/*_val_*.bin`.
    @Test(arguments: [["train", "--out", ""], ["train", "--data="], ["train", "--resume", ""], ["train", "--init-from", ""],
                      ["prepare", "--out", ""], ["export", "--checkpoint", "x", "--out", ""], ["eval", "--checkpoint", "x", "--data", ""],
                      ["sample", "--checkpoint="], ["tokenize", "--vocab-dir", ""], ["tokenize", "--mirror", ""],
                      ["selftest", "cuda", "--work", ""]])
    func anEmptyPathIsRefused(_ arguments: [String]) throws {
        let option = arguments.last!.isEmpty ? arguments[arguments.count - 2] : String(arguments.last!.dropLast())
        expectOneLineError(try runGPT2(arguments: arguments), mentioning: "\(option) needs a path, and was given an empty one")
    }

    /// The shape of --init-from's weights replaces --model's: a --model that says otherwise is refused before anything is
    /// written (`--model d12 --init-from` a d6 trained the d6 without a word), and one that agrees is taken.
    @Test func aModelThatDisagreesWithInitFromIsRefused() throws {
        let weights = try CLIFixtures.trainedRun()   // (tiny: L=2 NH=2 C=32 maxT=64)
        let root = try TestPaths.temporaryDirectory("cli-init-from-model").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var arguments = try CLIFixtures.trainArguments(out: root + "/run", steps: 1, extra: ["--init-from", weights])
        let model = try #require(arguments.firstIndex(of: "--model")) + 1
        arguments[model] = "small"
        expectOneLineError(try runGPT2(arguments: arguments),
                           mentioning: "and --init-from \(weights) holds L=2 NH=2 C=32 maxT=64, the shape the run takes; drop --model")
        #expect(!FileManager.default.fileExists(atPath: root + "/run"))
        arguments[model] = "tiny"
        let agreeing = try runGPT2(arguments: arguments)
        #expect(agreeing.status == 0, "\(agreeing.stderrText)")
        // tiny's shape with another padding of the vocabulary: the message tells the two apart by it
        var unpadded = try ModelPreset.named("tiny").config
        unpadded.paddedVocabularySize = unpadded.vocabularySize
        let file = root + "/unpadded.bin"
        try LLMCModelFile.write(path: file, config: unpadded, parameters: [Float](repeating: 0.01, count: unpadded.parameterCount))
        arguments[try #require(arguments.firstIndex(of: "--init-from")) + 1] = file
        expectOneLineError(try runGPT2(arguments: arguments + ["--overwrite"]),
                           mentioning: "--model tiny is L=2 NH=2 C=32 maxT=64 V=50257 Vp=50304, and --init-from \(file) holds "
                               + "L=2 NH=2 C=32 maxT=64 V=50257 Vp=50257, the shape the run takes; drop --model")
    }

    /// Weights of a context shorter than the defaults of --seq and --sample-tokens train and sample with both shortened
    /// to it (--sample-tokens kept its 64, and the run was refused for an option it was never given).
    @Test func aShortContextShortensTheDefaults() throws {
        let root = try TestPaths.temporaryDirectory("cli-short-context").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var short = try ModelPreset.named("tiny").config
        short.maxSequenceLength = 16
        let file = root + "/short.bin"
        try LLMCModelFile.write(path: file, config: short, parameters: [Float](repeating: 0.01, count: short.parameterCount))
        let arguments = ["train", "--init-from", file, "--micro-batch", "2", "--steps", "1", "--eval-every", "0", "--sample-every", "1",
                         "--threads", "2", "--device", "cpu", "--data", try ShakespeareShards.directory(), "--out", root + "/run",
                         "--mirror", TestPaths.mirror.path]
        let result = try runGPT2(arguments: arguments)
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stderrText.contains("batch: 2 × 16 tokens"), "\(result.stderrText)")
        let saved = try Checkpoint.readState(root + "/run/ckpt_1", as: TrainerState.self)
        #expect(saved.options.sampleTokens == 16 && saved.options.sequenceLength == 16)
    }

    /// A checkpoint folder is refused as --out, with --overwrite too: a new run there trained nested inside the checkpoint
    /// (and went with it when its own run's --keep-last removed it).
    @Test func aCheckpointFolderIsNoOut() throws {
        try CLIFixtures.withTwoStepRun("cli-out-checkpoint") { _, run, _ in
            let checkpoint = run + "/ckpt_2"
            let before = try FileManager.default.contentsOfDirectory(atPath: checkpoint).sorted()
            for extra in [[], ["--overwrite"]] {
                expectOneLineError(try runGPT2(arguments: try CLIFixtures.trainArguments(out: checkpoint, steps: 1, extra: extra)),
                                   mentioning: "--out \(checkpoint) is a checkpoint folder of the run in \(run), not a run folder")
            }
            // nor a folder inside one, new or not (a run there went with the checkpoint, and only its removal was logged)
            try FileManager.default.createDirectory(atPath: checkpoint + "/kept", withIntermediateDirectories: true)
            let withFolder = before + ["kept"]
            for inside in [checkpoint + "/sub", checkpoint + "/kept", checkpoint + "/kept/../sub/deeper"] {
                expectOneLineError(try runGPT2(arguments: try CLIFixtures.trainArguments(out: inside, steps: 1)),
                                   mentioning: "is inside \(checkpoint), a checkpoint folder of the run in \(run)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: checkpoint).sorted() == withFolder.sorted())
            // a folder that merely holds a state.json (another tool's) is no checkpoint
            try Data("{}".utf8).write(to: URL(fileURLWithPath: run + "/../state.json"))
            let beside = try runGPT2(arguments: try CLIFixtures.trainArguments(out: run + "/../project/runs/r1", steps: 1))
            #expect(beside.status == 0, "\(beside.stderrText)")
        }
    }

    /// An --out under a file says that is not a folder (mkdir's EEXIST on the file said "File exists").
    @Test func anOutUnderAFileIsNotAFolder() throws {
        let root = try TestPaths.temporaryDirectory("cli-out-under-file").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/afile"))
        expectOneLineError(try runGPT2(arguments: try CLIFixtures.trainArguments(out: root + "/afile/run")),
                           mentioning: "\(root)/afile/run: Not a directory")
    }

    /// A checkpoint --keep-last cannot remove (another user's, here) is warned of, and the run goes on: it was left
    /// hidden as .ckpt_STEP.removed without a word, taking the space --keep-last was given to free. Run as nobody, so
    /// that the removal can fail; needs root to switch to that user.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root and setpriv"))
    func aCheckpointKeepLastCannotRemoveIsWarnedOf() throws {
        let root = try TestPaths.temporaryDirectory("cli-keep-last-warning").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.copyItem(atPath: try ShakespeareShards.directory(), toPath: root + "/data")
        for path in [root, root + "/data"] + (try FileManager.default.contentsOfDirectory(atPath: root + "/data")).map({ root + "/data/" + $0 }) {
            chmod(path, 0o777)
        }
        func asNobody(_ arguments: [String]) throws -> CommandResult {
            try runCommand("/usr/bin/setpriv", arguments: ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                           buildProductsDirectory.appendingPathComponent("gpt2").path] + arguments,
                           environment: ["HOME": root, "PATH": "/usr/bin:/bin"])
        }
        var arguments = try CLIFixtures.trainArguments(out: root + "/run", steps: 2, extra: ["--checkpoint-every", "1", "--keep-last", "1"])
        arguments[try #require(arguments.firstIndex(of: "--data")) + 1] = root + "/data"
        let first = try asNobody(arguments + ["--stop-after", "1"])
        try #require(first.status == 0, "\(first.stderrText)")
        chown(root + "/run/ckpt_1", 0, 0)   // (its files can no longer be unlinked by nobody)
        let resumed = try asNobody(["train", "--resume", root + "/run"])
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        #expect(resumed.stderrText.contains("warning: --keep-last could not remove checkpoint 1 (cannot remove \(root)/run/.ckpt_1.removed: "
                                            + "Permission denied); remove it yourself to free its space"), "\(resumed.stderrText)")
        #expect(Checkpoint.steps(in: root + "/run") == [2])
    }

    /// With no --seq, train uses 128 tokens or the model's context if that is shorter: `--model tiny` (context 64)
    /// failed out of the box with "--seq 128 is longer than the model's context".
    @Test func theDefaultSequenceFitsTheModelsContext() throws {
        let root = try TestPaths.temporaryDirectory("cli-default-seq").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var arguments = try CLIFixtures.trainArguments(out: root + "/run", steps: 1)
        arguments.removeSubrange(arguments.firstIndex(of: "--seq")!...arguments.firstIndex(of: "--seq")! + 1)
        let result = try runGPT2(arguments: arguments)
        #expect(result.status == 0 && result.stderrText.contains("batch: 2 × 64 tokens"), "\(result.stderrText)")
    }

    /// A file-size limit (ulimit -f) reached by a save is reported as a failed save, as a full disk is, instead of the
    /// signal (SIGXFSZ) killing the process without a word.
    @Test func aFileSizeLimitIsReportedLikeAFullDisk() throws {
        let root = try TestPaths.temporaryDirectory("cli-file-limit").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let gpt2 = buildProductsDirectory.appendingPathComponent("gpt2").path
        let arguments = try CLIFixtures.trainArguments(out: root + "/run", steps: 1)
        let result = try runCommand("bash", arguments: ["-c", "ulimit -f 1024 && exec \"$@\"", "bash", gpt2] + arguments)
        #expect(result.status == 1 && result.stderrText.contains("Error: could not save ckpt_1")
                && result.stderrText.contains("File too large"), "\(result.stderrText)")
    }

    /// A metrics row the file-size limit cuts part-way is taken back off: the run stops with a message and metrics.jsonl
    /// is left as it was, whole rows only. The resumed run's log is padded (with rows of step 1) to 40 bytes short of
    /// the limit, so step 2's row (~130 bytes) is the write the limit cuts, after its first 40 bytes.
    @Test func aMetricsRowCutByTheFileSizeLimitIsTakenBackOff() throws {
        let root = try TestPaths.temporaryDirectory("cli-metrics-limit").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run", metricsPath = root + "/run/metrics.jsonl"
        try #require(try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, steps: 1)).status == 0)
        var metrics = try Data(contentsOf: URL(fileURLWithPath: metricsPath))
        let (blocks, short) = (4, 40)   // ulimit -f counts 1024-byte blocks
        while metrics.count < blocks * 1024 - short {   // rows of 200 bytes, the last one the rest (20 bytes are not filler)
            let room = blocks * 1024 - short - metrics.count
            let filler = String(repeating: "x", count: (room > 400 ? 200 : room) - 20)
            metrics.append(Data("{\"step\":1,\"pad\":\"\(filler)\"}\n".utf8))
        }
        try #require(metrics.count == blocks * 1024 - short, "padded to \(metrics.count) bytes")
        try metrics.write(to: URL(fileURLWithPath: metricsPath))
        let gpt2 = buildProductsDirectory.appendingPathComponent("gpt2").path
        let result = try runCommand("bash", arguments: ["-c", "ulimit -f \(blocks) && exec \"$@\"", "bash", gpt2,
                                                        "train", "--resume", run, "--steps", "2"])
        #expect(result.status == 1 && result.stderrText.contains("Error: could not write \(metricsPath)")
                && result.stderrText.contains("File too large"), "\(result.stderrText)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: metricsPath)) == metrics, "metrics.jsonl changed")
    }

    /// A diverging run stops at the first step whose loss or gradient norm is not finite, before that step is recorded
    /// or saved (`CLIFixtures.expectDivergingRunStops`). With no warm-up, a learning rate of 1e10 makes the second
    /// step's loss NaN; one of 1e4 makes its loss ~1e9 and its gradients' norm overflow fp32 (the clip then scaled
    /// every gradient by 0, an update of nothing, and the run went on). The GPU's case is in CUDACommandTests.
    @Test(arguments: [("1e10", "the loss became NaN at step"), ("1e4", "the gradient norm became inf at step")])
    func aDivergingRunStopsBeforeItsFirstNonFiniteStepIsKept(_ learningRate: String, _ phrase: String) throws {
        try CLIFixtures.expectDivergingRunStops(learningRate: learningRate, saying: phrase)
    }

    /// A folder another gpt2 train is working in is refused as in use, not as holding an earlier run to --resume or
    /// --overwrite (which that one's lock then refused in turn).
    @Test func aFolderInUseIsRefusedAsInUse() throws {
        try CLIFixtures.withTwoStepRun("cli-in-use") { root, run, metrics in
            let descriptor = open(run + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            try #require(descriptor >= 0 && flock(descriptor, LOCK_EX) == 0)
            defer { close(descriptor) }
            let inUse = "\(run) is in use by another gpt2 train"
            expectOneLineError(try runGPT2(arguments: try CLIFixtures.trainArguments(out: run)), mentioning: inUse)
            expectOneLineError(try runGPT2(arguments: ["train", "--resume", run + "/ckpt_2"]), mentioning: inUse)
            // (its checkpoints come and go while it trains: one pruned a moment ago is not what the resume reports)
            try Checkpoint.remove(step: 2, in: run)
            expectOneLineError(try runGPT2(arguments: ["train", "--resume", run]), mentioning: inUse)
        }
    }


    /// A negative number given to an option reaches that option's own check (the parser alone read `--lr -1` and
    /// `--lr -inf` as "Missing value for '--lr'"), and the demo's options are checked before its corpus is prepared: a mistyped
    /// option in a fresh folder fails at once and leaves the folder empty. `--opt=-1` and a value that is not a
    /// number keep the parser's handling.
    @Test(arguments: [(["--lr", "-1"], "--lr must be a positive number (got -1.0)"),
                      (["--clip", "-0.5"], "--clip must be 0 (off) or a positive number (got -0.5)"),
                      (["--min-lr-fraction", "-1e-2"], "--min-lr-fraction must be between 0 and 1"),
                      (["--lr", "-1e+3"], "--lr must be a positive number (got -1000.0)"),
                      (["--warmup=-3"], "--warmup must not be negative"),
                      (["--steps", "0"], "--steps must be positive (got 0)"),
                      (["--lr", "-inf"], "--lr must be a positive number (got -inf)"),
                      (["--lr", "0.1", "--weight-decay", "20"], "--weight-decay 20.0 with --lr 0.1 takes 200% of each decayed weight off it")])
    func badValuesFailAtOnceWithTheirOptionsCheck(_ arguments: [String], _ phrase: String) throws {
        let root = try TestPaths.temporaryDirectory("cli-negative").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        expectOneLineError(try runGPT2(arguments: ["train", "--device", "cpu"] + arguments, workingDirectory: root),
                           mentioning: phrase)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).isEmpty, "nothing prepared or written")
    }

    /// A limit on the process's memory is planned for, as the host's free memory is: under `ulimit -d` a d12 run that
    /// the host could hold aborted in its first allocation ("Fatal error: failed to allocate"), leaving a run folder
    /// holding a lock. It is refused before anything is written, with a note naming the limit. `ulimit -v` limits
    /// address space, which the data's mappings take too: it is named in a note, not planned for (planned for, a run
    /// the plan passed spun forever in OpenBLAS once FineWeb-sized shards were mapped).
    @Test func aMemoryLimitOnTheProcessIsPlannedFor() throws {
        let root = try TestPaths.temporaryDirectory("cli-ulimit").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let gpt2 = buildProductsDirectory.appendingPathComponent("gpt2").path
        let command = "ulimit -d 1500000 && exec \"$0\" train --device cpu --data \"$1\" --model d12 --seq 64 --micro-batch 1 "
            + "--steps 1 --out \"$2\" --sample-every 0 --eval-every 0 --threads 2"
        let result = try runCommand("/bin/sh", arguments: ["-c", command, gpt2, try ShakespeareShards.directory(), root + "/run"])
        #expect(result.status == 1 && result.stderrText.contains("Error: micro-batch 1 × seq 64 does not fit: "), "\(result.stderrText)")
        #expect(result.stderrText.contains("note: ") && result.stderrText.contains(" of memory is left to gpt2 by ulimit -d 1500000 (RLIMIT_DATA"),
                "\(result.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: root + "/run"))
        let plan = try runCommand("/bin/sh", arguments: ["-c", "ulimit -v 1800000 && exec \"$0\" plan --device cpu --threads 2 --model small "
                                                         + "--micro-batch 16 --seq 256", gpt2])
        #expect(plan.status == 0 && plan.stderrText.contains("note: ulimit -v 1800000 limits this process's address space to "),
                "\(plan.stderrText)")
    }

    /// A value a 32-bit float cannot hold is refused as typed, by the parser: `--clip 1e-50` became 0 and switched
    /// clipping off, and `--lr 1e39` was refused as "(got inf)", a value nobody typed. So is a hexadecimal one.
    @Test(arguments: [(["train", "--clip", "1e-50"], "The value '1e-50' is invalid for '--clip <clip>': 1e-50 is nearer 0 than a 32-bit float holds at full precision"),
                      (["train", "--lr", "1e39"], "The value '1e39' is invalid for '--lr <lr>': 1e39 is beyond what a 32-bit float holds"),
                      (["train", "--weight-decay", "1e-300"], "The value '1e-300' is invalid for '--weight-decay <weight-decay>'"),
                      (["sample", "--checkpoint", "x", "--temperature", "1e308"], "The value '1e308' is invalid for '--temperature <temperature>'"),
                      // and hexadecimal, which Double reads (0x10 trained with weight decay 16), as the integer options refuse it
                      (["train", "--weight-decay", "0x10"], "The value '0x10' is invalid for '--weight-decay <weight-decay>': '0x10' is not a decimal number"),
                      (["train", "--lr", "0x1p-10"], "The value '0x1p-10' is invalid for '--lr <lr>'"),
                      (["plan", "--mfu", "0x0.8p0"], "The value '0x0.8p0' is invalid for '--mfu <mfu>'"),
                      (["plan", "--peak-flops", "0x1p70"], "The value '0x1p70' is invalid for '--peak-flops <peak-flops>'")])
    func aValueNoFloatHoldsIsRefusedAsTyped(_ arguments: [String], _ phrase: String) throws {
        let result = try runGPT2(arguments: arguments)
        #expect(result.status == 64 && result.stderrText.hasPrefix("Error: " + phrase), "\(result.stderrText)")
    }

    /// What the joining leaves alone: a negative number after a flag is still refused by the parser, naming the
    /// flag, and an option with no value at all is still "Missing value".
    @Test func negativeNumbersAfterFlagsStayParseErrors() throws {
        let flag = try runGPT2(arguments: ["train", "--recompute", "-1"])
        #expect(flag.status != 0 && flag.stderrText.contains("'--recompute' does not take any value"), "\(flag.stderrText)")
        let missing = try runGPT2(arguments: ["train", "--lr"])
        #expect(missing.status != 0 && missing.stderrText.contains("Missing value for '--lr"), "\(missing.stderrText)")
        // after a `--` terminator every word is an argument as given: two inputs to prepare, "--name" and "-1", not one
        let root = try TestPaths.temporaryDirectory("cli-terminator").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let terminated = try runGPT2(arguments: ["prepare", "--mirror", TestPaths.mirror.path, "--", "--name", "-1"], workingDirectory: root)
        expectOneLineError(terminated, mentioning: "Error: --name is neither a file nor a dataset name")
        // nor is an empty word there an empty path given to an option (the inputs are "--out" and "")
        let emptyAfter = try runGPT2(arguments: ["prepare", "--mirror", TestPaths.mirror.path, "--", "--out", ""], workingDirectory: root)
        expectOneLineError(emptyAfter, mentioning: "Error: --out is neither a file nor a dataset name")
    }

    /// Without --data, train prepares tinyshakespeare into data/tinyshakespeare of the working folder (as the README
    /// says) and trains on it.
    @Test func withoutDataTheDemoCorpusIsPreparedInDataTinyshakespeare() throws {
        let root = try TestPaths.temporaryDirectory("cli-demo-data").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var arguments = try CLIFixtures.trainArguments(out: root + "/run", steps: 1, extra: ["--mirror", TestPaths.mirror.path])
        arguments.removeSubrange(arguments.firstIndex(of: "--data")!...(arguments.firstIndex(of: "--data")! + 1))
        let result = try runGPT2(arguments: arguments, workingDirectory: root)
        #expect(result.status == 0, "\(result.stderrText)")
        for split in ["val", "train"] {
            let shard = root + "/data/tinyshakespeare/tinyshakespeare_\(split)_000000.bin"
            #expect(FileManager.default.fileExists(atPath: shard), "\(shard)")
        }
    }

    /// Training with a warm-up longer than the run says so once, with the rate the last step then logs in metrics.jsonl.
    @Test func aWarmUpLongerThanTheRunIsNoted() throws {
        let root = try TestPaths.temporaryDirectory("cli-warmup").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let result = try runGPT2(arguments: try CLIFixtures.trainArguments(out: root + "/run", steps: 2,
                                                                            extra: ["--warmup", "8", "--lr", "4e-3"]))
        #expect(result.status == 0, "\(result.stderrText)")
        let notes = result.stderrText.split(separator: "\n").filter { $0.hasPrefix("note: the warm-up") }
        #expect(notes.count == 1, "\(result.stderrText)")
        struct Row: Decodable { var lr: Double? }
        let rates = try CLIFixtures.metricsRows(root + "/run", as: Row.self).compactMap(\.lr)
        #expect(rates.count == 2 && abs(rates[1] - 1e-3) < 1e-9, "4e-3 · 2/8: \(rates)")
        #expect(notes.first?.contains("the learning rate only rises, to 1.00e-03 at the last step (peak 4.00e-03)") == true, "\(notes)")
    }

    /// Each option a run saves (and a resume keeps) is the value given on the command line, none of them left at its
    /// default: the options are given values other than the defaults `--help` lists, and read back from the run's last
    /// checkpoint; --checkpoint-every 1 with --keep-last 2 leaves the checkpoints of the last two of the three steps.
    @Test func theGivenOptionsAreTheRunsSavedOptions() throws {
        let root = try TestPaths.temporaryDirectory("cli-options").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var arguments = try CLIFixtures.trainArguments(out: root + "/run", steps: 3, extra: [
            "--grad-accum", "2", "--lr", "2e-3", "--warmup", "1", "--min-lr-fraction", "0.25", "--schedule", "wsd",
            "--weight-decay", "0.05", "--clip", "0.5", "--seed", "7", "--no-shuffle", "--recompute", "--eval-batches", "1",
            "--sample-tokens", "5", "--checkpoint-every", "1", "--keep-last", "2", "--peak-flops", "2e12"])
        arguments[arguments.firstIndex(of: "--eval-every")! + 1] = "3"
        let result = try runGPT2(arguments: arguments)
        try #require(result.status == 0, "\(result.stderrText)")
        #expect(Checkpoint.steps(in: root + "/run") == [2, 3])
        let saved = try SavedRun(checkpoint: root + "/run/ckpt_3").options
        #expect(saved.microBatch == 2 && saved.sequenceLength == 32 && saved.gradientAccumulation == 2)
        #expect(saved.schedule == LearningRateSchedule(shape: .wsd, maxLearningRate: 2e-3, minFraction: 0.25, warmupSteps: 1, totalSteps: 3))
        #expect(saved.weightDecay == 0.05 && saved.clipNorm == 0.5 && saved.seed == 7 && !saved.shuffle && saved.recompute)
        #expect(saved.evalEvery == 3 && saved.evalBatches == 1 && saved.sampleEvery == 0 && saved.sampleTokens == 5)
        #expect(saved.checkpointEvery == 1 && saved.keepLast == 2)
        #expect(saved.peakFLOPs == 2e12 && saved.peakFLOPsGiven == true && saved.threads == 2 && saved.device == "cpu")
    }

    /// A run's peak memory, logged at its end, stays near the plan's total (within −30 % and +25 %), through a checkpoint save and a
    /// resume: the weights and AdamW moments move between the model's buffers and the files in pieces. (Whole host
    /// copies of the three vectors, as saving and loading once made, put d12's peak 1.4 GiB, 55 %, above its plan.)
    @Test func peakMemoryStaysNearThePlanThroughSaveAndResume() throws {
        let root = try TestPaths.temporaryDirectory("cli-memory").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var arguments = try CLIFixtures.trainArguments(out: root + "/run", steps: 1)
        arguments[arguments.firstIndex(of: "--model")! + 1] = "d6"   // 30M parameters: 475 MiB of buffers at T=32
        arguments[arguments.firstIndex(of: "--micro-batch")! + 1] = "1"
        for run in [arguments, ["train", "--resume", root + "/run", "--steps", "2", "--threads", "2", "--device", "cpu"]] {
            let result = try runGPT2(arguments: run)
            #expect(result.status == 0, "\(result.stderrText)")
            let line = try #require(result.stderrText.split(separator: "\n").first { $0.hasPrefix("peak memory ") }, "\(result.stderrText)")
            let words = line.split(separator: " ")   // "peak memory 509.0 MiB (…; the plan: 587.0 MiB)"
            let units = ["KiB": 1024.0, "MiB": 1048576.0, "GiB": 1073741824.0]
            let sizes = zip(words, words.dropFirst()).compactMap { number, unit in
                Double(number).flatMap { value in units[String(unit.prefix(3))].map { value * $0 } }
            }
            try #require(sizes.count == 2, "peak and plan in: \(line)")
            #expect(sizes[0] < 1.25 * sizes[1] && sizes[0] > 0.7 * sizes[1], "\(line)")
        }
    }

    /// When the tokenizer a run's samples need cannot be had on a resume (an empty mirror here), the error says what
    /// needs it and offers --sample-every 0, which a resume takes: the run then goes on without samples.
    @Test func aResumeThatCannotFetchTheTokenizerSaysWhatNeedsIt() throws {
        let root = try TestPaths.temporaryDirectory("cli-resume-offline").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let started = try runGPT2(arguments: try CLIFixtures.trainArguments(out: root + "/run", steps: 2,
                                                                            extra: ["--sample-every", "5", "--stop-after", "1"]))
        try #require(started.status == 0, "\(started.stderrText)")
        try FileManager.default.createDirectory(atPath: root + "/empty-mirror", withIntermediateDirectories: true)
        let resumed = try runGPT2(arguments: ["train", "--resume", root + "/run", "--device", "cpu", "--mirror", root + "/empty-mirror"])
        expectOneLineError(resumed, mentioning: "missing from the data mirror")
        expectOneLineError(resumed, mentioning: "(for the text samples; --sample-every 0 trains without them)")
        #expect(Checkpoint.steps(in: root + "/run") == [1])
        let offline = try runGPT2(arguments: ["train", "--resume", root + "/run", "--device", "cpu", "--mirror", root + "/empty-mirror",
                                              "--sample-every", "0"])
        #expect(offline.status == 0, "\(offline.stderrText)")
        #expect(Checkpoint.steps(in: root + "/run") == [1, 2])
    }

    /// A new run refuses a folder that holds a run (it would truncate its metrics and leave its later checkpoints for
    /// --resume to pick up); a resume refuses options it would ignore, and an earlier checkpoint while later ones
    /// exist; --overwrite replaces the run and only the run, or what came after the checkpoint.
    @Test func aRunFolderNeverMixesTwoRuns() throws {
        try CLIFixtures.withTwoStepRun("cli-mix") { root, run, metrics in
            try Data("kept".utf8).write(to: URL(fileURLWithPath: run + "/notes.txt"))

            expectOneLineError(try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, steps: 1)), mentioning: "--overwrite")
            expectOneLineError(try runGPT2(arguments: ["train", "--resume", run, "--steps", "3", "--lr", "0.01", "--device", "cpu"]),
                               mentioning: "--lr")
            #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl")) == metrics)
            #expect(Checkpoint.steps(in: run) == [2])

            // --overwrite fetches what the run needs (here the tokenizer for its samples, or the HellaSwag items, from an
            // empty mirror) before it removes anything: it removed the run, then failed. The error names the option
            // that needs the file.
            let emptyMirror = root + "/empty-mirror"
            try FileManager.default.createDirectory(atPath: emptyMirror, withIntermediateDirectories: true)
            for (option, what) in [("--sample-every", "the text samples"), ("--eval-hellaswag-every", "the HellaSwag scores")] {
                let failing = try runGPT2(arguments: try CLIFixtures.trainArguments(
                    out: run, steps: 1, extra: ["--overwrite", option, "1", "--mirror", emptyMirror]))
                expectOneLineError(failing, mentioning: "missing from the data mirror")
                expectOneLineError(failing, mentioning: "(for \(what); \(option) 0 trains without them)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl")) == metrics)
                #expect(Checkpoint.steps(in: run) == [2])
            }

            let replaced = try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, steps: 1, extra: ["--overwrite"]))
            #expect(replaced.status == 0, "\(replaced.stderrText)")
            #expect(Checkpoint.steps(in: run) == [1])
            #expect(try CLIFixtures.losses(run).count == 1)
            #expect(try String(contentsOfFile: run + "/notes.txt", encoding: .utf8) == "kept")

            // Back to an earlier checkpoint: refused while later ones exist (the next resume would pick them up);
            // --overwrite drops them and the later metrics, and the run retraces its steps exactly.
            let branch = root + "/branch"
            #expect(try runGPT2(arguments: try CLIFixtures.trainArguments(out: branch, steps: 3, extra: ["--checkpoint-every", "1"])).status == 0)
            let losses = try CLIFixtures.losses(branch)
            let back = ["train", "--resume", branch + "/ckpt_1", "--steps", "2", "--threads", "2", "--device", "cpu"]
            expectOneLineError(try runGPT2(arguments: back), mentioning: "ckpt_3")
            #expect(Checkpoint.steps(in: branch) == [1, 2, 3])
            let again = try runGPT2(arguments: back + ["--overwrite"])
            #expect(again.status == 0, "\(again.stderrText)")
            #expect(Checkpoint.steps(in: branch) == [1, 2])
            #expect(try CLIFixtures.losses(branch) == Array(losses.prefix(2)))
        }
    }

    /// Each bad input fails before anything is written: a file kept in --out stays, and no metrics or checkpoint appear.
    @Test(arguments: ["missing data", "no validation shards", "validation smaller than a batch", "seq too long", "batch larger than data",
                      "train shards smaller than a batch",
                      "unknown model", "cuda", "total batch not a multiple", "does not fit in memory"])
    func badInputFailsWithOneLine(_ problem: String) throws {
        let root = try TestPaths.temporaryDirectory("cli-bad").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/run"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let sentinel = Data("kept\n".utf8)   // (not a run: a folder holding one is refused before anything else)
        try sentinel.write(to: URL(fileURLWithPath: out + "/notes.txt"))

        var arguments = try CLIFixtures.trainArguments(out: out)
        func replace(_ flag: String, _ value: String) { arguments[arguments.firstIndex(of: flag)! + 1] = value }
        let phrase: String
        switch problem {
        case "missing data":
            replace("--data", root + "/no-such-folder"); phrase = "no-such-folder"
        case "no validation shards":   // only a train shard, with validation on: the message offers --eval-every 0
            let trainOnly = root + "/train-only"
            try FileManager.default.createDirectory(atPath: trainOnly, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: trainOnly + "/tinyshakespeare_train_000000.bin",
                                                       withDestinationPath: try ShakespeareShards.directory() + "/tinyshakespeare_train_000000.bin")
            replace("--data", trainOnly); replace("--eval-every", "1"); phrase = "--eval-every 0"
        case "validation smaller than a batch":   // the fix is more validation tokens or none, not a smaller training shard
            let smallVal = root + "/small-val"
            try FileManager.default.createDirectory(atPath: smallVal, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: smallVal + "/tinyshakespeare_train_000000.bin",
                                                       withDestinationPath: try ShakespeareShards.directory() + "/tinyshakespeare_train_000000.bin")
            try ShardWriter.write(Array(0..<40), to: smallVal + "/tinyshakespeare_val_000000.bin")
            replace("--data", smallVal); replace("--eval-every", "1")
            phrase = "holds 40 tokens, but one batch needs B·T·ranks + 1 = 2·32·1 + 1 = 65, and the split's shards hold 40 tokens in all; "
                + "lower --micro-batch or --seq, or prepare more text (for the validation split: gpt2 prepare --val-tokens); or train without "
                + "validation (--eval-every 0)"
        case "train shards smaller than a batch":   // 2 × 40 tokens fill a 65-token batch when prepared as one shard
            let smallShards = root + "/small-shards"
            try FileManager.default.createDirectory(atPath: smallShards, withIntermediateDirectories: true)
            try ShardWriter.write(Array(0..<40), to: smallShards + "/small_train_000000.bin")
            try ShardWriter.write(Array(0..<40), to: smallShards + "/small_train_000001.bin")
            try ShardWriter.write(Array(0..<100), to: smallShards + "/small_val_000000.bin")
            replace("--data", smallShards)
            phrase = "holds 40 tokens, but one batch needs B·T·ranks + 1 = 2·32·1 + 1 = 65; lower --micro-batch or --seq, or prepare this split "
                + "with more tokens per shard (gpt2 prepare --val-tokens for validation, --shard-tokens for training)"
        case "seq too long":
            replace("--seq", "65"); phrase = "--seq"
        case "batch larger than data":  // 100 tokens cannot fill one 512·32 batch
            let small = root + "/small"
            try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
            try ShardWriter.write(Array(0..<100), to: small + "/small_train_000000.bin")
            try ShardWriter.write(Array(0..<100), to: small + "/small_val_000000.bin")
            replace("--data", small); replace("--micro-batch", "512"); phrase = "small_train_000000.bin"
        case "unknown model":
            replace("--model", "huge"); phrase = "huge"
        case "cuda":
            replace("--device", "cuda"); phrase = "CUDA"
        case "does not fit in memory":   // d48 at 64 × 1024 plans ~400 GB: refused by the plan, not killed by the kernel
            replace("--model", "d48"); replace("--micro-batch", "64"); replace("--seq", "1024"); phrase = "does not fit"
        default:
            arguments += ["--total-batch-tokens", "100"]; phrase = "--total-batch-tokens"
        }
        expectOneLineError(try runGPT2(arguments: arguments), mentioning: phrase)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/notes.txt")) == sentinel, "run folder untouched")
        #expect(RunFolder.earlierRun(in: out) == nil, "no metrics and no checkpoint written")
    }

}
