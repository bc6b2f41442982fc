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

    /// Opens checkpoint `folder` (its files and their sizes are checked; no vector is read yet); a symbolic link to it,
    /// or a path ending in `.` or `..`, is taken for the folder it names (see `Checkpoint.realFolder`).
    /// Saved options no command line could give (`keepLast` −3) are a damaged file, refused as such here, before a resume
    /// takes any of them (its device and threads), not as options the user gave.
    public init(checkpoint folder: String) throws {
        saved = try Checkpoint.open(folder, as: TrainerState.self)
        self.folder = Checkpoint.realFolder(folder)
        options = saved.state.options
        options.outDirectory = Checkpoint.runDirectory(of: folder)
        do {
            try options.validate(resuming: true)
            try WorkerThreads.require(options.threads)
        } catch {
            throw TrainingError("\(self.folder) is damaged: its state.json holds options no run has (\(error))")
        }
    }

    /// The newest checkpoint of `folder`'s run before `folder`'s step that opens and whose files are those written (read
    /// whole against their checksums), the way on from a damaged `folder`; nil when there is none, or `folder` is not
    /// named as a checkpoint.
    public static func newestCompleteCheckpoint(before folder: String) -> String? {
        let runFolder = Checkpoint.runDirectory(of: folder)
        guard let step = Checkpoint.step(ofFolder: Checkpoint.realFolder(folder)) else { return nil }
        return Checkpoint.steps(in: runFolder).reversed().lazy.filter { $0 < step }
            .map { FileSystem.join(runFolder, Checkpoint.folderName(step: $0)) }
            .first { (try? SavedRun(checkpoint: $0)) != nil && (try? Checkpoint.verifyFiles(in: $0)) != nil }
    }

    /// Optimizer steps the checkpoint completed.
    public var step: Int { saved.state.step }

    /// What the checkpoint saved besides the tensors.
    var state: TrainerState { saved.state }

    /// A note for the log where this gpt2 may not go on exactly as the run would have: a checkpoint from a gpt2 that
    /// recorded no format (its code may have differed from this one's), or one whose saved learning rate this gpt2's
    /// schedule does not give at its step (the schedule changed between the two builds); nil otherwise.
    public var continuityNote: String? {
        guard let savedRate = state.learningRate else {
            return "note: \(folder) was written by an earlier gpt2, from before checkpoints recorded their format and the gpt2 "
                    + "that wrote them: the run goes on with this gpt2's code, which may differ from that one's (with --warmup 0 "
                    + "the learning-rate schedule did until 2026-12-05)"
                    + (state.validationShards == nil && options.evalEvery > 0 ? ", and the run's validation shards were not recorded, so a change of its "
                       + "validation split is not noticed" : "")
        }
        let rate = state.options.schedule.learningRate(at: step)
        guard abs(rate - savedRate) > 1e-6 * max(abs(rate), abs(savedRate)) else { return nil }
        return "note: \(folder) trained step \(step) at learning rate \(formatScientific(Double(savedRate))) "
                + "(\(BuildInfo.describe(state.writtenBy ?? ""))), where this gpt2's schedule gives \(formatScientific(Double(rate))): "
                + "the run goes on along this gpt2's curve, not the one it trained on"
    }

    /// Throws when the options are invalid or end before the checkpoint's step, or when the checkpoint's files
    /// disagree with each other (a damaged or hand-edited state.json): the model built and the batches read on
    /// resuming follow model.bin and the saved loader, and every later step, the plan and the saves follow the options.
    public func validate() throws {
        if options.model != saved.config {
            throw TrainingError("\(folder) is damaged: its state.json describes \(options.model.shapeAndVocabulary), "
                                + "and its model.bin holds \(saved.config.shapeAndVocabulary)")
        }
        // The schedule, the saves' names and metrics.jsonl go on from the saved step, in the folder around the checkpoints,
        // which are named for their steps: a checkpoint named otherwise (a copy kept aside, in another run's folder or in
        // the folder of all runs) has no run folder of its own to go on in; a step that is not its folder's left the run's
        // steps out of order, and a negative one trained at a negative learning rate.
        guard let named = Checkpoint.step(ofFolder: folder) else {
            throw TrainingError("\(folder) holds a checkpoint of step \(step), but a run goes on in the folder around its "
                                + "checkpoints, which are named \(Checkpoint.folderName(step: step)); it is not, so the folder around it is "
                                + "not its run's. To continue that run, copy the checkpoint to NEWRUN/\(Checkpoint.folderName(step: step)) "
                                + "and resume NEWRUN; to train on from its weights with other options, start a new run with --init-from \(folder)")
        }
        if named != step {
            throw TrainingError("\(folder) is damaged: its state.json is at step \(step), and its folder is named for step \(named)")
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

    /// Refuses to go on from this checkpoint while its run folder holds later ones: continuing would mix two courses of
    /// the run (see `Trainer.init(resuming:)`, which with --overwrite removes them instead). `leavingNothingToTrain`: the
    /// run's --steps end at this checkpoint, so --overwrite alone would not go on from it either.
    public func refuseLaterCheckpoints(leavingNothingToTrain: Bool = false) throws {
        let run = options.outDirectory
        guard let newest = Checkpoint.steps(in: run).last, newest > step else { return }
        let start = "\(folder) is not the newest checkpoint of \(run) (\(Checkpoint.folderName(step: newest)) is)"
        if leavingNothingToTrain {
            throw TrainingError(start + ", and --steps \(options.steps) leaves nothing to train from it: resume the run folder, or "
                                + "give --steps above \(step) with --overwrite, which drops what came after step \(step)")
        }
        throw TrainingError(start + ": continuing from it would mix two courses of the run; resume the run folder, copy the "
                            + "checkpoint to NEWRUN/\(Checkpoint.folderName(step: step)) and resume NEWRUN, or add --overwrite to drop "
                            + "what came after step \(step)")
    }
}
