/// The validation loss (`Trainer.evaluate`, which `gpt2 eval` and training's val_loss use) is the mean of the model's
/// losses over the first N batches of the validation split, read in order: checked against batches cut here from
/// the split's tokens and run through `forward` one by one.

import CPUBackend
import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct ValidationLossTests {
    static let (B, T) = (4, 32)

    /// A 2-layer model of C=32 for batches of B×T.
    static func model() throws -> GPT2Model<CPUBackend> {
        let config = ModelConfig(maxSequenceLength: T, layers: 2, heads: 2, channels: 32)
        let model = try GPT2Model(config: config, backend: CPUBackend(threads: 2), batchSize: B, sequenceLength: T, training: false)
        var data = TestData(seed: 17)
        model.setParameters(data.normal(config.parameterCount, standardDeviation: 0.3))
        return model
    }

    /// The model's loss on each of the first `batches` of `split`, run through `forward` one by one. llm.c's sequential
    /// batches: batch i is tokens i·B·T ..< i·B·T + B·T + 1 of the split, the inputs its first B·T, the targets the same
    /// shifted by one.
    static func batchLosses(_ model: GPT2Model<CPUBackend>, _ split: [Int32], batches: Int) throws -> [Double] {
        try (0..<batches).map { batch in
            let start = batch * B * T
            let inputs = Array(split[start..<(start + B * T)]), targets = Array(split[(start + 1)..<(start + B * T + 1)])
            return Double(try #require(model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)))
        }
    }

    /// Weights N(0, 0.3) rather than GPT-2's 0.02, which spreads the per-batch losses (by ~1e-3 relative here), so
    /// that a batch read from the wrong place, skipped or counted twice moves the mean well beyond the tolerance.
    @Test(arguments: [1, 5])
    func validationLossIsTheMeanLossOfTheFirstBatches(batches: Int) throws {
        let (B, T) = (Self.B, Self.T), model = try Self.model()
        // (ShakespeareShards puts the split's tokens first in `tokens()`)
        let split = try ShakespeareShards.tokens().prefix(ShakespeareShards.validationTokens).map(Int32.init)
        let losses = try Self.batchLosses(model, split, batches: batches)
        let expected = losses.reduce(0, +) / Double(batches)

        let validation = try ValidationLoader(.split(directory: try ShakespeareShards.directory(), split: "val"), batchSize: B, sequenceLength: T)
        let loss = try Trainer.evaluate(model, validation, batches: batches)
        // The same forward pass on the same batches gives the same per-batch losses bit for bit; what may differ is
        // the order of the sum and the final rounding to fp32: ~1e-7 relative. Allowed 1e-6 relative. One batch taken
        // for another moves the mean by their difference / N: checked below to be 10 times the tolerance or more.
        #expect(abs(Double(loss) - expected) <= 1e-6 * expected, "evaluate \(loss), expected \(expected) from \(losses)")
        let sorted = losses.sorted()
        let closest = zip(sorted, sorted.dropFirst()).map { $1 - $0 }.min() ?? .infinity
        #expect(closest / Double(batches) > 1e-5 * expected, "batches too alike to tell apart: \(losses)")
        // and a second evaluation starts again from the first batch
        #expect(try Trainer.evaluate(model, validation, batches: batches) == loss)
    }

    /// `batches` 0 (`--eval-batches 0`), or more batches than the split holds, is the mean over the whole split: here a
    /// split of 3·B·T + 51 tokens, which holds 3 batches (each needs B·T + 1 tokens from its start; the 4th would start
    /// at 3·B·T and needs B·T + 1 of the 51 left). The mean is of 3 losses, not divided by the count asked for.
    @Test(arguments: [0, 10])
    func moreBatchesThanTheSplitHoldsIsTheWholeSplit(batches: Int) throws {
        let (B, T) = (Self.B, Self.T), model = try Self.model()
        let split = Array(try ShakespeareShards.tokens().prefix(3 * B * T + 51))
        let directory = try TestPaths.temporaryDirectory("validation-whole").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ShardWriter.write(split, to: directory + "/small_val_000000.bin")

        let losses = try Self.batchLosses(model, split.map(Int32.init), batches: 3)
        let expected = losses.reduce(0, +) / 3
        let validation = try ValidationLoader(.split(directory: directory, split: "val"), batchSize: B, sequenceLength: T)
        try #require(validation.batchesPerPass == 3)
        let loss = try Trainer.evaluate(model, validation, batches: batches)
        #expect(abs(Double(loss) - expected) <= 1e-6 * expected, "evaluate \(loss), expected \(expected) from \(losses)")
    }
}
