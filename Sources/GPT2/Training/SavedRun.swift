/// A run saved in a checkpoint, opened to continue it: the step it reached and the options it goes on with,
/// read and checked before anything is allocated, so that a resume that cannot go on fails in moments.

public struct SavedRun {
    /// The checkpoint folder (`RUN/ckpt_STEP`).
    public let folder: String
    /// The options the run continues with: the saved ones, in the run folder that holds the checkpoint now
    /// (it may have moved since). Change the few a resume may change (`steps`, the data's place, the device's)
    /// before `Trainer(resuming:)`.
    public var options: TrainingOptions
    let saved: Checkpoint.Saved<TrainerState>

    /// Opens checkpoint `folder` (its files and their sizes are checked; no vector is read yet).
    public init(checkpoint folder: String) throws {
        saved = try Checkpoint.open(folder, as: TrainerState.self)
        self.folder = folder
        options = saved.state.options
        options.outDirectory = Checkpoint.runDirectory(of: folder)
    }

    /// Optimizer steps the checkpoint completed.
    public var step: Int { saved.state.step }

    /// What the checkpoint saved besides the tensors.
    var state: TrainerState { saved.state }

    /// Throws when the options are invalid or end before the checkpoint's step, or when the checkpoint's files
    /// disagree with each other (a damaged or hand-edited state.json): the model built and the batches read on
    /// resuming follow model.bin and the saved loader, and every later step, the plan and the saves follow the options.
    public func validate() throws {
        if options.model != saved.config {
            throw TrainingError("\(folder) is damaged: its state.json describes \(Self.describe(options.model)), "
                                + "and its model.bin holds \(Self.describe(saved.config))")
        }
        // The schedule, the saves' names and metrics.jsonl go on from the saved step: a negative one trained at a negative
        // learning rate, and one that is not the folder's left the run's steps out of order.
        let named = Checkpoint.step(ofFolder: folder)
        if step < 0 || (named != nil && named != step) {
            throw TrainingError("\(folder) is damaged: its state.json is at step \(step)"
                                + (named.map { ", and its folder is named for step \($0)" } ?? ", and a step is never negative"))
        }
        // (the trainer runs one process: a position saved for several would resume reading one rank's share of the data)
        let loader = state.loader
        if loader.batchSize != options.microBatch || loader.sequenceLength != options.sequenceLength || loader.worldSize != 1 {
            throw TrainingError("\(folder) is damaged: its state.json's data position is for batches of \(loader.batchSize) × "
                                + "\(loader.sequenceLength) tokens\(loader.worldSize == 1 ? "" : " on \(loader.worldSize) processes"), "
                                + "and its options for \(options.microBatch) × \(options.sequenceLength)")
        }
        try options.validate(resuming: true)
        guard options.steps >= step else {
            throw TrainingError("--steps \(options.steps) ends before \(folder)'s step \(step); give more steps to train on from it")
        }
    }

    private static func describe(_ config: ModelConfig) -> String {
        "\(config.shape) V=\(config.vocabularySize) Vp=\(config.paddedVocabularySize)"
    }
}
