/// `gpt2 train` end to end: a run stopped with --stop-after and continued with --resume writes the same
/// metrics as an uninterrupted one, and bad input fails with one clear line without touching the run folder.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct TrainCommandTests {
    @Test func stopAndResumeReproduceTheUninterruptedRun() throws {
        let root = try TestPaths.temporaryDirectory("cli-resume").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let whole = try runGPT2(arguments: try CLIFixtures.trainArguments(out: root + "/a", steps: 4))
        #expect(whole.status == 0, "\(whole.stderrText)")
        let first = try runGPT2(arguments: try CLIFixtures.trainArguments(out: root + "/b", steps: 4, extra: ["--stop-after", "2"]))
        #expect(first.status == 0, "\(first.stderrText)")
        #expect(try CLIFixtures.losses(root + "/b").count == 2)
        let second = try runGPT2(arguments: ["train", "--resume", root + "/b", "--threads", "2", "--device", "cpu"])
        #expect(second.status == 0, "\(second.stderrText)")

        let (a, b) = (try CLIFixtures.losses(root + "/a"), try CLIFixtures.losses(root + "/b"))
        #expect(a.count == 4)
        #expect(a == b, "uninterrupted \(a) vs resumed \(b)")
        #expect(FileManager.default.contentsEqual(atPath: root + "/a/ckpt_4/model.bin", andPath: root + "/b/ckpt_4/model.bin"))
    }

    /// Each bad input fails before anything is written: a sentinel metrics.jsonl in --out stays as it was.
    @Test(arguments: ["missing data", "seq too long", "batch larger than data", "unknown model", "cuda",
                      "total batch not a multiple"])
    func badInputFailsWithOneLine(_ problem: String) throws {
        let root = try TestPaths.temporaryDirectory("cli-bad").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/run"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let sentinel = Data("{\"step\":1,\"loss\":1}\n".utf8)
        try sentinel.write(to: URL(fileURLWithPath: out + "/metrics.jsonl"))

        var arguments = try CLIFixtures.trainArguments(out: out)
        func replace(_ flag: String, _ value: String) { arguments[arguments.firstIndex(of: flag)! + 1] = value }
        let phrase: String
        switch problem {
        case "missing data":
            replace("--data", root + "/no-such-folder"); phrase = "no-such-folder"
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
        default:
            arguments += ["--total-batch-tokens", "100"]; phrase = "--total-batch-tokens"
        }
        expectOneLineError(try runGPT2(arguments: arguments), mentioning: phrase)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/metrics.jsonl")) == sentinel, "run folder untouched")
        #expect(Checkpoint.steps(in: out).isEmpty)
    }

    @Test func resumeFromCorruptCheckpointFailsWithOneLine() throws {
        let root = try TestPaths.temporaryDirectory("cli-corrupt").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run"
        #expect(try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, steps: 2)).status == 0)
        let metrics = try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl"))
        let model = run + "/ckpt_2/model.bin"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: model))

        let result = try runGPT2(arguments: ["train", "--resume", run, "--steps", "4", "--threads", "2"])
        expectOneLineError(result, mentioning: model)
        #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl")) == metrics)
        #expect(Checkpoint.steps(in: run) == [2])

        let missing = try runGPT2(arguments: ["train", "--resume", root + "/nothing-here", "--threads", "2"])
        expectOneLineError(missing, mentioning: "nothing-here")
    }
}
