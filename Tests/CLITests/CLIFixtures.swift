/// What the CLI tests share: the tiny training command line, a trained run made once per process, a fresh two-step
/// run for a test to spoil, and checks on the error contract (non-zero exit, exactly one `Error:` line on stderr).

import Foundation
import GPT2
import GPT2TestSupport
import Testing

enum CLIFixtures {
    /// `gpt2 train` on the Shakespeare shards with the tiny preset, small enough to take about a second.
    static func trainArguments(out: String, steps: Int = 3, extra: [String] = []) throws -> [String] {
        ["train", "--model", "tiny", "--micro-batch", "2", "--seq", "32", "--steps", String(steps),
         "--eval-every", "0", "--sample-every", "0", "--threads", "2", "--device", "cpu",
         "--data", try ShakespeareShards.directory(), "--out", out] + extra
    }

    private static let trained = Result { () throws -> String in
        let out = try TestPaths.temporaryDirectory("cli-run").path + "/run"
        let result = try runGPT2(arguments: try trainArguments(out: out))
        guard result.status == 0 else { throw FileError("gpt2 train failed: \(result.stderrText)") }
        return out
    }

    /// A run folder trained for 3 steps (ckpt_3 inside); shared, so treat it as read-only.
    static func trainedRun() throws -> String { try trained.get() }

    /// Runs `body(root, run, metrics)` with a temporary folder `root` holding `root/run`, a 2-step run of the tiny
    /// model, and the bytes of its metrics.jsonl as written (to check later that a failed command left them).
    static func withTwoStepRun(_ name: String, _ body: (_ root: String, _ run: String, _ metrics: Data) throws -> Void) throws {
        let root = try TestPaths.temporaryDirectory(name).path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run"
        #expect(try runGPT2(arguments: try trainArguments(out: run, steps: 2)).status == 0)
        try body(root, run, try Data(contentsOf: URL(fileURLWithPath: run + "/metrics.jsonl")))
    }

    /// The environment naming an empty calibration file of a new temporary folder, so that the user's own bench runs
    /// never reach a plan (`gpt2 plan`, `bench`) a test makes.
    static func emptyCalibration() throws -> [String: String] {
        ["GPT2_CALIBRATION": try TestPaths.temporaryDirectory("plan-cal").path + "/calibration.json"]
    }

    /// `gpt2 plan ARGUMENTS --json` with an empty calibration file: its one JSON object (the test fails without it).
    static func planJSON(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let result = try runGPT2(arguments: ["plan"] + arguments + ["--json"], environment: try emptyCalibration())
        try #require(result.status == 0, "\(arguments): \(result.stderrText)", sourceLocation: sourceLocation)
        return try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], sourceLocation: sourceLocation)
    }

    /// Trains tiny on `device` at `learningRate` with no warm-up, no weight decay (which such a rate would turn into a
    /// refusal: lr × decay ≥ 1) and a checkpoint every step until it diverges, and
    /// checks that the run stopped (exit status 1, an error `saying` what became inf or NaN) at the first step whose
    /// loss or gradient norm is not finite, before that step was recorded or saved: its checkpoints and metrics rows
    /// are exactly the steps before, each with a finite loss and grad_norm, and the newest checkpoint holds no inf or
    /// NaN.
    static func expectDivergingRunStops(learningRate: String, saying phrase: String, device: String = "cpu",
                                        environment: [String: String]? = nil) throws {
        let root = try TestPaths.temporaryDirectory("cli-diverging").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run"
        var arguments = try trainArguments(out: run, steps: 6, extra: ["--lr", learningRate, "--warmup", "0", "--weight-decay", "0",
                                                                          "--checkpoint-every", "1"])
        arguments[arguments.firstIndex(of: "--device")! + 1] = device
        let result = try runGPT2(arguments: arguments, environment: environment)
        #expect(result.status == 1 && result.stderrText.contains("Error: \(phrase)")
                && result.stderrText.contains("lower --lr or check the data"), "\(result.stderrText)")
        let named = result.stderrText.components(separatedBy: " at step ").last ?? ""
        let failed = try #require(Int(named.prefix { $0.isNumber }), "no step in: \(result.stderrText)")
        try #require(failed >= 2, "the first step (loss ln V) cannot diverge: \(result.stderrText)")
        #expect(Checkpoint.steps(in: run) == Array(1..<failed))
        #expect(result.stderrText.contains("start again, from scratch or from step \(failed - 1)'s weights (--init-from \(run)/ckpt_\(failed - 1))"),
                "\(result.stderrText)")

        struct Row: Decodable { var step: Int; var loss: Double?; var grad_norm: Double? }
        let rows = try metricsRows(run, as: Row.self)
        #expect(rows.map(\.step) == Array(1..<failed))
        for row in rows {   // (non-finite numbers are written as null)
            #expect(row.loss?.isFinite == true && row.grad_norm?.isFinite == true, "step \(row.step): \(row)")
        }
        struct AnyState: Decodable {}
        let newest = try Checkpoint.load(run + "/" + Checkpoint.folderName(step: failed - 1), as: AnyState.self)
        for vector in [newest.parameters, newest.firstMoment, newest.secondMoment] {
            #expect(vector.allSatisfy { $0.isFinite })
        }
    }

    /// Every row of RUN/metrics.jsonl, decoded as `Row` (JSONDecoder reads doubles exactly).
    static func metricsRows<Row: Decodable>(_ run: String, as: Row.Type) throws -> [Row] {
        let text = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
    }

    /// The `loss` field of every step row of RUN/metrics.jsonl.
    static func losses(_ run: String) throws -> [Double] {
        struct Row: Decodable { var loss: Double? }
        return try metricsRows(run, as: Row.self).compactMap(\.loss)
    }
}

/// The error contract: a failure exits non-zero and says why in one `Error: …` line containing `phrase`.
func expectOneLineError(_ result: CommandResult, mentioning phrase: String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status != 0, "expected failure; stderr: \(result.stderrText)", sourceLocation: sourceLocation)
    let lines = result.stderrText.split(separator: "\n")
    #expect(lines.count == 1 && lines[0].hasPrefix("Error: "), "one Error: line expected, got:\n\(result.stderrText)",
            sourceLocation: sourceLocation)
    #expect(result.stderrText.contains(phrase), "the message should mention '\(phrase)': \(result.stderrText)",
            sourceLocation: sourceLocation)
    #expect(result.stdout.isEmpty, "nothing on stdout: \(result.stdoutText)", sourceLocation: sourceLocation)
}
