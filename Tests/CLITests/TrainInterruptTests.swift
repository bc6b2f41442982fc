/// Ctrl-C during `gpt2 train` (one micro-batch per step here, so the step in progress finishes): a checkpoint of the
/// last step is written, the process exits 130, and `--resume` carries on from there — nothing trained is lost.
/// (A step of several micro-batches is cut at the one in progress: `TrainerTests`.)

import Foundation
import GPT2TestSupport
import Testing

@Suite struct TrainInterruptTests {
    /// `gpt2 train` started in the background, its stderr going to `RUN.log`.
    private struct Training {
        let process = Process()
        let out: String
        let logPath: String

        /// `workingDirectory`: the tests' own by default. The cache and calibration file are the tests', as `runGPT2`'s.
        init(out: String, arguments: [String], workingDirectory: String? = nil) throws {
            self.out = out
            logPath = out + ".log"
            process.executableURL = buildProductsDirectory.appendingPathComponent("gpt2")
            process.arguments = arguments
            if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
            process.environment = ProcessInfo.processInfo.environment.merging(
                ["XDG_CACHE_HOME": TestPaths.cacheHome, "GPT2_CALIBRATION": out + ".calibration.json"]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            // A file, not a pipe: a pipe nobody drains fills up and blocks the child's logging.
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            try process.run()
        }

        /// Waits (at most 300 s: only a hang takes that long) until metrics.jsonl records `steps` steps; fails the
        /// test, with the log, if the process ends or the time runs out first.
        func waitForSteps(_ steps: Int) throws {
            let metrics = out + "/metrics.jsonl"
            try waitUntil("\(steps) steps", every: 0.05) {
                (try? String(contentsOfFile: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0 >= steps
            }
        }

        /// Waits as `waitForSteps` does until the log holds `text`.
        func waitForLog(_ text: String) throws {
            try waitUntil("'\(text)' in the log", every: 0.005) {
                (try? String(contentsOfFile: logPath, encoding: .utf8))?.contains(text) ?? false
            }
        }

        private func waitUntil(_ what: String, every period: Double, _ isDone: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(300)
            while !isDone() {
                let ended = !process.isRunning
                guard !ended, Date() < deadline else {
                    if !ended { kill(process.processIdentifier, SIGKILL) }
                    let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                    try #require(Bool(false), "\(ended ? "gpt2 train ended before" : "within 300 s, no") \(what); log:\n\(log)")
                    return
                }
                Thread.sleep(forTimeInterval: period)
            }
        }

        /// Waits (at most 60 s, then kills it) for the process to end; its log.
        func waitForExit() -> String {
            let stopDeadline = Date().addingTimeInterval(60)
            while process.isRunning && Date() < stopDeadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                Issue.record("gpt2 train did not stop within 60 s of the signal")
            }
            process.waitUntilExit()
            return (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        }
    }

    /// Ctrl-C (SIGINT), and SIGHUP: a closed terminal or a dropped SSH session, the commonest way a long run is cut.
    @Test(arguments: [SIGINT, SIGHUP])
    func interruptSavesACheckpointOfTheLastStepAndResumes(_ signal: Int32) throws {
        let out = try TestPaths.temporaryDirectory("interrupt").path + "/run"
        let training = try Training(out: out, arguments: try CLIFixtures.trainArguments(out: out, steps: 100_000))
        // Wait for two finished steps, then interrupt.
        try training.waitForSteps(2)
        kill(training.process.processIdentifier, signal)
        let log = training.waitForExit()

        #expect(training.process.terminationStatus == 130, "exit status after signal \(signal); log:\n\(log)")
        #expect(log.contains("--resume"), "the log says how to continue")
        // The checkpoint is of the last step the metrics record: the interrupted step was finished, not lost.
        let steps = try CLIFixtures.losses(out).count
        #expect(steps >= 2 && steps < 100_000)
        #expect(FileManager.default.fileExists(atPath: out + "/ckpt_\(steps)/state.json"), "ckpt_\(steps) in \(out)")

        let resumed = try runGPT2(arguments: ["train", "--resume", out, "--steps", String(steps + 2)])
        #expect(resumed.status == 0, "\(resumed.stderrText)")
        #expect(try CLIFixtures.losses(out).count == steps + 2)
    }

    /// Ctrl-C after train prepared its demo corpus itself: the run still stops with a checkpoint. (The prepare's
    /// listening, let go, left the process deaf to signals: libdispatch installs its handler once per process, and the
    /// restored default killed the run without a checkpoint.)
    @Test func aRunThatPreparedItsDemoCorpusStopsWithACheckpoint() throws {
        let root = try TestPaths.temporaryDirectory("interrupt-demo").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var arguments = try CLIFixtures.trainArguments(out: root + "/run", steps: 100_000)
        let data = try #require(arguments.firstIndex(of: "--data"))
        arguments.removeSubrange(data...data + 1)
        let training = try Training(out: root + "/run", arguments: arguments + ["--mirror", TestPaths.mirror.path], workingDirectory: root)
        try training.waitForSteps(2)
        kill(training.process.processIdentifier, SIGINT)
        let log = training.waitForExit()
        #expect(log.contains("preparing tinyshakespeare into data/tinyshakespeare"), "\(log)")
        #expect(training.process.terminationReason == .exit && training.process.terminationStatus == 130, "\(log)")
        let steps = try CLIFixtures.losses(root + "/run").count
        #expect(FileManager.default.fileExists(atPath: root + "/run/ckpt_\(steps)/state.json"), "\(log)")
    }

    /// A run folder moved away during training stops the run at its next write, instead of making the folder anew
    /// without its lock (where another run could start, and this one's pruning removed that one's checkpoints) and
    /// splitting its checkpoints and metrics between the two. The moved folder resumes.
    @Test func aRunFolderMovedDuringTrainingStopsTheRun() throws {
        let root = try TestPaths.temporaryDirectory("moved-run").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/run"
        let training = try Training(out: out, arguments: try CLIFixtures.trainArguments(out: out, steps: 100_000,
                                                                                   extra: ["--checkpoint-every", "1", "--keep-last", "1"]))
        try training.waitForSteps(2)
        try FileManager.default.moveItem(atPath: out, toPath: root + "/moved")
        let log = training.waitForExit()
        #expect(training.process.terminationStatus == 1 && log.contains("\(out) was moved or removed during training"), "\(log)")
        #expect(!FileManager.default.fileExists(atPath: out), "no new folder was made at the old path")
        let steps = try CLIFixtures.losses(root + "/moved").count
        let resumed = try runGPT2(arguments: ["train", "--resume", root + "/moved", "--steps", String(steps + 1)])
        #expect(resumed.status == 0, "\(resumed.stderrText)")
    }

    /// A second signal quits at once, with the signal's exit status. It ran exit()'s clean-up on the signal thread
    /// while the training thread was inside OpenBLAS, which crashed the process about half the time (exit 139): so
    /// the second signal comes here, once the first has been taken, while a step of ~100 ms of matrix products runs, in two
    /// attempts where it comes in time.
    @Test func aSecondSignalQuitsAtOnceWithoutCrashing() throws {
        // An attempt where the run had finished stopping before the second signal came (a slow, loaded machine can
        // leave the test unscheduled for the ~100 ms micro-batch) proves nothing, and is made again.
        var conclusive = 0
        for attempt in 0..<6 where conclusive < 2 {
            let out = try TestPaths.temporaryDirectory("interrupt-twice").path + "/run\(attempt)"
            let training = try Training(out: out, arguments: try CLIFixtures.trainArguments(
                out: out, steps: 100_000, extra: ["--model", "small", "--micro-batch", "8", "--seq", "128"]))
            try training.waitForSteps(1)
            kill(training.process.processIdentifier, SIGTERM)
            try training.waitForLog("stopping after the micro-batch in progress")   // (else both may come as one event)
            kill(training.process.processIdentifier, SIGTERM)
            let log = training.waitForExit()
            let (status, reason) = (training.process.terminationStatus, training.process.terminationReason)
            let killedByTheSignal = reason == .uncaughtSignal && status == SIGTERM   // (once the run had let go of signals)
            #expect(reason == .exit || killedByTheSignal, "it crashed (signal \(status)); log:\n\(log)")
            if killedByTheSignal || (log.contains("interrupted: continue with") && !log.contains("second signal")) { continue }
            conclusive += 1
            #expect(status == 128 + SIGTERM, "exit status after two SIGTERMs; log:\n\(log)")
            #expect(log.contains("second signal: quitting now"), "\(log)")
        }
        #expect(conclusive == 2, "the second signal came after the run had stopped in most attempts")
    }
}
