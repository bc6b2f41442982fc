/// Training options are checked before anything runs: each value that would train wrongly without an error
/// (a floor above the peak learning rate, a negative weight decay or clip, a negative number of validation
/// batches that reports a loss of 0, samples of no tokens or of more than the model's context, samples or HellaSwag from a model whose vocabulary is not
/// GPT-2's) is refused with a message naming the option.

import Foundation
import GPT2
import Testing

@Suite struct TrainingOptionsTests {
    private func options(_ change: (inout TrainingOptions) -> Void = { _ in }) -> TrainingOptions {
        var options = TrainingOptions(
            dataDirectory: "data", model: ModelConfig(maxSequenceLength: 64, vocabularySize: 50257, layers: 1, heads: 2, channels: 16),
            modelName: "test", microBatch: 2, sequenceLength: 64, gradientAccumulation: 1,
            schedule: LearningRateSchedule(maxLearningRate: 1e-3, warmupSteps: 2, totalSteps: 10),
            sampleEvery: 5, outDirectory: "out", peakFLOPs: nil)
        change(&options)
        return options
    }

    @Test func defaultsAndEdgesAreValid() throws {
        try options().validate()
        try options { $0.schedule.minFraction = 0; $0.weightDecay = 0; $0.clipNorm = 0; $0.evalBatches = 0 }.validate()
        try options { $0.schedule.minFraction = 1; $0.sampleEvery = 0; $0.sampleTokens = 0 }.validate()
        try options { $0.sampleTokens = 64 }.validate()   // the model's whole context
        try options { $0.sampleEvery = 0; $0.sampleTokens = 100_000 }.validate()   // no samples, nothing to wait for
        try options { $0.sampleTokens = 100_000 }.validate(resuming: true)   // saved before the limit: it continues
    }

    /// A peak FLOP/s that is none (a damaged state.json's, which --peak-flops never gives) is refused, as the option
    /// refuses it: -1 logged an MFU of -2e12 % and wrote it into metrics.jsonl, 0 an infinite one.
    @Test(arguments: [-1.0, 0, .nan, 1e30])
    func aPeakThatIsNoneIsRefused(_ peak: Double) throws {
        try options { $0.peakFLOPs = 989e12 }.validate(resuming: true)
        let thrown = try #require(throws: ConfigError.self) { try options { $0.peakFLOPs = peak }.validate(resuming: true) }
        #expect(String(describing: thrown).hasPrefix("--peak-flops must be from 1e6 to 1e21 FLOP/s"), "\(thrown)")
    }

    @Test(arguments: ["--min-lr-fraction 2", "--min-lr-fraction -0.5", "--weight-decay -0.1", "--weight-decay inf",
                      "--clip -1", "--clip nan", "--eval-batches -1", "--sample-tokens 0", "--sample-tokens 65"])
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

    /// A step's tokens, which the log's tok/s and MFU count, are all its micro-batches': 2 sequences × 64 tokens × 3
    /// micro-batches = 384.
    @Test func aStepsTokensCountEveryMicroBatch() {
        let accumulating = options { $0.gradientAccumulation = 3 }
        #expect(accumulating.tokensPerStep == 384)
        #expect(accumulating.summary.contains("batch: 2 × 64 tokens × 3 accumulation = 384 tokens/step"), "\(accumulating.summary)")
    }

    /// The run's summary says when activations are recomputed (saved and applied, but the log never said so).
    @Test func theSummarySaysWhenActivationsAreRecomputed() {
        #expect(options { $0.recompute = true }.summary.contains("10 steps, --recompute\n"), "\(options { $0.recompute = true }.summary)")
        #expect(!options().summary.contains("recompute"), "\(options().summary)")
    }

    /// The last step is the schedule's end, written once: setting `steps` stretches the schedule, and the saved options
    /// hold it only as the schedule's `totalSteps`. A state.json from before, which held a top-level `steps` as well,
    /// still loads, its schedule's end taken.
    @Test func theLastStepIsTheSchedulesEndAndSavedOnce() throws {
        var stretched = options()
        stretched.steps = 30
        #expect(stretched.schedule.totalSteps == 30)
        #expect(stretched.schedule.learningRate(at: 30) == stretched.schedule.maxLearningRate * stretched.schedule.minFraction)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(stretched)) as? [String: Any]
        #expect(json?["steps"] == nil, "saved twice: \(json?["steps"] ?? "")")
        #expect((json?["schedule"] as? [String: Any])?["totalSteps"] as? Int == 30)

        var older = try #require(json)
        older["steps"] = 30
        let loaded = try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: older))
        #expect(loaded == stretched && loaded.steps == 30)
    }

    /// Samples start from <|endoftext|> (50256) and HellaSwag items are GPT-2 token ids: a model with another
    /// vocabulary would read past its embedding table, so either is refused unless turned off.
    @Test(arguments: [1000, 50304])
    func samplesAndHellaSwagNeedGPT2sVocabulary(_ vocabulary: Int) throws {
        let sampling = options { $0.model.vocabularySize = vocabulary; $0.model.paddedVocabularySize = 50304 }
        let thrown = try #require(throws: ConfigError.self) { try sampling.validate() }
        #expect(String(describing: thrown).hasPrefix("--sample-every") && String(describing: thrown).contains("--sample-every 0"))
        var scoring = sampling
        scoring.sampleEvery = 0
        scoring.hellaswagEvery = 10
        let refused = try #require(throws: ConfigError.self) { try scoring.validate() }
        #expect(String(describing: refused).hasPrefix("--eval-hellaswag-every"))
        scoring.hellaswagEvery = 0
        try scoring.validate()
    }
}
