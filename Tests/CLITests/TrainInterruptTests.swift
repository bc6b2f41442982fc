/// Ctrl-C during `gpt2 train` (one micro-batch per step here, so the step in progress finishes): a checkpoint of the
/// last step is written, the process exits 130, and `--resume` carries on from there — nothing trained is lost.
/// (A step of several micro-batches is cut at the one in progress: `TrainerTests`.)

import Foundation
import GPT2TestSupport
import Testing

@Suite struct TrainInterruptTests {
    @Test func interruptSavesACheckpointOfTheLastStepAndResumes() throws {
        let out = try TestPaths.temporaryDirectory("interrupt").path + "/run"
        let process = Process()
        process.executableURL = buildProductsDirectory.appendingPathComponent("gpt2")
        process.arguments = try CLIFixtures.trainArguments(out: out, steps: 100_000)
        process.standardOutput = FileHandle.nullDevice
        // A file, not a pipe: a pipe nobody drains fills up and blocks the child's logging.
        let logPath = out + ".log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()

        // Wait for two finished steps, then interrupt as a terminal's Ctrl-C would.
        let metrics = out + "/metrics.jsonl"
        let deadline = Date().addingTimeInterval(60)
        while (try? String(contentsOfFile: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0 < 2 {
            guard Date() < deadline, process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.interrupt()
        let stopDeadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < stopDeadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("gpt2 train did not stop within 60 s of SIGINT")
        }
        process.waitUntilExit()
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""

        #expect(process.terminationStatus == 130, "exit status after SIGINT; log:\n\(log)")
        #expect(log.contains("--resume"), "the log says how to continue")
        // The checkpoint is of the last step the metrics record: the interrupted step was finished, not lost.
        let steps = try CLIFixtures.losses(out).count
        #expect(steps >= 2 && steps < 100_000)
        #expect(FileManager.default.fileExists(atPath: out + "/ckpt_\(steps)/state.json"), "ckpt_\(steps) in \(out)")

        let resumed = try runGPT2(arguments: ["train", "--resume", out, "--steps", String(steps + 2)])
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        #expect(try CLIFixtures.losses(out).count == steps + 2)
    }
}
