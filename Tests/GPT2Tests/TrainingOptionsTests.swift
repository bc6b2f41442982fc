/// Training options are checked before anything runs: each value that would train wrongly without an error
/// (a floor above the peak learning rate, a negative weight decay or clip, a negative number of validation
/// batches that reports a loss of 0, samples of no tokens) is refused with a message naming the option.

import GPT2
import Testing

@Suite struct TrainingOptionsTests {
    private func options(_ change: (inout TrainingOptions) -> Void = { _ in }) -> TrainingOptions {
        var options = TrainingOptions(
            dataDirectory: "data", model: ModelConfig(maxSequenceLength: 64, vocabularySize: 100, layers: 1, heads: 2, channels: 16),
            modelName: "test", microBatch: 2, sequenceLength: 64, gradientAccumulation: 1, steps: 10,
            schedule: LearningRateSchedule(maxLearningRate: 1e-3, warmupSteps: 2, totalSteps: 10),
            sampleEvery: 5, outDirectory: "out", peakFLOPs: nil)
        change(&options)
        return options
    }

    @Test func defaultsAndEdgesAreValid() throws {
        try options().validate()
        try options { $0.schedule.minFraction = 0; $0.weightDecay = 0; $0.clipNorm = 0; $0.evalBatches = 0 }.validate()
        try options { $0.schedule.minFraction = 1; $0.sampleEvery = 0; $0.sampleTokens = 0 }.validate()
    }

    @Test(arguments: ["--min-lr-fraction 2", "--min-lr-fraction -0.5", "--weight-decay -0.1", "--weight-decay inf",
                      "--clip -1", "--clip nan", "--eval-batches -1", "--sample-tokens 0"])
    func badValuesAreRefusedByName(_ given: String) throws {
        let (flag, value) = (String(given.split(separator: " ")[0]), Float(given.split(separator: " ")[1])!)
        let bad = options { options in
            switch flag {
            case "--min-lr-fraction": options.schedule.minFraction = value
            case "--weight-decay": options.weightDecay = value
            case "--clip": options.clipNorm = value
            case "--eval-batches": options.evalBatches = Int(value)
            default: options.sampleTokens = Int(value)
            }
        }
        let thrown = try #require(throws: ConfigError.self) { try bad.validate() }
        #expect(String(describing: thrown).hasPrefix(flag), "\(thrown)")
    }
}
