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

    /// Throws when the options are invalid or end before the checkpoint's step.
    public func validate() throws {
        try options.validate(resuming: true)
        guard options.steps >= step else {
            throw TrainingError("--steps \(options.steps) ends before \(folder)'s step \(step); give more steps to train on from it")
        }
    }
}
