/// `gpt2 export --format safetensors`, `gpt2 eval hellaswag` and `gpt2 eval` (loss, the default subcommand) end
/// to end through the built binary, and malformed model files failing with a message instead of a crash.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct InteropCommandTests {
    private let mirror = TestPaths.mirror.path

    /// A `tiny` llm.c model file with GPT-2's vocabulary and random weights (padding rows zero).
    private func tinyModel(in directory: URL) throws -> String {
        let config = try ModelPreset.named("tiny").config
        var values = [Float](repeating: 0, count: config.parameterCount)
        var random = SeededRandom(seed: 9)
        random.fillNormal(&values, std: 0.1)
        for i in (config.vocabularySize * config.channels)..<(config.paddedVocabularySize * config.channels) { values[i] = 0 }
        let path = directory.appendingPathComponent("tiny.bin").path
        try LLMCModelFile.write(path: path, config: config, parameters: values)
        return path
    }

    @Test func exportToSafetensorsAndBackIsBitExactAndHellaSwagAgrees() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try tinyModel(in: directory)
        let hf = directory.appendingPathComponent("hf").path
        let export = try runGPT2(arguments: ["export", "--checkpoint", model, "--format", "safetensors", "--out", hf])
        #expect(export.status == 0, "\(export.stderrText)")
        // tiny (L=2, C=32, maxT=64, V=50257) without wte's padding: wte 50257·32 = 1,608,224, wpe 64·32 = 2,048, two
        // blocks of 2C + (3C² + 3C) + (C² + C) + 2C + (4C² + 4C) + (4C² + C) = 12,704, ln_f 2C = 64
        #expect(export.stderrText.contains("(1635744 parameters, fp32)"), "\(export.stderrText)")
        let back = directory.appendingPathComponent("back.bin").path
        let reimport = try runGPT2(arguments: ["export", "--checkpoint", hf, "--out", back])
        #expect(reimport.status == 0, "\(reimport.stderrText)")
        #expect(FileManager.default.contentsEqual(atPath: model, andPath: back))

        let data = TestPaths.repositoryRoot.appendingPathComponent("Tests/CPUBackendTests/Fixtures/hellaswag_sample.jsonl").path
        var outputs: [String] = []
        for checkpoint in [model, hf] {
            let result = try runGPT2(arguments: ["eval", "hellaswag", "--checkpoint", checkpoint, "--data", data,
                                                 "--mirror", mirror, "--json", "--batch", "5", "--limit", "3"])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(result.stdoutText.contains("\"examples\": 3"), "\(result.stdoutText)")
            outputs.append(result.stdoutText)
        }
        #expect(outputs[0] == outputs[1])
        let limited = try runGPT2(arguments: ["eval", "hellaswag", "--checkpoint", hf, "--data", data, "--mirror", mirror,
                                              "--limit", "1"])
        #expect(limited.status == 0 && limited.stdoutText.hasPrefix("hellaswag over 1 items: acc "), "\(limited.stdoutText)")

        // Items whose every row is one token (an empty context, one-token endings) have nothing to score, and the model was
        // sized to rows of 0 positions: "batch size (16) and sequence length (0) must be positive".
        let bare = directory.appendingPathComponent("bare.jsonl")
        try Data(#"{"ctx": "", "endings": ["a", "b", "c", "d"], "label": 2}"#.utf8).write(to: bare)
        let scored = try runGPT2(arguments: ["eval", "hellaswag", "--checkpoint", model, "--data", bare.path, "--mirror", mirror, "--json"])
        #expect(scored.status == 0 && scored.stdoutText.contains("\"examples\": 1"), "\(scored.stderrText)")
    }

    /// HellaSwag's two accuracies go under their own names: acc is the items whose summed ending loss picks the label
    /// (`correct`) over the items, acc_norm those whose mean loss does (`correct_norm`), in the JSON and in the text alike.
    /// (The fixture's model scores the sample's first four items differently by the two, as a random model often does,
    /// so that a swap shows.)
    @Test func hellaSwagReportsEachAccuracyUnderItsName() throws {
        let directory = try TestPaths.temporaryDirectory("cli-hellaswag-names")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = TestPaths.repositoryRoot.appendingPathComponent("Tests/CPUBackendTests/Fixtures/hellaswag_sample.jsonl").path
        let arguments = ["eval", "hellaswag", "--checkpoint", try tinyModel(in: directory), "--data", data, "--mirror", mirror,
                         "--limit", "4", "--threads", "2"]
        let json = try runGPT2(arguments: arguments + ["--json"])
        try #require(json.status == 0, "\(json.stderrText)")
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any], "\(json.stdoutText)")
        let correct = try #require(object["correct"] as? Int), correctNorm = try #require(object["correct_norm"] as? Int)
        try #require(correct != correctNorm && object["examples"] as? Int == 4, "the case needs the two to differ: \(object)")
        #expect(object["acc"] as? Double == Double(correct) / 4 && object["acc_norm"] as? Double == Double(correctNorm) / 4, "\(object)")
        let text = try runGPT2(arguments: arguments)
        let expected = "hellaswag over 4 items: acc \(formatFixed(Double(correct) / 4, digits: 4)) (\(correct)), "
            + "acc_norm \(formatFixed(Double(correctNorm) / 4, digits: 4)) (\(correctNorm))\n"
        #expect(text.stdoutText == expected, "\(text.stdoutText)")
    }

    /// HellaSwag's items are read before the device opens (a GPU takes moments, its first kernel compile longer): a
    /// missing or empty items file is named at once, even where the device asked for is not there.
    @Test func hellaSwagReadsItsItemsBeforeOpeningTheDevice() throws {
        let directory = try TestPaths.temporaryDirectory("cli-hellaswag-items-first")
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try tinyModel(in: directory)
        let empty = directory.appendingPathComponent("empty.jsonl").path
        try Data().write(to: URL(fileURLWithPath: empty))
        let noDevice = ["CUDA_DRIVER_LIB": directory.appendingPathComponent("no-libcuda.so").path]
        for (items, phrase) in [(directory.appendingPathComponent("missing.jsonl").path, "missing.jsonl"), (empty, "holds no HellaSwag items")] {
            let result = try runGPT2(arguments: ["eval", "hellaswag", "--checkpoint", model, "--data", items, "--mirror", mirror,
                                                 "--device", "cuda"], environment: noDevice)
            #expect(result.status != 0 && result.stderrText.contains(phrase) && !result.stderrText.contains("--device cuda"),
                    "\(result.stderrText)")
        }
    }

    @Test func evalWithoutSubcommandIsStillTheLossEval() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try tinyModel(in: directory)
        let data = directory.appendingPathComponent("data")
        let prepare = try runGPT2(arguments: ["prepare", "--mirror", mirror, "--out", data.path])
        #expect(prepare.status == 0, "\(prepare.stderrText)")
        for prefix in [["eval"], ["eval", "loss"]] {
            let result = try runGPT2(arguments: prefix + ["--checkpoint", model, "--data", data.path, "--batches", "1",
                                                          "--micro-batch", "1", "--seq", "16", "--json"])
            #expect(result.status == 0, "\(result.stderrText)")
            #expect(result.stdoutText.hasPrefix("{\"loss\": "), "\(result.stdoutText)")
        }
    }

    @Test func trainLogsHellaSwagIntoMetrics() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A mirror whose HellaSwag "validation set" is the first two items of the sample.
        let ownMirror = directory.appendingPathComponent("mirror")
        try FileManager.default.createDirectory(at: ownMirror.appendingPathComponent("hellaswag"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: ownMirror.appendingPathComponent("gpt2"),
                                                   withDestinationURL: TestPaths.mirror.appendingPathComponent("gpt2"))
        let sample = TestPaths.repositoryRoot.appendingPathComponent("Tests/CPUBackendTests/Fixtures/hellaswag_sample.jsonl")
        let lines = try String(contentsOf: sample, encoding: .utf8).split(separator: "\n").prefix(2).joined(separator: "\n")
        try Data(lines.utf8).write(to: ownMirror.appendingPathComponent("hellaswag/hellaswag_val.jsonl"))
        let data = directory.appendingPathComponent("data").path
        let prepare = try runGPT2(arguments: ["prepare", "--mirror", mirror, "--out", data])
        #expect(prepare.status == 0, "\(prepare.stderrText)")
        let run = directory.appendingPathComponent("run").path
        let result = try runGPT2(arguments: ["train", "--data", data, "--model", "tiny", "--steps", "2", "--seq", "32",
                                             "--micro-batch", "4", "--eval-every", "0", "--sample-every", "0",
                                             "--eval-hellaswag-every", "1", "--mirror", ownMirror.path, "--out", run])
        #expect(result.status == 0, "\(result.stderrText)")
        let metrics = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        let rows = metrics.split(separator: "\n").filter { $0.contains("hellaswag_acc_norm") }
        #expect(rows.count == 2, "\(metrics)")
        #expect(rows.first?.hasPrefix("{\"step\":1,\"hellaswag_acc\":") == true && rows.first?.contains(",\"hellaswag_items\":2") == true,
                "\(metrics)")
        // A file of no items is refused before the first step, as eval refuses it; it recorded scores of 0.
        try Data().write(to: ownMirror.appendingPathComponent("hellaswag/hellaswag_val.jsonl"))
        let empty = try runGPT2(arguments: ["train", "--data", data, "--model", "tiny", "--steps", "2", "--seq", "32",
                                            "--micro-batch", "4", "--eval-every", "0", "--sample-every", "0",
                                            "--eval-hellaswag-every", "1", "--mirror", ownMirror.path, "--out", run + "-empty"])
        expectOneLineError(empty, mentioning: "hellaswag_val.jsonl holds no HellaSwag items (for the HellaSwag scores; --eval-hellaswag-every 0 trains without them)")
        #expect(!FileManager.default.fileExists(atPath: run + "-empty/metrics.jsonl"))
    }

    @Test(arguments: [
        ("model.safetensors", [UInt8](repeating: 0xFF, count: 16), "exceeds"),
        ("model.safetensors", [8, 0, 0, 0, 0, 0, 0, 0] + Array("{\"a\":1} ".utf8), "not a valid safetensors file"),
        ("truncated.safetensors", [3, 0], "shorter than"),
        ("empty.safetensors", Array("\u{02}\0\0\0\0\0\0\0{}".utf8), "missing tensor 'wte.weight'"),
        ("model.bin", Array(repeating: 7, count: 2000), "not an llm.c model file"),
    ] as [(String, [UInt8], String)])
    func malformedModelFilesFailCleanly(name: String, bytes: [UInt8], message: String) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let target = name == "model.safetensors" ? directory.path : path   // a folder holding model.safetensors
        let result = try runGPT2(arguments: ["export", "--checkpoint", target, "--format", "safetensors",
                                             "--out", directory.appendingPathComponent("out").path])
        #expect(result.status == 1, "status \(result.status): \(result.stderrText)")   // an error, not a signal
        #expect(result.stderrText.contains(message), "\(result.stderrText)")
    }

    /// llm.c's format is one file and safetensors a folder: an --out of the other kind is refused by name before the
    /// weights load (it failed at the rename, after writing a temporary copy beside it).
    @Test func exportRefusesAnOutOfTheOtherKind() throws {
        let directory = try TestPaths.temporaryDirectory("cli-export-kind").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try CLIFixtures.trainedRun()
        let intoFolder = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "llmc", "--out", directory])
        expectOneLineError(intoFolder, mentioning: "--out \(directory) is a folder, and --format llmc writes one file (e.g. \(directory)/model.bin)")
        // a run folder's model.bin would be passed over for its newest checkpoint: the suggestion is beside it
        let intoRun = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "llmc", "--out", run + "/"])
        expectOneLineError(intoRun, mentioning: "--format llmc writes one file (e.g. \(run).bin)")
        let intoDot = try runGPT2(arguments: ["export", "--checkpoint", ".", "--format", "llmc", "--out", "."], workingDirectory: run)
        expectOneLineError(intoDot, mentioning: "--format llmc writes one file (e.g. \(URL(fileURLWithPath: run).resolvingSymlinksInPath().path).bin)")
        try Data([1]).write(to: URL(fileURLWithPath: directory + "/file"))
        let intoFile = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "safetensors", "--out", directory + "/file"])
        expectOneLineError(intoFile, mentioning: "is a file")
        // safetensors is fp32 only: bf16 asked for is refused, not written as fp32 without a word
        let bf16 = try runGPT2(arguments: ["export", "--checkpoint", run, "--format", "safetensors", "--precision", "bf16", "--out", directory + "/hf"])
        expectOneLineError(bf16, mentioning: "--format safetensors writes fp32 weights; drop --precision")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["file"])
        // a file's missing folders are made, as a safetensors folder's are (it said "cannot create nd/sub/x.bin.tmp-23379")
        let nested = try runGPT2(arguments: ["export", "--checkpoint", run, "--out", directory + "/nd/sub/x.bin"])
        #expect(nested.status == 0 && FileManager.default.fileExists(atPath: directory + "/nd/sub/x.bin"), "\(nested.stderrText)")
    }
}
