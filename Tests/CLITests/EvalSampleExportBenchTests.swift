/// `gpt2 eval`, `export`, `sample` and `bench` on the tiny trained run: eval's JSON loss agrees with an
/// independent expectation and across formats, sampling is deterministic, bench prints parseable JSON.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct EvalSampleExportBenchTests {
    private struct EvalResult: Decodable {
        var loss: Double
        var tokens: Int
    }

    private func eval(_ checkpoint: String, batches: Int = 4) throws -> EvalResult {
        let result = try runGPT2(arguments: ["eval", "--checkpoint", checkpoint, "--data", try ShakespeareShards.directory(),
                                             "--micro-batch", "2", "--seq", "32", "--batches", String(batches),
                                             "--json", "--threads", "2"])
        try #require(result.status == 0, "\(result.stderrText)")
        // Progress goes to stderr (a line per tenth when it is not a terminal), ending with the mean loss so far.
        #expect(result.stderrText.contains("evaluating") && result.stderrText.contains("100.0%"), "\(result.stderrText)")
        let decoded = try JSONDecoder().decode(EvalResult.self, from: result.stdout)
        let last = result.stderrText.split(separator: "\n").last { $0.contains("loss so far") }
        #expect(last?.hasSuffix("loss so far \(formatFixed(decoded.loss, digits: 4))") == true, "\(result.stderrText)")
        return decoded
    }

    /// An untrained model (every weight N(0, 0.02), LayerNorm weights included) has logits within a few
    /// hundredths of zero, so its loss is ln(50257) = 10.825 up to their tiny spread: 0.3 is a generous bound.
    /// This only catches gross errors (a NaN, a zero, weights read at the wrong scale); the export test below
    /// pins eval's number exactly against a second path.
    @Test func untrainedModelLossIsLogVocabulary() throws {
        let directory = try TestPaths.temporaryDirectory("cli-eval").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try ModelPreset.named("tiny").config
        var data = TestData(seed: 5)
        let parameters = data.normal(config.parameterCount, standardDeviation: 0.02)
        let path = directory + "/fresh.bin"
        try LLMCModelFile.write(path: path, config: config, parameters: parameters)
        let result = try eval(path)
        #expect(abs(result.loss - log(50257)) < 0.3, "loss \(result.loss)")
        #expect(result.tokens == 4 * 2 * 32)
    }

    /// An llm.c export of a checkpoint (fp32: the same weights bit for bit) must give exactly the same loss.
    @Test func exportedModelEvaluatesLikeItsCheckpoint() throws {
        let run = try CLIFixtures.trainedRun()
        let directory = try TestPaths.temporaryDirectory("cli-export").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/model.bin"
        let export = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "llmc", "--out", file])
        try #require(export.status == 0, "\(export.stderrText)")
        let (fromFolder, fromFile) = (try eval(run), try eval(file))
        #expect(fromFolder.loss == fromFile.loss)
        #expect(fromFolder.tokens == fromFile.tokens)
        let (_, saved) = try ModelSource.load(run)
        #expect(try LLMCModelFile.read(path: file).parameters.map(\.bitPattern) == saved.map(\.bitPattern))
    }

    /// Without --data, a run or checkpoint of gpt2 train is evaluated on the data it trained on (its state.json names
    /// the folder): the loss with --data, to the bit. A model file names no data; a run whose data went says so.
    @Test func evalWithoutDataTakesTheRunsData() throws {
        let run = try CLIFixtures.trainedRun(), shards = FileSystem.absolutePath(try ShakespeareShards.directory())
        let explicit = try eval(run)
        let options = ["--micro-batch", "2", "--seq", "32", "--batches", "4", "--json", "--threads", "2"]
        for checkpoint in [run, run + "/ckpt_3"] {
            let implicit = try runGPT2(arguments: ["eval", "--checkpoint", checkpoint] + options)
            try #require(implicit.status == 0, "\(implicit.stderrText)")
            #expect(implicit.stderrText.hasPrefix("data: \(shards) (the run's)\n"), "\(implicit.stderrText)")
            let result = try JSONDecoder().decode(EvalResult.self, from: implicit.stdout)
            #expect(result.loss == explicit.loss && result.tokens == explicit.tokens, "\(result) \(explicit)")
        }

        let directory = try TestPaths.temporaryDirectory("cli-eval-data").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/model.bin"
        try #require(try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "llmc", "--out", file]).status == 0)
        expectOneLineError(try runGPT2(arguments: ["eval", "--checkpoint", file] + options),
                           mentioning: "give --data: \(file) is a model file, which does not name the data it was trained on")
        // the run's shards moved: a copy of its checkpoint whose state.json names a folder that is not there
        let moved = directory + "/run/ckpt_3"
        try FileManager.default.createDirectory(atPath: directory + "/run", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: run + "/ckpt_3", toPath: moved)
        var state = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: moved + "/state.json"))) as? [String: Any])
        var saved = try #require(state["options"] as? [String: Any])
        saved["dataDirectory"] = directory + "/gone"
        state["options"] = saved
        try JSONSerialization.data(withJSONObject: state).write(to: URL(fileURLWithPath: moved + "/state.json"))
        try Checkpoint.acceptEdits(in: moved)
        expectOneLineError(try runGPT2(arguments: ["eval", "--checkpoint", directory + "/run"] + options),
                           mentioning: "the data \(moved) trained on, \(directory)/gone, is gone; give --data")
    }

    /// Eval without --data reads the run's state.json alone: the optimizer's moments, which it does not use, may be
    /// damaged; a damaged state.json is refused naming --data as the way on, which then evaluates the weights.
    @Test func evalWithoutDataReadsOnlyTheRunsState() throws {
        let directory = try TestPaths.temporaryDirectory("cli-eval-state").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = directory + "/run", checkpoint = run + "/ckpt_3"
        try FileManager.default.copyItem(atPath: try CLIFixtures.trainedRun(), toPath: run)
        let explicit = try eval(run)
        let options = ["--micro-batch", "2", "--seq", "32", "--batches", "4", "--json", "--threads", "2"]
        func flipByte(_ offset: (Int) -> Int, of name: String, mask: UInt8) throws {
            let path = checkpoint + "/" + name
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[offset(bytes.count)] ^= mask
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        try flipByte({ _ in 4 }, of: "optimizer.bin", mask: 0x40)   // its header's version
        let implicit = try runGPT2(arguments: ["eval", "--checkpoint", run] + options)
        try #require(implicit.status == 0, "\(implicit.stderrText)")
        #expect(try JSONDecoder().decode(EvalResult.self, from: implicit.stdout).loss == explicit.loss)
        expectOneLineError(try runGPT2(arguments: ["train", "--resume", run, "--steps", "4"]),
                           mentioning: "optimizer.bin is not an optimizer state file")   // resume needs the moments

        try flipByte({ $0 - 2 }, of: "state.json", mask: 0x01)   // a byte of its closing lines: still JSON, or not; damaged either way
        expectOneLineError(try runGPT2(arguments: ["eval", "--checkpoint", run] + options),
                           mentioning: "\(checkpoint)/state.json is damaged: its bytes (XXH64 ")
        expectOneLineError(try runGPT2(arguments: ["eval", "--checkpoint", run] + options),
                           mentioning: "; give --data (the folder of the shards to evaluate on), which needs only the checkpoint's model.bin")
        let withData = try runGPT2(arguments: ["eval", "--checkpoint", run, "--data", try ShakespeareShards.directory()] + options)
        try #require(withData.status == 0, "\(withData.stderrText)")
        #expect(try JSONDecoder().decode(EvalResult.self, from: withData.stdout).loss == explicit.loss)
    }

    /// A run folder given as the model stands for its newest checkpoint, and every command that reads it says which: eval,
    /// HellaSwag and sample in a line once the weights have loaded, export in its last line, and train --init-from in its
    /// header and in the state.json it saves (it recorded the run folder, whose newest checkpoint changes as it trains).
    /// Named directly, a checkpoint gets no such line.
    @Test func aRunFolderIsNamedByTheCheckpointItStoodFor() throws {
        let root = try TestPaths.temporaryDirectory("cli-newest").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run", newest = root + "/run/ckpt_3"
        try #require(try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, extra: ["--checkpoint-every", "1"])).status == 0)
        let line = "model: \(newest), the newest checkpoint in \(run)\n"
        let mirror = ["--mirror", TestPaths.mirror.path, "--threads", "2"]
        let items = TestPaths.repositoryRoot.appendingPathComponent("Tests/CPUBackendTests/Fixtures/hellaswag_sample.jsonl").path
        let commands = [["eval", "--micro-batch", "2", "--seq", "32", "--batches", "1", "--json", "--threads", "2"],
                        ["eval", "hellaswag", "--data", items, "--limit", "1", "--json"] + mirror,
                        ["sample", "--prompt", "hi", "--tokens", "2"] + mirror]
        for command in commands {
            var outputs: [Data] = []
            for checkpoint in [run, newest] {
                let result = try runGPT2(arguments: command + ["--checkpoint", checkpoint])
                try #require(result.status == 0, "\(command): \(result.stderrText)")
                #expect(result.stderrText.contains(line) == (checkpoint == run), "\(command) \(checkpoint): \(result.stderrText)")
                #expect(!result.stderrText.contains("model: ") || checkpoint == run, "\(result.stderrText)")
                outputs.append(result.stdout)
            }
            #expect(outputs[0] == outputs[1], "\(command): the run folder read its newest checkpoint")
        }

        let file = root + "/model.bin"
        let export = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "llmc", "--out", file])
        #expect(export.stderrText == "wrote \(file) (1637248 parameters, 1504 of them the vocabulary's padding, fp32) from \(newest), the newest checkpoint in \(run)\n",
                "\(export.stderrText)")
        let again = try runGPT2(arguments: ["export", "--checkpoint", newest, "--format", "llmc", "--out", file])
        #expect(again.stderrText == "wrote \(file) (1637248 parameters, 1504 of them the vocabulary's padding, fp32)\n", "\(again.stderrText)")

        let child = root + "/child"
        let train = try runGPT2(arguments: try CLIFixtures.trainArguments(out: child, steps: 1, extra: ["--init-from", run]))
        try #require(train.status == 0, "\(train.stderrText)")
        #expect(train.stderrText.hasPrefix("model \(newest): L=2 NH=2 C=32 maxT=64"), "\(train.stderrText)")
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: child + "/ckpt_1/state.json")))
        let options = try #require((state as? [String: Any])?["options"] as? [String: Any])
        #expect(options["initFrom"] as? String == newest, "\(options)")
    }

    @Test func evalOfCorruptCheckpointFailsWithOneLine() throws {
        let directory = try TestPaths.temporaryDirectory("cli-eval-bad").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/garbage.bin"
        try Data(repeating: 7, count: 2000).write(to: URL(fileURLWithPath: file))
        let result = try runGPT2(arguments: ["eval", "--checkpoint", file, "--data", try ShakespeareShards.directory(),
                                             "--threads", "2"])
        expectOneLineError(result, mentioning: file)
    }

    /// --split names one of the two splits prepare writes (`test` said only that no *_test_* shards matched), and more
    /// --batches than the split holds evaluates those it holds, saying so.
    @Test func evalSplitAndBatchesAreChecked() throws {
        let common = ["eval", "--checkpoint", try CLIFixtures.trainedRun(), "--data", try ShakespeareShards.directory(), "--threads", "2",
                      "--micro-batch", "4", "--seq", "64"]
        expectOneLineError(try runGPT2(arguments: common + ["--split", "test"]), mentioning: "--split must be val or train (got test)")
        // A folder of training shards alone: the default split is missing, and the one that is there is named.
        let trainOnly = try TestPaths.temporaryDirectory("cli-eval-train-only").path
        defer { try? FileManager.default.removeItem(atPath: trainOnly) }
        try FileManager.default.createSymbolicLink(atPath: trainOnly + "/tinyshakespeare_train_000000.bin",
                                                   withDestinationPath: try ShakespeareShards.directory() + "/tinyshakespeare_train_000000.bin")
        let onlyTrain = Array(common[..<3]) + ["--data", trainOnly] + Array(common[5...])
        expectOneLineError(try runGPT2(arguments: onlyTrain), mentioning: "holds training shards but no validation ones (*_val_*.bin): evaluate on those with --split train")
        #expect(try runGPT2(arguments: onlyTrain + ["--split", "train", "--batches", "1"]).status == 0)
        let all = try runGPT2(arguments: common + ["--batches", "100000", "--json"])
        #expect(all.status == 0 && all.stderrText.contains("note: the val split holds ") && all.stderrText.contains(" batches of 4 × 64 tokens: evaluating those"),
                "\(all.stderrText)")
    }

    /// A run's logged val_loss is the first --eval-batches batches of the val split: `gpt2 eval` of its checkpoint, given
    /// the run's micro-batch, sequence length and batch count, gives the same number to the last bit (as the README says).
    @Test func evalOfACheckpointReproducesTheRunsValLoss() throws {
        let out = try TestPaths.temporaryDirectory("cli-eval-logged").path + "/run"
        defer { try? FileManager.default.removeItem(atPath: FileSystem.directoryName(out)) }
        var arguments = try CLIFixtures.trainArguments(out: out, steps: 2, extra: ["--checkpoint-every", "2", "--eval-batches", "3"])
        arguments[arguments.firstIndex(of: "--eval-every")! + 1] = "2"
        let trained = try runGPT2(arguments: arguments)
        try #require(trained.status == 0, "\(trained.stderrText)")
        struct Row: Decodable { var step: Int; var val_loss: Double? }
        let rows = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
        let logged = try #require(rows.first { $0.step == 2 && $0.val_loss != nil }?.val_loss, "\(rows)")
        let eval = try runGPT2(arguments: ["eval", "--checkpoint", out + "/ckpt_2", "--data", try ShakespeareShards.directory(),
                                           "--micro-batch", "2", "--seq", "32", "--batches", "3", "--json", "--threads", "2"])
        try #require(eval.status == 0, "\(eval.stderrText)")
        let object = try #require(try JSONSerialization.jsonObject(with: eval.stdout) as? [String: Any], "\(eval.stdoutText)")
        #expect(Float(try #require(object["loss"] as? Double)) == Float(logged), "eval \(eval.stdoutText), logged \(logged)")
    }

    /// A new temporary folder (the caller removes it) holding `nan.bin`: the tiny model with every weight NaN.
    private static func folderWithANaNModel(_ name: String) throws -> String {
        let directory = try TestPaths.temporaryDirectory(name).path
        let config = try ModelPreset.named("tiny").config
        try LLMCModelFile.write(path: directory + "/nan.bin", config: config,
                                parameters: [Float](repeating: .nan, count: config.parameterCount))
        return directory
    }

    /// A loss that is not a number (here from weights that are all NaN) is refused as sampling's and HellaSwag's are,
    /// in text and in JSON (which printed `{"loss": null}` with exit status 0, for a script to record); and a run started
    /// from such weights names them as the cause, not the learning rate ("lower --lr"), since no update came before.
    @Test func evalAndTrainingRefuseANonFiniteModel() throws {
        let directory = try Self.folderWithANaNModel("cli-eval-nan")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for format in [[], ["--json"]] {
            let result = try runGPT2(arguments: ["eval", "--checkpoint", directory + "/nan.bin", "--data", try ShakespeareShards.directory(),
                                                 "--micro-batch", "1", "--seq", "16", "--batches", "1", "--threads", "2"] + format)
            #expect(result.status == 1 && result.stdout.isEmpty, "\(result.stdoutText)")
            #expect(result.stderrText.hasSuffix("Error: the model's output is not finite (NaN or infinity) in the loss over 16 tokens of the "
                                                + "val split: its weights are damaged, or come from a run that diverged\n"), "\(result.stderrText)")
        }
        let train = try runGPT2(arguments: try CLIFixtures.trainArguments(out: directory + "/run", extra: ["--init-from", directory + "/nan.bin"]))
        #expect(train.status == 1 && train.stderrText.hasSuffix("Error: the loss is NaN at step 1, on the weights of --init-from "
                                                               + "\(directory)/nan.bin before any update: they are damaged, or come from a run "
                                                               + "that diverged\n"), "\(train.stderrText)")
    }

    /// Sampling and HellaSwag, which compare logits and losses, refuse a model whose output is not a number (here weights
    /// that are all NaN) rather than report what comparing NaNs picked: `sample` printed "HHHH…", HellaSwag the share of
    /// items whose answer is ending 0.
    @Test func sampleAndHellaSwagRefuseANonFiniteModel() throws {
        let directory = try Self.folderWithANaNModel("cli-sample-nan")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(#"{"ctx": "A man", "endings": ["runs", "sits", "eats", "sleeps"], "label": 0}"#.utf8)
            .write(to: URL(fileURLWithPath: directory + "/items.jsonl"))
        let common = ["--checkpoint", directory + "/nan.bin", "--mirror", TestPaths.mirror.path, "--threads", "2"]
        let sample = try runGPT2(arguments: ["sample", "--prompt", "hi", "--tokens", "3"] + common)
        #expect(sample.status == 1 && sample.stdoutText == "hi", "\(sample.stdoutText)")
        #expect(sample.stderrText == "Error: the model's output is not finite (NaN or infinity) in the logits for generated token 1: "
                + "its weights are damaged, or come from a run that diverged\n", "\(sample.stderrText)")
        let hellaswag = try runGPT2(arguments: ["eval", "hellaswag", "--data", directory + "/items.jsonl", "--json"] + common)
        #expect(hellaswag.status == 1 && hellaswag.stdout.isEmpty, "\(hellaswag.stdoutText)")
        #expect(hellaswag.stderrText.hasSuffix("Error: the model's output is not finite (NaN or infinity) in the ending losses of "
                                               + "HellaSwag item 1: its weights are damaged, or come from a run that diverged\n"),
                "\(hellaswag.stderrText)")
    }

    /// HellaSwag's --batch is planned before anything is allocated, as eval's micro-batch is (`--batch 65535` on d12 ended
    /// in "Fatal error: failed to allocate 214227111936 bytes"), and takes no more rows than the items have: one item's
    /// 4 rows at --batch 65535 score as at the default.
    @Test func hellaswagPlansItsBatchAndTakesNoMoreRowsThanThereAre() throws {
        let directory = try TestPaths.temporaryDirectory("cli-hellaswag-batch").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let item = #"{"ctx": "A man sits at a piano and", "endings": ["plays", "eats", "runs", "sleeps"], "label": 0}"#
        try Data((item + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/one.jsonl"))
        try Data(String(repeating: item + "\n", count: 20_000).utf8).write(to: URL(fileURLWithPath: directory + "/many.jsonl"))
        let common = ["eval", "hellaswag", "--checkpoint", try CLIFixtures.trainedRun(), "--mirror", TestPaths.mirror.path,
                      "--threads", "2", "--json"]
        let small = try runGPT2(arguments: common + ["--data", directory + "/one.jsonl"])
        let huge = try runGPT2(arguments: common + ["--data", directory + "/one.jsonl", "--batch", "65535"])
        #expect(small.status == 0 && huge.status == 0 && huge.stdoutText == small.stdoutText, "\(huge.stderrText)")
        // (under a limit, so that the plan refuses it on any machine: the tiny model's 65,535 rows plan at ~2.2 GiB)
        let gpt2 = buildProductsDirectory.appendingPathComponent("gpt2").path
        let refused = try runCommand("/bin/sh", arguments: ["-c", "ulimit -d 1500000 && exec \"$@\"", "sh", gpt2]
                                     + common + ["--data", directory + "/many.jsonl", "--batch", "65535"])
        #expect(refused.status == 1 && refused.stdout.isEmpty, "\(refused.stderrText)")
        #expect(refused.stderrText.contains("Error: scoring 65535 rows of up to ") && refused.stderrText.contains(" does not fit: ")
                && refused.stderrText.contains("; use --batch "), "\(refused.stderrText)")
    }

    /// An empty batch shape is refused by name (release builds drop preconditions: it divided by zero there).
    @Test(arguments: [["--micro-batch", "0"], ["--seq", "0"]])
    func evalRefusesAnEmptyBatch(_ bad: [String]) throws {
        let result = try runGPT2(arguments: ["eval", "--checkpoint", try CLIFixtures.trainedRun(), "--data", try ShakespeareShards.directory(),
                                             "--threads", "2"] + bad)
        expectOneLineError(result, mentioning: bad[0])
    }

    @Test func greedySampleStartsWithPromptAndIsDeterministic() throws {
        let run = try CLIFixtures.trainedRun()
        let arguments = ["sample", "--checkpoint", run, "--prompt", "ROMEO:", "--tokens", "5", "--temperature", "0",
                         "--mirror", TestPaths.mirror.path, "--threads", "2"]
        let first = try runGPT2(arguments: arguments), second = try runGPT2(arguments: arguments)
        try #require(first.status == 0, "\(first.stderrText)")
        #expect(first.stdoutText.hasPrefix("ROMEO:"))
        #expect(first.stdoutText.count > "ROMEO:\n".count, "some text was generated: \(first.stdoutText)")
        #expect(first.stdout == second.stdout)
        #expect(!first.stderrText.contains("note:"), "\(first.stderrText)")
        // a prompt longer than the context (tiny's 64) is printed whole, and the note says the model reads its end only
        let long = String(repeating: " Rome", count: 80)
        let beyond = try runGPT2(arguments: ["sample", "--checkpoint", run, "--prompt", long, "--tokens", "2", "--temperature", "0",
                                             "--mirror", TestPaths.mirror.path, "--threads", "2"])
        try #require(beyond.status == 0, "\(beyond.stderrText)")
        #expect(beyond.stdoutText.hasPrefix(long))
        #expect(beyond.stderrText.contains("note: the prompt is 80 tokens, and with the <|endoftext|> before it 81, more than the model's context of 64: "
                                              + "the model reads only the last 64"),
                "\(beyond.stderrText)")
        // and one that fills the context with its <|endoftext|> is read whole, without a note
        let filling = try runGPT2(arguments: ["sample", "--checkpoint", run, "--prompt", String(repeating: " Rome", count: 63), "--tokens", "1",
                                              "--mirror", TestPaths.mirror.path, "--threads", "2"])
        #expect(filling.status == 0 && !filling.stderrText.contains("note:"), "\(filling.stderrText)")
    }

    /// Sampling options out of range are refused by name, before the model loads (`--tokens 0` printed just the prompt).
    @Test(arguments: [(["--tokens", "0"], "--tokens must be at least 1 (got 0)"), (["--tokens=-4"], "--tokens must be at least 1 (got -4)"),
                      (["--temperature=-1"], "--temperature"), (["--temperature", "nan"], "--temperature"), (["--temperature", "inf"], "--temperature must be 0 or a finite positive number (got inf)"),
                      (["--top-k=-1"], "--top-k")])
    func sampleRefusesOptionsOutOfRange(_ bad: [String], _ message: String) throws {
        let result = try runGPT2(arguments: ["sample", "--checkpoint", try CLIFixtures.trainedRun(), "--prompt", "hi",
                                             "--mirror", TestPaths.mirror.path, "--threads", "2"] + bad)
        expectOneLineError(result, mentioning: message)
    }

    /// A checkpoint that is not there is named before the vocabulary is looked for: offline, a mistyped path said only that
    /// GPT-2's encoding files could not be downloaded. (Here the vocabulary's mirror is an empty folder.)
    @Test func aMissingCheckpointIsNamedBeforeTheVocabularyIsFetched() throws {
        let empty = try TestPaths.temporaryDirectory("cli-empty-mirror").path
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let missing = try runGPT2(arguments: ["sample", "--checkpoint", empty + "/runs/typo", "--prompt", "hi", "--mirror", empty])
        expectOneLineError(missing, mentioning: "runs/typo does not exist")
        let present = try runGPT2(arguments: ["sample", "--checkpoint", try CLIFixtures.trainedRun(), "--prompt", "hi", "--mirror", empty])
        expectOneLineError(present, mentioning: "missing from the data mirror")
    }

    /// A prompt that starts with a dash is the prompt: "- Hello" was "Missing value for '--prompt'", to a user who gave
    /// one. An option name after --prompt is still no prompt, and `-` after a flag is still standard input.
    @Test func aPromptStartingWithADashIsTaken() throws {
        let run = try CLIFixtures.trainedRun()
        for prompt in ["- Hello", "-Hello", "--- ROMEO", "-- x"] {
            let result = try runGPT2(arguments: ["sample", "--checkpoint", run, "--prompt", prompt, "--tokens", "2",
                                                 "--mirror", TestPaths.mirror.path, "--threads", "1"])
            #expect(result.status == 0 && result.stdoutText.hasPrefix(prompt), "\(prompt): \(result.stdoutText) \(result.stderrText)")
        }
        let missing = try runGPT2(arguments: ["sample", "--checkpoint", run, "--prompt", "--tokens", "2"])
        #expect(missing.status != 0 && missing.stderrText.contains("Missing value for '--prompt"), "\(missing.stderrText)")
        let standardInput = try runGPT2(arguments: ["tokenize", "--mirror", TestPaths.mirror.path, "--json", "-"], stdin: Data("Hello".utf8))
        #expect(standardInput.status == 0 && standardInput.stdoutText == "[15496]\n", "\(standardInput.stdoutText) \(standardInput.stderrText)")
    }

    /// A path that holds no weights says what it is: a pipe or a device (which "did not exist"), a link to nothing, and a
    /// text file, which eval without --data called "a model file" and sent the user for --data first.
    @Test func aPathWithoutWeightsSaysWhatItIs() throws {
        let directory = try TestPaths.temporaryDirectory("cli-no-weights").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (pipe, link, text) = (directory + "/pipe", directory + "/link", directory + "/notes.txt")
        try #require(mkfifo(pipe, 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory + "/gone")
        try Data("hello world\n".utf8).write(to: URL(fileURLWithPath: text))
        for (path, phrase) in [(pipe, "pipe is neither a file nor a folder (a pipe or a device)"), ("/dev/null", "/dev/null is neither a file nor a folder"),
                               (link, "link does not exist (a link to \(directory)/gone, which leads nowhere)"),
                               (text, "notes.txt is not an llm.c model file")] {
            expectOneLineError(try runGPT2(arguments: ["eval", "--checkpoint", path]), mentioning: phrase)
        }
        // and the same from the other commands that take weights
        for arguments in [["sample", "--checkpoint", pipe], ["export", "--checkpoint", pipe, "--out", directory + "/out.bin"],
                          ["train", "--init-from", pipe, "--data", try ShakespeareShards.directory(), "--out", directory + "/run", "--threads", "1"]] {
            expectOneLineError(try runGPT2(arguments: arguments), mentioning: "is neither a file nor a folder")
        }
    }

    /// A model with another vocabulary cannot take a GPT-2 prompt: sample refuses it, and eval on GPT-2 shards
    /// stops at the first token id beyond it, instead of either reading past the embedding table.
    @Test func modelWithAnotherVocabularyIsRefused() throws {
        let directory = try TestPaths.temporaryDirectory("cli-vocabulary").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = try ModelPreset.named("tiny").config
        config.vocabularySize = 1000
        config.paddedVocabularySize = 1024
        var data = TestData(seed: 6)
        let path = directory + "/small-vocabulary.bin"
        try LLMCModelFile.write(path: path, config: config, parameters: data.normal(config.parameterCount, standardDeviation: 0.02))
        let sample = try runGPT2(arguments: ["sample", "--checkpoint", path, "--prompt", "ROMEO:", "--mirror", TestPaths.mirror.path])
        expectOneLineError(sample, mentioning: "1000-token vocabulary")
        let eval = try runGPT2(arguments: ["eval", "--checkpoint", path, "--data", try ShakespeareShards.directory(), "--micro-batch", "2",
                                           "--seq", "32", "--threads", "2"])
        expectOneLineError(eval, mentioning: "0..<1000")
    }

    /// At a temperature above 0 the text is drawn, and `--seed` fixes the draws: the same seed prints the same text,
    /// another seed other text (after 3 steps of training the distribution over 50,257 tokens is still broad, so two
    /// seeds agreeing on 8 tokens is practically impossible).
    @Test func sampleSeedFixesTheText() throws {
        let run = try CLIFixtures.trainedRun()
        func sample(_ seed: String) throws -> String {
            let result = try runGPT2(arguments: ["sample", "--checkpoint", run, "--prompt", "ROMEO:", "--tokens", "8", "--temperature", "1",
                                                 "--seed", seed, "--mirror", TestPaths.mirror.path, "--threads", "2"])
            try #require(result.status == 0, "\(result.stderrText)")
            #expect(result.stdoutText.hasPrefix("ROMEO:"))
            return result.stdoutText
        }
        let first = try sample("3")
        #expect(try sample("3") == first)
        #expect(try sample("4") != first)
    }

    /// bf16 of an fp32 value, computed here: of its two bf16 neighbours (low 16 bits cleared, and that plus one bf16
    /// step away from zero), the nearer, and on a tie the one whose last kept bit is 0 (round to nearest even).
    private func bfloat16Nearest(_ x: Float) -> Float {
        let truncated = x.bitPattern & 0xFFFF_0000
        let (low, high) = (Float(bitPattern: truncated), Float(bitPattern: truncated + 0x1_0000))
        let (toLow, toHigh) = (abs(Double(x) - Double(low)), abs(Double(high) - Double(x)))
        if toLow != toHigh { return toLow < toHigh ? low : high }
        return truncated & 0x1_0000 == 0 ? low : high
    }

    /// `export --precision bf16` writes an llm.c version-5 file (two bytes a weight after the 1,024-byte header) whose
    /// weights load back as the bf16 rounding of the checkpoint's fp32 weights, bit for bit.
    @Test func bf16ExportLoadsAsTheRoundedWeights() throws {
        let run = try CLIFixtures.trainedRun()
        let directory = try TestPaths.temporaryDirectory("cli-export-bf16").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/model_bf16.bin"
        let export = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "llmc", "--precision", "bf16", "--out", file])
        try #require(export.status == 0, "\(export.stderrText)")
        // (tiny's 1,637,248 parameters: see BenchReportTests)
        #expect(export.stderrText == "wrote \(file) (1637248 parameters, 1504 of them the vocabulary's padding, bf16) from \(run)/ckpt_3, the newest checkpoint in \(run)\n",
                "\(export.stderrText)")
        let (config, saved) = try ModelSource.load(run)
        #expect(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int == 1024 + 2 * config.parameterCount)
        let (loadedConfig, loaded) = try ModelSource.load(file)
        #expect(loadedConfig == config)
        let expected = saved.map(bfloat16Nearest)
        #expect(expected.map(\.bitPattern) != saved.map(\.bitPattern), "the weights are not all bf16 already")
        let mismatch = loaded.indices.first { loaded[$0].bitPattern != expected[$0].bitPattern }
        #expect(loaded.count == expected.count && mismatch == nil,
                "weight \(mismatch ?? 0): \(loaded[mismatch ?? 0]) from \(saved[mismatch ?? 0]), expected \(expected[mismatch ?? 0])")
    }

    /// A file that cannot be created is named as given: "cannot create /proc/model.bin.tmp-8894" named the temporary
    /// file it is written under, which the user never gave. (/proc takes no new files, even from root.)
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self"), "needs Linux's /proc"))
    func anExportThatCannotBeCreatedNamesItsOut() throws {
        let run = try CLIFixtures.trainedRun()
        let file = "/proc/model.bin"
        let export = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "llmc", "--out", file])
        expectOneLineError(export, mentioning: "cannot create \(file): No such file or directory")
        #expect(!export.stderrText.contains(".tmp-"), "\(export.stderrText)")
    }

    /// An export into a checkpoint folder is refused before anything is written: `--precision bf16 --out RUN/ckpt_3/model.bin`
    /// replaced the checkpoint's fp32 weights, and `--resume RUN` went on from the rounded ones without a word.
    @Test(arguments: [(["--format", "llmc", "--precision", "bf16"], "model.bin"), (["--format", "safetensors"], "")])
    func anExportIntoACheckpointFolderIsRefused(_ options: [String], _ file: String) throws {
        let directory = try TestPaths.temporaryDirectory("cli-export-into-checkpoint").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = directory + "/run"   // (a copy: the shared run stays as it is should the refusal regress)
        try FileManager.default.copyItem(atPath: try CLIFixtures.trainedRun(), toPath: run)
        let checkpoint = run + "/ckpt_3"
        let before = try FileManager.default.contentsOfDirectory(atPath: checkpoint).sorted()
        let weights = try Data(contentsOf: URL(fileURLWithPath: checkpoint + "/model.bin"))
        let out = file.isEmpty ? checkpoint : checkpoint + "/" + file
        let export = try runGPT2(arguments: ["export", "--checkpoint", run] + options + ["--out", out])
        expectOneLineError(export, mentioning: "--out \(out) is in checkpoint folder \(checkpoint), whose files it would replace")
        #expect(try FileManager.default.contentsOfDirectory(atPath: checkpoint).sorted() == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: checkpoint + "/model.bin")) == weights)
    }

    /// A safetensors export into a run folder is refused before anything is written: it was written, and then every
    /// command given the run folder refused it as naming two models. One put there by hand is named as that ambiguity by
    /// eval without --data too (which said the folder was "a model file").
    @Test func aSafetensorsExportIntoARunFolderIsRefused() throws {
        let directory = try TestPaths.temporaryDirectory("cli-export-into-run").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = directory + "/run"
        try FileManager.default.copyItem(atPath: try CLIFixtures.trainedRun(), toPath: run)
        let before = try FileManager.default.contentsOfDirectory(atPath: run).sorted()
        let export = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "safetensors", "--out", run + "/"])
        expectOneLineError(export, mentioning: "--out \(run)/ holds a run (checkpoint ckpt_3 and metrics.jsonl), and a "
                               + "model.safetensors there would leave commands given that folder two models to choose from; export to a "
                               + "folder of its own, such as \(run)-hf")
        #expect(try FileManager.default.contentsOfDirectory(atPath: run).sorted() == before)
        let elsewhere = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "safetensors", "--out", run + "-hf"])
        #expect(elsewhere.status == 0, "\(elsewhere.stderrText)")
        try FileManager.default.copyItem(atPath: run + "-hf/model.safetensors", toPath: run + "/model.safetensors")
        expectOneLineError(try runGPT2(arguments: ["eval", "--checkpoint", run, "--threads", "2"]),
                           mentioning: "\(run) holds both checkpoints and a model.safetensors; name the one you mean")
    }

    /// An export under a name gpt2 train gives its own files is refused: inside a run, a `ckpt_N` that is no checkpoint
    /// stopped the run's resume (whose advice, --overwrite, then deleted the export), and metrics.jsonl is its history.
    @Test(arguments: [(["--format", "llmc"], "ckpt_99"), (["--format", "safetensors"], "ckpt_99/"), (["--format", "llmc"], "metrics.jsonl")])
    func anExportUnderARunsOwnNameIsRefused(_ options: [String], _ name: String) throws {
        let directory = try TestPaths.temporaryDirectory("cli-export-run-name").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = directory + "/run"
        try FileManager.default.copyItem(atPath: try CLIFixtures.trainedRun(), toPath: run)
        let before = try FileManager.default.contentsOfDirectory(atPath: run).sorted()
        let metrics = try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl"))
        let export = try runGPT2(arguments: ["export", "--checkpoint", run] + options + ["--out", run + "/" + name])
        expectOneLineError(export, mentioning: "\(name.hasSuffix("/") ? String(name.dropLast()) : name) is a name gpt2 train gives the files of a run")
        #expect(try FileManager.default.contentsOfDirectory(atPath: run).sorted() == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl")) == metrics)
        let beside = try runGPT2(arguments: ["export", "--checkpoint", run] + options + ["--out", run + "/exported"])
        #expect(beside.status == 0, "\(beside.stderrText)")
    }

    /// An export through a symbolic link replaces the file the link names (the link is kept), so a link into a checkpoint
    /// or to a run's metrics.jsonl is refused as the path itself is: a link to ckpt_3/model.bin let the export replace the
    /// checkpoint's weights, and one to metrics.jsonl the run's history. Also: llmc's --out NEW/ (a folder) is refused
    /// without making NEW, and a checkpoint folder as llmc's --out is not answered with a path inside it.
    @Test func anExportThroughALinkIsCheckedWhereItLands() throws {
        let directory = try TestPaths.temporaryDirectory("cli-export-link").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = directory + "/run"
        try FileManager.default.copyItem(atPath: try CLIFixtures.trainedRun(), toPath: run)
        let files = FileManager.default
        let weights = try Data(contentsOf: URL(fileURLWithPath: run + "/ckpt_3/model.bin"))
        let metrics = try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl"))
        let real = FileSystem.realPath(run)!
        try files.createSymbolicLink(atPath: directory + "/weights.bin", withDestinationPath: run + "/ckpt_3/model.bin")
        expectOneLineError(try runGPT2(arguments: ["export", "--checkpoint", run, "--out", directory + "/weights.bin"]),
                           mentioning: "--out \(directory)/weights.bin: \(directory)/weights.bin is a link to \(real)/ckpt_3/model.bin, in "
                               + "checkpoint folder \(real)/ckpt_3, whose files it would replace")
        try files.createSymbolicLink(atPath: directory + "/log.bin", withDestinationPath: run + "/metrics.jsonl")
        expectOneLineError(try runGPT2(arguments: ["export", "--checkpoint", run, "--out", directory + "/log.bin"]),
                           mentioning: "is a link to \(real)/metrics.jsonl, a run's history; export under another name")
        try files.createDirectory(atPath: directory + "/hf", withIntermediateDirectories: false)
        try files.createSymbolicLink(atPath: directory + "/hf/config.json", withDestinationPath: run + "/ckpt_3/state.json")
        expectOneLineError(try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "safetensors", "--out", directory + "/hf"]),
                           mentioning: "\(directory)/hf/config.json is a link to \(real)/ckpt_3/state.json, in checkpoint folder")
        #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/ckpt_3/model.bin")) == weights)
        #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl")) == metrics)
        #expect(try Checkpoint.verifyFiles(in: run + "/ckpt_3") == ())

        expectOneLineError(try runGPT2(arguments: ["export", "--checkpoint", run, "--out", directory + "/new/"]),
                           mentioning: "--out \(directory)/new/ is a folder, and --format llmc writes one file")
        #expect(!files.fileExists(atPath: directory + "/new"))
        let intoCheckpoint = try runGPT2(arguments: ["export", "--checkpoint", run, "--out", run + "/ckpt_3"])
        expectOneLineError(intoCheckpoint, mentioning: "--out \(run)/ckpt_3 is a checkpoint folder, whose files an export would replace")
        #expect(!intoCheckpoint.stderrText.contains("e.g."), "\(intoCheckpoint.stderrText)")
        // a link elsewhere is written through, as before
        try Data("old".utf8).write(to: URL(fileURLWithPath: directory + "/target.bin"))
        try files.createSymbolicLink(atPath: directory + "/kept.bin", withDestinationPath: directory + "/target.bin")
        let through = try runGPT2(arguments: ["export", "--checkpoint", run, "--out", directory + "/kept.bin"])
        #expect(through.status == 0, "\(through.stderrText)")
        #expect(FileSystem.isSymbolicLink(directory + "/kept.bin"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/target.bin")) == weights, "the fp32 export of ckpt_3 is its model.bin")
    }

    /// The half-written files an export killed part-way left beside its output (`NAME.tmp-PID` of a process that is gone;
    /// a d12 model's are 0.5 GB each) are removed by the next export there; a live process's are left alone.
    @Test func anExportRemovesWhatAnInterruptedOneLeft() throws {
        let directory = try TestPaths.temporaryDirectory("cli-export-abandoned").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ended = try runCommand("/bin/sh", arguments: ["-c", "echo $$"]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let abandoned = ["model.bin.tmp-\(ended)", "hf/model.safetensors.tmp-\(ended)", "hf/config.json.tmp-\(ended)"]
        let live = "model.bin.tmp-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory + "/hf", withIntermediateDirectories: true)
        for file in abandoned + [live] { try Data(count: 64).write(to: URL(fileURLWithPath: directory + "/" + file)) }
        let run = try CLIFixtures.trainedRun()
        let llmc = try runGPT2(arguments: ["export", "--checkpoint", run, "--out", directory + "/model.bin"])
        let hf = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "safetensors", "--out", directory + "/hf"])
        #expect(llmc.status == 0 && hf.status == 0, "\(llmc.stderrText)\(hf.stderrText)")
        #expect(llmc.stderrText.contains("removed \(directory)/\(abandoned[0]), which an interrupted export left unfinished"), "\(llmc.stderrText)")
        for file in abandoned { #expect(!FileManager.default.fileExists(atPath: directory + "/" + file), "\(file)") }
        #expect(FileManager.default.fileExists(atPath: directory + "/" + live))
    }

    @Test func benchPrintsOneJSONObject() throws {
        let result = try runGPT2(arguments: ["bench", "--model", "tiny", "--micro-batch", "2", "--seq", "16",
                                             "--steps", "2", "--warmup", "1", "--json", "--threads", "2", "--no-record"])
        try #require(result.status == 0, "\(result.stderrText)")
        let lines = result.stdoutText.split(separator: "\n")
        #expect(lines.count == 1)
        let object = try #require(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect((object["tokens_per_s"] as? Double ?? 0) > 0)
        let mfu = try #require(object["mfu"] as? Double)
        #expect(mfu > 0 && mfu < 1, "MFU is a fraction of peak: \(mfu)")
    }

    /// On the CPU, a shape beyond the machine's available memory is refused by the plan before anything is allocated
    /// (d48 at 64 × 1024 plans ~400 GB), and an empty batch by name; so is `--micro-batch auto`, which there meant the
    /// largest micro-batch its memory holds (tiny: tens of thousands of sequences, most of the machine's memory, for
    /// one step of hours).
    @Test func benchRefusesWhatCannotRun() throws {
        let huge = try runGPT2(arguments: ["bench", "--model", "d48", "--micro-batch", "64", "--seq", "1024", "--device", "cpu", "--no-record"])
        expectOneLineError(huge, mentioning: "does not fit")
        let empty = try runGPT2(arguments: ["bench", "--model", "tiny", "--micro-batch=0", "--device", "cpu", "--no-record"])
        expectOneLineError(empty, mentioning: "--micro-batch")
        let auto = try runGPT2(arguments: ["bench", "--model", "tiny", "--micro-batch", "auto", "--seq", "64", "--device", "cpu", "--no-record"])
        expectOneLineError(auto, mentioning: "give --micro-batch N")
    }

    /// `--classifier-chunk` sets the rows of logits held at once (0: all of them), and says so in the JSON.
    @Test func benchTakesTheClassifierChunk() throws {
        for (given, rows) in [("5", 5), ("0", 32)] {
            let result = try runGPT2(arguments: ["bench", "--model", "tiny", "--micro-batch", "2", "--seq", "16", "--steps", "1",
                                                 "--warmup", "0", "--json", "--threads", "2", "--no-record", "--classifier-chunk", given])
            try #require(result.status == 0, "\(result.stderrText)")
            let object = try #require(JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
            #expect(object["classifier_chunk_rows"] as? Int == rows, "--classifier-chunk \(given)")
        }
        let negative = try runGPT2(arguments: ["bench", "--model", "tiny", "--classifier-chunk=-3", "--device", "cpu", "--no-record"])
        #expect(negative.status != 0)
        #expect(negative.stderrText.contains("--classifier-chunk must be"), "\(negative.stderrText)")
    }

    @Test func benchProfileNeedsTheGPU() throws {
        let result = try runGPT2(arguments: ["bench", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1",
                                             "--device", "cpu", "--threads", "2", "--no-record", "--profile"])
        #expect(result.status != 0)
        #expect(result.stderrText.contains("--profile times GPU kernels"), "\(result.stderrText)")
    }
}
