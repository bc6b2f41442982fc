/// What `gpt2 train`'s seed, data-order and schedule options do, seen in metrics.jsonl: a seed fixes the run and
/// another seed changes it, `--no-shuffle` changes the data order, and `--schedule wsd` gives the learning rates its
/// documented shape.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct TrainOptionEffectsTests {
    /// Trains the tiny model for `steps` steps into a fresh folder under `root` with `extra` options (an option the
    /// fixture's command line has already gets the value given here) and returns its metrics.jsonl step rows' `loss`
    /// and `lr` columns.
    private func train(_ root: String, _ name: String, steps: Int = 3, _ extra: [String]) throws -> (losses: [Double], rates: [Double]) {
        let run = root + "/" + name
        var arguments = try CLIFixtures.trainArguments(out: run, steps: steps)
        var index = 0
        while index < extra.count {
            let isFlag = index + 1 == extra.count || extra[index + 1].hasPrefix("--")
            if !isFlag, let present = arguments.firstIndex(of: extra[index]) {
                arguments[present + 1] = extra[index + 1]
            } else {
                arguments += isFlag ? [extra[index]] : [extra[index], extra[index + 1]]
            }
            index += isFlag ? 1 : 2
        }
        let result = try runGPT2(arguments: arguments)
        try #require(result.status == 0, "\(name): \(result.stderrText)")
        struct Row: Decodable { var loss: Double?, lr: Double? }
        let rows = try CLIFixtures.metricsRows(run, as: Row.self).filter { $0.loss != nil }
        #expect(rows.count == steps, "\(name)")
        return (rows.map { $0.loss! }, rows.compactMap(\.lr))
    }

    /// The seed fixes initialisation and data order: on the CPU two runs with the same seed write the same losses bit
    /// for bit, and another seed (other weights, another order) changes every one of them.
    @Test func equalSeedsGiveEqualLossesAndAnotherSeedOthers() throws {
        let root = try TestPaths.temporaryDirectory("cli-seed").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = try train(root, "a", ["--seed", "5"]).losses, second = try train(root, "b", ["--seed", "5"]).losses
        let other = try train(root, "c", ["--seed", "6"]).losses
        #expect(first == second)
        #expect(zip(first, other).allSatisfy { $0 != $1 }, "seed 5: \(first)\nseed 6: \(other)")
    }

    /// With the weights fixed by one seed, `--no-shuffle` reads other batches than the shuffled order, so every loss
    /// differs; and it is as reproducible as the shuffled order.
    @Test func noShuffleChangesTheLossSequence() throws {
        let root = try TestPaths.temporaryDirectory("cli-no-shuffle").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let shuffled = try train(root, "a", ["--seed", "5"]).losses
        let ordered = try train(root, "b", ["--seed", "5", "--no-shuffle"]).losses
        #expect(zip(shuffled, ordered).allSatisfy { $0 != $1 }, "shuffled: \(shuffled)\nin order: \(ordered)")
        #expect(try train(root, "c", ["--seed", "5", "--no-shuffle"]).losses == ordered)
    }

    /// `--schedule wsd` as --help documents it: a linear warm-up to --lr over --warmup steps (step s at lr·s/warmup),
    /// constant, then "linear decay over the last 20%" of the steps to the floor --lr × --min-lr-fraction, reached at the
    /// last step. 20 steps: warm-up 1–4, constant 5–16, decay over 17–20 at lr − (k/4)·(lr − floor) for k = 1…4. The
    /// values are computed here in double; metrics.jsonl holds the fp32 rate the trainer computed, widened: its rounding
    /// (6e-8 relative) and a few fp32 operations' keep it within 1e-6 relative, while a decay that starts a step early or
    /// late, or ends above the floor, is off by ≥ 2e-4 absolute (a quarter of the decay's 9e-4 per step).
    @Test func wsdLearningRatesFollowTheDocumentedShape() throws {
        let root = try TestPaths.temporaryDirectory("cli-wsd").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (steps, warmup, lr, floorFraction) = (20, 4, 1e-3, 0.1)
        let rates = try train(root, "run", steps: steps, ["--schedule", "wsd", "--warmup", String(warmup), "--lr", "1e-3",
                                                          "--min-lr-fraction", "0.1", "--micro-batch", "1", "--seq", "16"]).rates
        let decaySteps = steps / 5, floor = lr * floorFraction
        let expected = (1...steps).map { step -> Double in
            if step <= warmup { return lr * Double(step) / Double(warmup) }
            if step <= steps - decaySteps { return lr }
            return lr - Double(step - (steps - decaySteps)) / Double(decaySteps) * (lr - floor)
        }
        #expect(rates.count == steps)
        for (step, (rate, wanted)) in zip(rates, expected).enumerated() {
            #expect(abs(rate - wanted) <= 1e-6 * wanted, "step \(step + 1): lr \(rate), expected \(wanted)")
        }
    }
}
