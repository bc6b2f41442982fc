/// `gpt2 train --resume` end to end: a run stopped with --stop-after and continued with --resume writes the same
/// metrics as an uninterrupted one; a resume takes only the options it can honour, keeps the run's own settings and
/// data, and refuses a damaged checkpoint or state with one line that names the way on.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct TrainResumeCommandTests {
    /// Every option of `gpt2 train --help` is either one a resume takes (the refusal lists them) or refused beside
    /// `--resume` with its name: an option added later cannot be silently ignored by a resume, which keeps the
    /// options the run started with.
    @Test func everyTrainOptionIsTakenOrRefusedByAResume() throws {
        let help = try runGPT2(arguments: ["train", "--help"]).stdoutText
        let flags = help.split(separator: "\n").compactMap { line -> (flag: String, takesValue: Bool)? in
            guard let match = line.wholeMatch(of: /\ \ (?:-h, )?(--[a-z-]+)( <[a-z-]+>)?(?:\s.*)?/) else { return nil }
            return (String(match.1), match.2 != nil)
        }
        #expect(flags.count > 30, "the options should be read from the help: \(help)")
        let refusal = try runGPT2(arguments: ["train", "--resume", "/nonexistent", "--lr", "1"]).stderrText
        let allowedList = try #require(refusal.firstMatch(of: /\(only (.*) can\)/)?.1, "\(refusal)")
        let allowed = Set(allowedList.matches(of: /--[a-z-]+/).map { String($0.0) })
        #expect(allowed.contains("--steps") && allowed.contains("--data"))
        for (flag, takesValue) in flags where !["--resume", "--help", "--version"].contains(flag) {
            guard !allowed.contains(flag) else { continue }
            let value = ["--schedule": "cosine", "--device": "cpu"][flag] ?? "1"
            let result = try runGPT2(arguments: ["train", "--resume", "/nonexistent", flag] + (takesValue ? [value] : []))
            expectOneLineError(result, mentioning: "so \(flag) cannot be given with it")
        }
    }

    /// A folder holding only the metrics of a run that died before its first checkpoint is refused without pointing to
    /// --resume, which could not continue it ("holds no checkpoint").
    @Test func aRunWithoutCheckpointsIsNotOfferedToResume() throws {
        let root = try TestPaths.temporaryDirectory("cli-no-checkpoint").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/run", withIntermediateDirectories: true)
        try Data("{\"step\":1,\"loss\":10.9}\n".utf8).write(to: URL(fileURLWithPath: root + "/run/metrics.jsonl"))
        let result = try runGPT2(arguments: try CLIFixtures.trainArguments(out: root + "/run"))
        expectOneLineError(result, mentioning: "already holds a run (metrics.jsonl, and no checkpoint to continue it from); choose another --out, or add --overwrite")
        #expect(!result.stderrText.contains("--resume"), "\(result.stderrText)")
        // said before anything is fetched: offline, with an empty mirror, the demo failed on downloading the tokenizer first
        let emptyMirror = root + "/empty-mirror"
        try FileManager.default.createDirectory(atPath: emptyMirror, withIntermediateDirectories: true)
        let demo = try runGPT2(arguments: ["train", "--out", root + "/run", "--mirror", emptyMirror], workingDirectory: root)
        expectOneLineError(demo, mentioning: "already holds a run")
        // and --resume says how to start it again
        expectOneLineError(try runGPT2(arguments: ["train", "--resume", root + "/run"]),
                           mentioning: "holds a run that stopped before its first checkpoint, so there is nothing to continue; "
                               + "start it again with its options and --out \(root)/run --overwrite")
    }

    /// A run whose newest checkpoints are damaged names the newest complete one before them as the way on, whether
    /// the run folder or a damaged checkpoint is given (which said "holds no checkpoint"), and that way works; --data
    /// naming no folder says so (it said the run's own data folder was gone).
    @Test func aDamagedCheckpointPointsToTheNewestCompleteOneBefore() throws {
        let root = try TestPaths.temporaryDirectory("cli-damaged-newest").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run"
        try #require(try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, steps: 3, extra: ["--checkpoint-every", "1"])).status == 0)
        for step in [2, 3] { try FileManager.default.removeItem(atPath: run + "/ckpt_\(step)/state.json") }
        let way = "if it is damaged, continue from the newest complete checkpoint before it: gpt2 train --resume \(run)/ckpt_1 --overwrite"
        for given in [run, run + "/ckpt_3", run + "/ckpt_3/"] {
            expectOneLineError(try runGPT2(arguments: ["train", "--resume", given]),
                               mentioning: "ckpt_3\(given.hasSuffix("/") ? "/" : "") is not a complete checkpoint (no state.json); " + way)
        }
        expectOneLineError(try runGPT2(arguments: ["train", "--resume", run + "/ckpt_1", "--data", root + "/none"]),
                           mentioning: "--data \(root)/none is not a folder")
        let shard = try #require(ShardSelection.split(directory: try ShakespeareShards.directory(), split: "train").paths().first)
        expectOneLineError(try runGPT2(arguments: ["train", "--resume", run + "/ckpt_1", "--data", shard]),
                           mentioning: "\(shard) is a file: give the folder of token shards that holds it (--data \(try ShakespeareShards.directory()))")
        let again = try runGPT2(arguments: ["train", "--resume", run + "/ckpt_1", "--overwrite"])
        #expect(again.status == 0, "\(again.stderrText)")
        #expect(Checkpoint.steps(in: run) == [1, 2, 3])
        #expect(try SavedRun(checkpoint: run + "/ckpt_3").step == 3, "the damaged checkpoints were replaced by complete ones")
    }

    /// A value changed on disk in the newest checkpoint's model.bin (its size and header still right) is found by its
    /// checksum: resume names the damaged file and the newest complete checkpoint before it as the way on, and eval and
    /// sample refuse it; without the checksum it loaded as the run's weights.
    @Test func aCheckpointChangedOnDiskIsRefusedByItsChecksum() throws {
        let root = try TestPaths.temporaryDirectory("cli-checksum").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run"
        try #require(try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, steps: 3, extra: ["--checkpoint-every", "1"])).status == 0)
        let model = run + "/ckpt_3/model.bin"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        bytes[bytes.count - 2] ^= 0x40   // an exponent bit of the last parameter
        try bytes.write(to: URL(fileURLWithPath: model))
        expectOneLineError(try runGPT2(arguments: ["train", "--resume", run, "--steps", "4"]),
                           mentioning: "\(model) is damaged: its bytes (XXH64 ")
        expectOneLineError(try runGPT2(arguments: ["train", "--resume", run, "--steps", "4"]),
                           mentioning: "it changed after it was written (on disk, in a copy or by an edit); continue from the newest complete checkpoint "
                               + "before it: gpt2 train --resume \(run)/ckpt_2 --overwrite")
        let data = try ShakespeareShards.directory()
        let wayOn = "(on disk, in a copy or by an edit); the newest complete checkpoint of the run before it is \(run)/ckpt_2"
        expectOneLineError(try runGPT2(arguments: ["eval", "--checkpoint", run, "--data", data, "--batches", "1"]),
                           mentioning: "\(model) is damaged")
        expectOneLineError(try runGPT2(arguments: ["eval", "--checkpoint", run, "--data", data, "--batches", "1"]), mentioning: wayOn)
        expectOneLineError(try runGPT2(arguments: ["sample", "--checkpoint", run, "--tokens", "2"]), mentioning: "\(model) is damaged")
        expectOneLineError(try runGPT2(arguments: ["sample", "--checkpoint", run, "--tokens", "2"]), mentioning: wayOn)
        // a list that cannot be read says how to check the files, which may be intact, not to drop the checkpoint
        let list = run + "/ckpt_3/" + ChecksumList.fileName
        let listed = try String(contentsOfFile: list, encoding: .utf8)
        try listed.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: list, atomically: false, encoding: .utf8)
        let listDamaged = try runGPT2(arguments: ["train", "--resume", run, "--steps", "4"])
        expectOneLineError(listDamaged, mentioning: "\(list) is damaged: it lists no checksum for model.bin")
        #expect(listDamaged.stderrText.contains("xxhsum -c") && !listDamaged.stderrText.contains("--overwrite"), "\(listDamaged.stderrText)")
        try listed.write(toFile: list, atomically: false, encoding: .utf8)
        // the checkpoint named as the way on is read whole first: one damaged the same way is passed over
        bytes = try Data(contentsOf: URL(fileURLWithPath: run + "/ckpt_2/optimizer.bin"))
        bytes[bytes.count - 2] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: run + "/ckpt_2/optimizer.bin"))
        expectOneLineError(try runGPT2(arguments: ["train", "--resume", run, "--steps", "4"]),
                           mentioning: "continue from the newest complete checkpoint before it: gpt2 train --resume \(run)/ckpt_1 --overwrite")
        expectOneLineError(try runGPT2(arguments: ["sample", "--checkpoint", run, "--tokens", "2"]),
                           mentioning: "the newest complete checkpoint of the run before it is \(run)/ckpt_1")
        // without its list the damage would go unseen: a checkpoint of a format that writes one is refused without it
        try FileManager.default.removeItem(atPath: run + "/ckpt_3/" + ChecksumList.fileName)
        expectOneLineError(try runGPT2(arguments: ["eval", "--checkpoint", run, "--data", data, "--batches", "1"]),
                           mentioning: "\(run)/ckpt_3 has no checksums.xxh64, which every checkpoint of its format (2) has")
    }

    /// Values in a checkpoint's state.json that no run can have are called a damaged file, naming it, not an option the
    /// user never gave (`--keep-last must be …`, which a resume does not even take); so is a data position outside the
    /// very shards it was saved with (which said to resume with the same data), and a pass count that would wrap.
    @Test(arguments: [("\"keepLast\" : 0", "\"keepLast\" : -3", "holds options no run has (--keep-last must be 0 (off) or positive (got -3))"),
                      ("\"threads\" : 2", "\"threads\" : 99999999", "holds options no run has (--threads must be 0"),
                      ("\"chunkPosition\" : 3", "\"chunkPosition\" : 999999", "chunk 999999 is outside that shard's"),
                      ("\"epoch\" : 0", "\"epoch\" : 9223372036854775807", "shard 0 of pass 9223372036854775807, is not one in")])
    func aDamagedStateIsNamedAsSuch(_ saved: String, _ damaged: String, _ phrase: String) throws {
        let root = try TestPaths.temporaryDirectory("cli-damaged-state").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run"
        try FileManager.default.copyItem(atPath: try CLIFixtures.trainedRun(), toPath: run)
        let state = run + "/ckpt_3/state.json"
        let text = try String(contentsOfFile: state, encoding: .utf8)
        try #require(text.contains(saved), "\(text)")
        try text.replacingOccurrences(of: saved, with: damaged).write(toFile: state, atomically: false, encoding: .utf8)
        try Checkpoint.acceptEdits(in: run + "/ckpt_3")
        let resumed = try runGPT2(arguments: ["train", "--resume", run, "--steps", "4"])
        expectOneLineError(resumed, mentioning: phrase)
        #expect(resumed.stderrText.contains(phrase.hasPrefix("holds options") ? "\(run)/ckpt_3 is damaged: its state.json " : "the checkpoint's state.json is damaged"),
                "\(resumed.stderrText)")
    }

    /// A resume goes on in the run folder around the checkpoint's real path, and only a folder named for its step has
    /// one: a copy kept aside under another name went on in the folder around it (another run's, whose --keep-last then
    /// removed that run's checkpoints, or the folder of all runs), and `--resume .` inside a checkpoint went on inside it.
    @Test func aResumeGoesOnOnlyInItsCheckpointsOwnRunFolder() throws {
        let root = try TestPaths.temporaryDirectory("cli-resume-folder").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let other = root + "/other", run = root + "/run", files = FileManager.default
        try #require(try runGPT2(arguments: try CLIFixtures.trainArguments(out: other, steps: 2, extra: ["--checkpoint-every", "1"])).status == 0)
        try #require(try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, steps: 6, extra: ["--checkpoint-every", "2",
                                                                                                        "--stop-after", "2"])).status == 0)
        let otherBefore = try files.contentsOfDirectory(atPath: other).sorted()
        try files.copyItem(atPath: run + "/ckpt_2", toPath: other + "/kept")
        expectOneLineError(try runGPT2(arguments: ["train", "--resume", other + "/kept"]),
                           mentioning: "\(other)/kept holds a checkpoint of step 2, but a run goes on in the folder around its checkpoints, "
                               + "which are named ckpt_2; it is not, so the folder around it is not its run's. To continue that run, copy "
                               + "the checkpoint to NEWRUN/ckpt_2 and resume NEWRUN")
        #expect(try files.contentsOfDirectory(atPath: other).sorted() == (otherBefore + ["kept"]).sorted())

        // `.` (and `..` below it) inside ckpt_2 is that checkpoint, in its run folder
        let resumed = try runGPT2(arguments: ["train", "--resume", ".", "--stop-after", "4"], workingDirectory: run + "/ckpt_2")
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        #expect(Checkpoint.steps(in: run) == [2, 4] && Checkpoint.steps(in: run + "/ckpt_2").isEmpty)
        #expect(!files.fileExists(atPath: run + "/ckpt_2/metrics.jsonl"))
        expectOneLineError(try runGPT2(arguments: ["train", "--resume", "ckpt_2/."], workingDirectory: run),
                           mentioning: "\(run)/ckpt_2 is not the newest checkpoint of \(run) (ckpt_4 is)")
        let onward = try runGPT2(arguments: ["train", "--resume", "../ckpt_4/."], workingDirectory: run + "/ckpt_2")
        #expect(onward.status == 0 && Checkpoint.steps(in: run) == [2, 4, 6], "\(onward.stderrText)")
    }

    /// Run b starts with relative paths, stops after step 2, is moved and renamed (moved/c) and resumed from another
    /// working directory: it continues where it now is, on the same shards, and matches the uninterrupted run a.
    @Test func stopAndResumeReproduceTheUninterruptedRun() throws {
        let root = try TestPaths.temporaryDirectory("cli-resume").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let whole = try runGPT2(arguments: try CLIFixtures.trainArguments(out: root + "/a", steps: 4))
        #expect(whole.status == 0, "\(whole.stderrText)")
        try FileManager.default.createSymbolicLink(atPath: root + "/shards", withDestinationPath: try ShakespeareShards.directory())
        var arguments = try CLIFixtures.trainArguments(out: "b", steps: 4, extra: ["--stop-after", "2"])
        arguments[arguments.firstIndex(of: "--data")! + 1] = "shards"
        let first = try runGPT2(arguments: arguments, workingDirectory: root)
        #expect(first.status == 0, "\(first.stderrText)")
        #expect(try CLIFixtures.losses(root + "/b").count == 2)
        // the header gives the plan's time, and a stop at --stop-after says how to go on (it ended without a word)
        for result in [whole, first] {
            #expect(result.stderrText.contains(#/\nplan: about [0-9.]+ ms a step and [0-9.]+ m?s for 4 steps of training, at MFU [0-9.]+ \(/#),
                    "\(result.stderrText)")
        }
        #expect(first.stderrText.contains("\nstopped after step 2 of 4, as --stop-after asked: continue with gpt2 train --resume b\n"),
                "\(first.stderrText)")
        #expect(!whole.stderrText.contains("stopped after step"), "\(whole.stderrText)")
        try FileManager.default.createDirectory(atPath: root + "/moved", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: root + "/b", toPath: root + "/moved/c")
        let second = try runGPT2(arguments: ["train", "--resume", "c", "--threads", "2", "--device", "cpu"], workingDirectory: root + "/moved")
        #expect(second.status == 0, "\(second.stderrText)")
        #expect(second.stderrText.contains(#/\nplan: about [0-9.]+ ms a step and [0-9.]+ m?s for the 2 steps left of training, at MFU [0-9.]+ \(/#),
                "\(second.stderrText)")
        for old in [root + "/b", root + "/moved/b"] {
            #expect(!FileManager.default.fileExists(atPath: old), "the run continued where it was moved to, not in \(old)")
        }

        let (a, b) = (try CLIFixtures.losses(root + "/a"), try CLIFixtures.losses(root + "/moved/c"))
        #expect(a.count == 4)
        #expect(a == b, "uninterrupted \(a) vs resumed \(b)")
        #expect(FileManager.default.contentsEqual(atPath: root + "/a/ckpt_4/model.bin", andPath: root + "/moved/c/ckpt_4/model.bin"))

        // The shards move too: the saved path fails with one line naming it, and --data says where they are now.
        try FileManager.default.moveItem(atPath: root + "/shards", toPath: root + "/moved/shards")
        let extend = ["train", "--resume", "c", "--steps", "5", "--threads", "2", "--device", "cpu"]
        expectOneLineError(try runGPT2(arguments: extend, workingDirectory: root + "/moved"),
                           mentioning: URL(fileURLWithPath: root).lastPathComponent + "/shards is gone; if its shards moved, resume with --data NEWDIR")
        let third = try runGPT2(arguments: extend + ["--data", "shards"], workingDirectory: root + "/moved")
        #expect(third.status == 0, "\(third.stderrText)")
        #expect(try CLIFixtures.losses(root + "/moved/c").count == 5)
        // a new end is said with the rates either side of it (their values: LearningRateScheduleTests); the same end is not
        #expect(third.stderrText.contains("note: the run's end moves from step 4 to 5, and its learning-rate schedule with it: step 4 trained at "),
                "\(third.stderrText)")
        #expect(!second.stderrText.contains("the run's end moves"), "\(second.stderrText)")
    }

    /// A resume may change what the run measures, prints and keeps (here: validation every step, a checkpoint every step,
    /// the newest one kept), and the losses still follow the uninterrupted run's; the new settings are the run's from then
    /// on. A value a new run refuses is refused. (They were refused beside --resume: a run that printed samples could not
    /// go on where the tokenizer could not be fetched, nor keep fewer checkpoints on a filling disk.)
    @Test func aResumeMayChangeWhatTheRunMeasuresAndKeeps() throws {
        let root = try TestPaths.temporaryDirectory("cli-resume-observe").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let whole = try runGPT2(arguments: try CLIFixtures.trainArguments(out: root + "/a", steps: 4))
        #expect(whole.status == 0, "\(whole.stderrText)")
        let first = try runGPT2(arguments: try CLIFixtures.trainArguments(out: root + "/b", steps: 4, extra: ["--stop-after", "2"]))
        #expect(first.status == 0, "\(first.stderrText)")
        let resume = ["train", "--resume", root + "/b", "--device", "cpu"]
        expectOneLineError(try runGPT2(arguments: resume + ["--keep-last", "-1"]), mentioning: "--keep-last must be 0 (off) or positive (got -1)")
        let second = try runGPT2(arguments: resume + ["--eval-every", "1", "--eval-batches", "1", "--checkpoint-every", "1", "--keep-last", "1"])
        #expect(second.status == 0 && second.stderrText.contains("now with --eval-every 1 --eval-batches 1 --checkpoint-every 1 --keep-last 1"),
                "\(second.stderrText)")
        #expect(try CLIFixtures.losses(root + "/a") == CLIFixtures.losses(root + "/b"))
        struct Row: Decodable { var step: Int, val_loss: Double? }
        #expect(try CLIFixtures.metricsRows(root + "/b", as: Row.self).filter { $0.val_loss != nil }.map(\.step) == [3, 4])
        #expect(Checkpoint.steps(in: root + "/b") == [4])
        #expect(second.stderrText.contains("saved \(root)/b/ckpt_4; removed ckpt_3 (--keep-last 1)"), "\(second.stderrText)")
        let saved = try SavedRun(checkpoint: root + "/b/ckpt_4").options
        #expect(saved.evalEvery == 1 && saved.checkpointEvery == 1 && saved.keepLast == 1)
    }

    /// A resume keeps metrics.jsonl to step rows: a line added by hand is dropped, and said (it went without a word); a
    /// removed file is said at once (the missing rows were said only by the resume after).
    @Test func aResumeSaysWhatItDropsFromTheMetrics() throws {
        let root = try TestPaths.temporaryDirectory("cli-resume-metrics").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run", metrics = root + "/run/metrics.jsonl"
        let first = try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, steps: 4, extra: ["--stop-after", "2"]))
        #expect(first.status == 0, "\(first.stderrText)")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: metrics))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"note\":\"switched machines\"}\n".utf8))
        try handle.close()
        let second = try runGPT2(arguments: ["train", "--resume", run, "--device", "cpu", "--stop-after", "3"])
        #expect(second.status == 0 && second.stderrText.contains("note: dropped 1 line of \(metrics) that is no step's row (the first: {\"note\""),
                "\(second.stderrText)")
        #expect(try !String(contentsOfFile: metrics, encoding: .utf8).contains("switched machines"))
        try FileManager.default.removeItem(atPath: metrics)
        let third = try runGPT2(arguments: ["train", "--resume", run, "--device", "cpu"])
        #expect(third.status == 0 && third.stderrText.contains("note: \(metrics) has no rows of steps 1–3"), "\(third.stderrText)")
        #expect(try CLIFixtures.losses(run).count == 1)
    }

    /// A resume with --data whose validation shards are not the run's is refused: its val_loss rows went on in the same
    /// metrics.jsonl, measured on other text. The run's own shards in another folder are taken.
    @Test func resumingOnOtherValidationShardsIsRefused() throws {
        let root = try TestPaths.temporaryDirectory("cli-resume-val").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let shards = try ShakespeareShards.directory()
        var arguments = try CLIFixtures.trainArguments(out: root + "/run", steps: 4, extra: ["--stop-after", "2", "--eval-batches", "1"])
        arguments[arguments.firstIndex(of: "--eval-every")! + 1] = "2"
        try #require(try runGPT2(arguments: arguments).status == 0)
        for folder in ["same", "other"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: root + "/\(folder)/tinyshakespeare_train_000000.bin",
                                                       withDestinationPath: shards + "/tinyshakespeare_train_000000.bin")
        }
        try ShardWriter.write(Array(0..<4096), to: root + "/other/tinyshakespeare_val_000000.bin")
        try FileManager.default.createSymbolicLink(atPath: root + "/same/tinyshakespeare_val_000000.bin",
                                                   withDestinationPath: shards + "/tinyshakespeare_val_000000.bin")
        let resume = ["train", "--resume", root + "/run", "--threads", "2", "--device", "cpu", "--data"]
        let other = try runGPT2(arguments: resume + [root + "/other"])
        expectOneLineError(other, mentioning: "cannot continue validating on other shards: the run's shard 1 was tinyshakespeare_val_000000.bin")
        #expect(Checkpoint.steps(in: root + "/run") == [2])
        // a stretch without validation keeps the shards its val_loss rows came from: turned on again, it is checked against
        // them (the checkpoint of that stretch recorded none, and the other shards were taken)
        let unvalidated = try runGPT2(arguments: resume + [root + "/same", "--eval-every", "0", "--stop-after", "3", "--checkpoint-every", "1"])
        #expect(unvalidated.status == 0, "\(unvalidated.stderrText)")
        expectOneLineError(try runGPT2(arguments: resume + [root + "/other", "--eval-every", "1"]),
                           mentioning: "cannot continue validating on other shards")
        // nor may turning it on take a batch the split cannot give: the advice is a resume's (it said to lower --micro-batch)
        let tiny = root + "/tiny"
        try FileManager.default.createDirectory(atPath: tiny, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: tiny + "/tinyshakespeare_train_000000.bin",
                                                   withDestinationPath: shards + "/tinyshakespeare_train_000000.bin")
        try ShardWriter.write(Array(0..<40), to: tiny + "/tinyshakespeare_val_000000.bin")
        let fresh = try CLIFixtures.trainArguments(out: root + "/fresh", steps: 2, extra: ["--stop-after", "1"])
        try #require(try runGPT2(arguments: fresh.map { $0 == shards ? tiny : $0 }).status == 0)
        expectOneLineError(try runGPT2(arguments: ["train", "--resume", root + "/fresh", "--device", "cpu", "--eval-every", "1"]),
                           mentioning: "less than one of the run's validation batches (2 × 32 + 1 = 65), and a resume keeps its batches: go on with --eval-every 0")
        let same = try runGPT2(arguments: resume + [root + "/same"])
        #expect(same.status == 0, "\(same.stderrText)")
        #expect(Checkpoint.steps(in: root + "/run") == [2, 3, 4])
    }

    /// A resume keeps the run's thread count, so that the command train prints on a stop (no --threads) continues
    /// bit-identically (all cores would change the last bits of some sums); --threads changes it. MFU's peak is one
    /// given with --peak-flops at the start for good, and otherwise that of the threads (or device) the run goes on with.
    @Test func resumeKeepsTheThreadCountAndAGivenPeak() throws {
        let root = try TestPaths.temporaryDirectory("cli-resume-threads").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func saved(_ run: String, _ step: Int) throws -> TrainingOptions {
            try Checkpoint.load(root + "/\(run)/ckpt_\(step)", as: TrainerState.self).state.options
        }
        for (run, extra) in [("given", ["--peak-flops", "1e12"]), ("default", [])] {
            var arguments = try CLIFixtures.trainArguments(out: root + "/" + run, steps: 4, extra: ["--stop-after", "2"] + extra)
            arguments[arguments.firstIndex(of: "--threads")! + 1] = "1"
            try #require(try runGPT2(arguments: arguments).status == 0)
            let kept = try runGPT2(arguments: ["train", "--resume", root + "/" + run, "--stop-after", "3"])
            #expect(kept.status == 0 && kept.stderrText.contains("with its 1 thread (--threads changes it)"), "\(kept.stderrText)")
            #expect(try saved(run, 3).threads == 1)
            let changed = try runGPT2(arguments: ["train", "--resume", root + "/" + run, "--threads", "2"])
            #expect(changed.status == 0, "\(changed.stderrText)")
            #expect(try saved(run, 4).threads == 2)
        }
        #expect(try saved("given", 3).peakFLOPs == 1e12 && saved("given", 4).peakFLOPs == 1e12)
        #expect(try saved("default", 3).peakFLOPs == FLOPCount.cpuPeak(threads: 1) && saved("default", 4).peakFLOPs == FLOPCount.cpuPeak(threads: 2))
    }

    /// Resuming a run that has reached its last step says there is nothing to train (it once exited silently);
    /// a --steps or --stop-after at or before the checkpoint's step is refused instead of doing nothing, and a
    /// --stop-after past the last step trains to the end, saying so.
    @Test func resumingAtTheLastStepSaysSo() throws {
        try CLIFixtures.withTwoStepRun("cli-finished") { root, run, metrics in
            let again = try runGPT2(arguments: ["train", "--resume", run, "--threads", "2", "--device", "cpu"])
            #expect(again.status == 0 && again.stderrText.contains("nothing to train"), "\(again.stderrText)")
            expectOneLineError(try runGPT2(arguments: ["train", "--resume", run, "--steps", "1", "--device", "cpu"]), mentioning: "--steps 1")
            expectOneLineError(try runGPT2(arguments: ["train", "--resume", run, "--steps", "4", "--stop-after", "2", "--device", "cpu"]),
                               mentioning: "--stop-after 2")
            #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl")) == metrics)
            #expect(Checkpoint.steps(in: run) == [2])
            let past = try runGPT2(arguments: ["train", "--resume", run, "--steps", "3", "--stop-after", "9", "--device", "cpu"])
            #expect(past.status == 0 && past.stderrText.contains("note: --stop-after 9 is past the run's last step (3): it trains to the end"),
                    "\(past.stderrText)")
            #expect(Checkpoint.steps(in: run) == [2, 3])
        }
    }

    /// An older checkpoint whose step is the --steps given is not the run's last step: it is refused, with or without
    /// --overwrite, saying what goes on from it (it was called the last step, with nothing to train; and with --overwrite,
    /// which the refusal of other older checkpoints offers, still did nothing).
    @Test func anOlderCheckpointAtTheGivenStepsIsNotTheLastStep() throws {
        let root = try TestPaths.temporaryDirectory("cli-older-last").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run"
        let trained = try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, steps: 2, extra: ["--checkpoint-every", "1"]))
        #expect(trained.status == 0, "\(trained.stderrText)")
        let resume = ["train", "--resume", run + "/ckpt_1", "--steps", "1", "--device", "cpu"]
        for extra in [[], ["--overwrite"]] {
            expectOneLineError(try runGPT2(arguments: resume + extra),
                               mentioning: "ckpt_1 is not the newest checkpoint of \(run) (ckpt_2 is), and --steps 1 leaves nothing to "
                                   + "train from it: resume the run folder, or give --steps above 1 with --overwrite")
        }
        #expect(Checkpoint.steps(in: run) == [1, 2])
        let following = try runGPT2(arguments: ["train", "--resume", run + "/ckpt_1", "--steps", "3", "--device", "cpu", "--overwrite"])
        #expect(following.status == 0, "\(following.stderrText)")
        #expect(Checkpoint.steps(in: run) == [1, 2, 3])   // (ckpt_2 of the new course: a checkpoint every step)
        // a finished run takes --keep-last, to free the space of its older checkpoints
        let kept = try runGPT2(arguments: ["train", "--resume", run, "--device", "cpu", "--keep-last", "1"])
        #expect(kept.status == 0 && kept.stderrText.contains("nothing to train") && kept.stderrText.contains("removed ckpt_1, ckpt_2 (--keep-last 1)"),
                "\(kept.stderrText)")
        #expect(Checkpoint.steps(in: run) == [3])
    }

    @Test func resumeFromCorruptCheckpointFailsWithOneLine() throws {
        try CLIFixtures.withTwoStepRun("cli-corrupt") { root, run, metrics in
            let model = run + "/ckpt_2/model.bin"
            let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
            try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: model))

            let result = try runGPT2(arguments: ["train", "--resume", run, "--steps", "4", "--threads", "2"])
            expectOneLineError(result, mentioning: model)
            #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl")) == metrics)
            #expect(Checkpoint.steps(in: run) == [2])

            let missing = try runGPT2(arguments: ["train", "--resume", root + "/nothing-here", "--threads", "2"])
            expectOneLineError(missing, mentioning: "nothing-here does not exist")
            // a model file is no run to continue (it said "does not exist"): the message points to --init-from
            let file = try runGPT2(arguments: ["train", "--resume", model, "--threads", "2"])
            expectOneLineError(file, mentioning: "is a file, not a run or checkpoint folder; to start a new run from a model file's weights, use --init-from")
            // another file is offered no --init-from (metrics.jsonl was); training data, a shard or its folder, goes with --data
            let metricsFile = try runGPT2(arguments: ["train", "--resume", run + "/metrics.jsonl", "--threads", "2"])
            expectOneLineError(metricsFile, mentioning: "metrics.jsonl is a file, not a run or checkpoint folder")
            #expect(!metricsFile.stderrText.contains("--init-from"), "\(metricsFile.stderrText)")
            let shards = try ShakespeareShards.directory()
            let shard = try #require(ShardSelection.split(directory: shards, split: "train").paths().first)
            expectOneLineError(try runGPT2(arguments: ["train", "--resume", shard, "--threads", "2"]),
                               mentioning: "it is a token shard: training data goes with --data \(shards)")
            expectOneLineError(try runGPT2(arguments: ["sample", "--checkpoint", shards, "--tokens", "1"]),
                               mentioning: "\(shards) is a folder of token shards (training data), not a run or checkpoint; it goes with --data")
        }
    }

    /// A state.json that disagrees with its model.bin, or with its own data position, is refused as damaged before
    /// anything is built (the model followed model.bin and the saves state.json: a layer count edited there trapped at
    /// the next save; a loader's batch of 0 or a negative pass trapped at once; a position for 2 processes read half the
    /// data; a negative step trained at a negative learning rate, and another step than the folder's went on out of order;
    /// a device other than cpu or cuda resumed on the CPU without a word).
    @Test(arguments: [(["options", "model", "layers"], "100000", "state.json describes L=100000"),
                      (["options", "model", "maxSequenceLength"], "65", "its model.bin holds L=2 NH=2 C=32 maxT=64"),
                      (["loader", "batchSize"], "0", "data position is for batches of 0 × 32 tokens"),
                      (["loader", "worldSize"], "0", "on 0 processes"),
                      (["loader", "worldSize"], "2", "on 2 processes"),
                      (["loader", "epoch"], "-1", "shard 0 of pass -1"),
                      (["options", "schedule", "decayFraction"], "5", "decay fraction must be in (0, 1]"),
                      (["step"], "-1", "its state.json is at step -1, and its folder is named for step 2"),
                      (["step"], "3", "its state.json is at step 3, and its folder is named for step 2"),
                      (["options", "device"], "tpu", "its state.json says the run trained on \"tpu\", and a run trains on cpu or cuda"),
                      (["options", "device"], "auto", "its state.json says the run trained on \"auto\"")])
    func resumeFromADamagedStateFailsWithOneLine(_ key: [String], _ value: String, _ phrase: String) throws {
        try CLIFixtures.withTwoStepRun("cli-damaged") { root, run, metrics in
            let path = run + "/ckpt_2/state.json"
            var state = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            func replaced(_ object: [String: Any], _ key: ArraySlice<String>) -> [String: Any] {
                var object = object
                object[key.first!] = key.count == 1 ? Int(value).map { $0 as Any } ?? value : replaced(object[key.first!] as! [String: Any], key.dropFirst())
                return object
            }
            state = replaced(state, key[...])
            try JSONSerialization.data(withJSONObject: state).write(to: URL(fileURLWithPath: path))
            try Checkpoint.acceptEdits(in: run + "/ckpt_2")
            expectOneLineError(try runGPT2(arguments: ["train", "--resume", run, "--steps", "4", "--threads", "2"]), mentioning: phrase)
            #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl")) == metrics)
            #expect(Checkpoint.steps(in: run) == [2])
        }
    }
}
