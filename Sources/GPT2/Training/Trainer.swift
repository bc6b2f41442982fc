/// The training loop: micro-batches accumulated into optimizer steps, the LR schedule, AdamW with
/// clipping, periodic validation, samples and checkpoints, progress on stderr and metrics in RUN/.

/// What a checkpoint's state.json holds besides the tensors.
public struct TrainerState: Codable, Sendable {
    /// The checkpoint format (`Checkpoint.format` when written); nil in format 1, which did not record it.
    public var format: Int?
    /// The commit of the gpt2 that wrote it (`BuildInfo.commit`); nil in format 1.
    public var writtenBy: String?
    /// Optimizer steps completed.
    public var step: Int
    /// The learning rate step `step` trained at; nil in format 1. A resume whose schedule gives another there (a gpt2
    /// whose schedule changed) says so: the run goes on along another curve.
    public var learningRate: Float?
    public var options: TrainingOptions
    public var loader: DataLoaderState
    /// The generator for text samples, so a resumed run prints the same samples.
    public var sampleRandom: SeededRandom
    /// The validation split's shards, so that a resume evaluates on the same ones (its val_loss rows go on the same
    /// curve). Nil without validation, and in checkpoints older than it.
    public var validationShards: [DataLoaderState.ShardSummary]?
}

public final class Trainer<Ops: Backend> {
    public let options: TrainingOptions
    public let model: GPT2Model<Ops>
    /// Turns token ids into text for the periodic samples (nil: no samples).
    public var decode: (([Int]) -> String)?
    /// HellaSwag items scored every `options.hellaswagEvery` steps (nil: not scored).
    public var hellaswag: [HellaSwagExample]?
    /// A step still accumulating after this many seconds says how far it has got, and again each time as long (a d12
    /// step of 64 micro-batches on a CPU takes an hour, and its first line came at its end), through `progress`.
    public var progressInterval = 30.0
    public var progress: (String) -> Void = { Console.log($0) }

    private let loader: DataLoader
    private let validation: ValidationLoader?
    /// The validation shards the run's val_loss rows were measured on, which its checkpoints record: those open now,
    /// else (validation off for now) those recorded before, so that turning it on again later is checked against them.
    private let validationShards: [DataLoaderState.ShardSummary]?
    /// Held from the trainer's creation until its `run` returns, and again during each later `run`: no other trainer
    /// writes into the run folder meanwhile.
    private var runLock: RunLock?
    /// Optimizer steps completed (a resumed run starts at its checkpoint's).
    public private(set) var step: Int
    private var sampleRandom: SeededRandom
    /// The weights the run loaded ("the weights of --init-from PATH", of its resumed checkpoint), and the step they are
    /// at; nil for a fresh run's initial weights. A first loss that is not finite is theirs, not the learning rate's.
    private let loadedWeights: (description: String, step: Int)?

    /// A fresh run: initialises (or loads) the weights and opens the data. A run folder that already holds a
    /// run is refused before the model is built, or, with `replacingEarlierRun`, cleared of its checkpoints and
    /// metrics (once everything else has been checked, so a bad option never costs the earlier run).
    public init(options: TrainingOptions, backend: Ops, replacingEarlierRun: Bool = false) throws {
        try options.validate()
        self.options = options
        loader = try DataLoader(.split(directory: options.dataDirectory, split: "train"), batchSize: options.microBatch,
                                sequenceLength: options.sequenceLength, shuffle: options.shuffle, seed: options.seed,
                                vocabularySize: options.model.vocabularySize)
        validation = try Trainer.openValidation(options)
        validationShards = validation?.shardSummaries
        step = 0
        sampleRandom = SeededRandom(seed: options.seed ^ 0x5A4D_504C)
        runLock = try RunLock(options.outDirectory)
        let earlier = RunFolder.earlierRun(in: options.outDirectory)
        if !replacingEarlierRun { try RunFolder.refuseEarlierRun(in: options.outDirectory, checkingLock: false) }   // (it holds it)
        model = try GPT2Model(config: options.model, backend: backend, batchSize: options.microBatch,
                              sequenceLength: options.sequenceLength, recompute: options.recompute)
        loadedWeights = options.initFrom.map { ("the weights of --init-from \($0)", 0) }
        if let initFrom = options.initFrom {
            try ModelSource.loadParameters(initFrom, into: model)
        } else {
            model.initializeParameters(seed: options.seed)
        }
        if let earlier {
            try loader.checkNext()
            try RunFolder.clear(options.outDirectory)
            Console.log("--overwrite: removed the earlier run's \(earlier) from \(options.outDirectory)")
        }
    }

    /// Continues `run` with its options, in the run folder that holds its checkpoint. A checkpoint with later
    /// ones beside it is refused before the model is built (continuing from it would leave them, from another
    /// course, for the next resume to pick up), or, with `replacingLaterSteps`, the later checkpoints are removed
    /// once the weights have loaded (as are, when it runs, the metrics of later steps).
    public init(resuming run: SavedRun, backend: Ops, replacingLaterSteps: Bool = false) throws {
        try run.validate()
        options = run.options
        guard FileSystem.isDirectory(options.dataDirectory) else {
            throw TrainingError("this run's data folder \(options.dataDirectory) is gone; if its shards moved, resume with --data NEWDIR")
        }
        loader = try DataLoader(restoring: run.state.loader, .split(directory: options.dataDirectory, split: "train"),
                                vocabularySize: options.model.vocabularySize)
        validation = try Trainer.openValidation(options, resuming: true)
        validationShards = validation?.shardSummaries ?? run.state.validationShards
        if let saved = run.state.validationShards, let validation,
           let difference = DataLoaderState.ShardSummary.difference(saved: saved, current: validation.shardSummaries,
                                                                    selection: ShardSelection.split(directory: options.dataDirectory, split: "val").description) {
            throw TrainingError("cannot continue validating on other shards: \(difference); their val_loss would not compare "
                                + "with the run's earlier rows. Give --data a folder holding the run's validation shards, or start "
                                + "a new run from its weights with --init-from")
        }
        step = run.step
        loadedWeights = ("the weights of \(run.folder)", run.step)
        sampleRandom = run.state.sampleRandom
        runLock = try RunLock(options.outDirectory)
        let later = Checkpoint.steps(in: options.outDirectory).filter { $0 > run.step }
        if !replacingLaterSteps { try run.refuseLaterCheckpoints() }
        model = try GPT2Model(config: run.saved.config, backend: backend, batchSize: options.microBatch,
                              sequenceLength: options.sequenceLength, recompute: options.recompute)
        try run.saved.restore { [model] tensor, range, values in
            model.backend.upload(values, to: model.layout.whole(tensor.buffer).slice(range.lowerBound, range.count))
        }
        if !later.isEmpty {
            try RunFolder.removeCheckpoints(later, from: options.outDirectory)
            Console.log("--overwrite: removed \(later.map(Checkpoint.folderName(step:)).joined(separator: ", ")) from \(options.outDirectory)")
        }
    }

    /// Continues the run saved in checkpoint `folder` with the options it was started with (see `SavedRun`).
    public convenience init(resuming folder: String, backend: Ops, replacingLaterSteps: Bool = false) throws {
        try self.init(resuming: SavedRun(checkpoint: folder), backend: backend, replacingLaterSteps: replacingLaterSteps)
    }

    /// What the run reads, for the log: "train: 1 shard, 305260 tokens; val: 1 shard, 32768 tokens".
    public var dataSummary: String {
        "train: \(loader.contentsDescription)" + (validation.map { "; val: \($0.contentsDescription)" } ?? "")
    }

    /// A line for the log when `--eval-batches` asks for more batches than the validation split holds (each
    /// validation then reads the whole split, as `gpt2 eval` says too); nil otherwise.
    public var validationNote: String? {
        guard let validation, options.evalBatches > validation.batchesPerPass else { return nil }
        return "note: \(validation.passDescription(split: "val")), fewer than --eval-batches \(options.evalBatches): each validation reads those"
    }

    /// Whether the last `run` ended early because `stopRequest` asked it to (its checkpoint is saved).
    public private(set) var stoppedOnRequest = false

    /// Trains until `options.steps`, or through step `stopAfter` (a step number, not a count), or until `stopRequest` is raised (Ctrl-C) and the
    /// micro-batch in progress ends (a step it does not complete is dropped); each of these leaves a checkpoint of the
    /// last complete step. After a dropped step this trainer's data position is part-way through it: continue from
    /// the checkpoint (`init(resuming:)`), not with another `run`.
    /// Returns the training loss of each step run.
    @discardableResult
    public func run(stopAfter: Int? = nil, stopRequest: StopRequest? = nil) throws -> [Float] {
        stoppedOnRequest = false
        if runLock == nil { runLock = try RunLock(options.outDirectory) }
        defer { runLock = nil }
        try runLock?.requireInPlace(step: step)   // (building the model took a while: the folder may be elsewhere now)
        Checkpoint.removeUnfinished(in: options.outDirectory)
        let metrics = try MetricsLog(path: FileSystem.join(options.outDirectory, MetricsLog.fileName), truncatingAfter: step)
        let lastStep = min(options.steps, stopAfter ?? options.steps)
        var losses: [Float] = []
        var peakDeviceMemory: Int?
        let clock = ContinuousClock()
        let started = clock.now
        let firstStep = step + 1
        guard firstStep <= lastStep else { return losses }
        for current in firstStep...lastStep {
            let stepStart = clock.now
            let loaderAtStepStart = loader.state
            // A stop request ends the step at the micro-batch in progress, unless that one completes it: a step half
            // accumulated is dropped (the weights are still the last step's), so the stop waits for one micro-batch only.
            let stopNow = { stopRequest?.isRequested == true && current < lastStep }
            guard let loss = try accumulateGradients(step: current, abandoningWhen: stopNow) else {
                stoppedOnRequest = true
                Console.log("step \(current) dropped part-way; the run stands at step \(step)")
                if Checkpoint.steps(in: options.outDirectory).contains(step) {
                    Console.log("\(options.outDirectory)/\(Checkpoint.folderName(step: step)) already holds it")
                } else {
                    try saveCheckpoint(loader: loaderAtStepStart, metrics: metrics)
                }
                break
            }
            guard loss.isFinite else {
                if let loadedWeights, current == loadedWeights.step + 1 {   // (no update has touched them yet)
                    throw TrainingError("the loss is \(Self.nonFinite(loss)) at step \(current), on \(loadedWeights.description) before any "
                                        + "update: they are damaged, or come from a run that diverged")
                }
                throw TrainingError("the loss became \(Self.nonFinite(loss)) at step \(current); \(wayOnAfterDivergence)")
            }
            let lr = options.schedule.learningRate(at: current)
            let hyper = AdamWHyperparameters(learningRate: lr, weightDecay: options.weightDecay)
            let norm = model.optimizerStep(hyperparameters: hyper, step: current, clipNorm: options.clipNorm)
            model.backend.synchronize()
            // A gradient past fp32's range (a diverging run) leaves no meaningful update, whatever the clip: stop before
            // this step is recorded or saved, so that the newest checkpoint is the last good step.
            guard norm.isFinite else {
                throw TrainingError("the gradient norm became \(Self.nonFinite(norm)) at step \(current) (its loss \(formatScientific(Double(loss)))); "
                                    + wayOnAfterDivergence)
            }
            step = current
            losses.append(loss)

            let seconds = (clock.now - stepStart).seconds
            let remaining = (clock.now - started).seconds / Double(current - firstStep + 1) * Double(lastStep - current)
            if let used = try report(step: current, loss: loss, lr: lr, norm: norm, seconds: seconds, remaining: remaining, in: metrics) {
                peakDeviceMemory = max(peakDeviceMemory ?? 0, used)
            }

            try evaluatePeriodically(after: current, metrics: metrics, skippingWhen: stopNow,
                                     endingSampleWhen: { stopRequest?.isRequested == true })
            let periodic = options.checkpointEvery > 0 && current % options.checkpointEvery == 0
            stoppedOnRequest = stopNow()
            if periodic || current == lastStep || stoppedOnRequest { try saveCheckpoint(loader: loader.state, metrics: metrics) }
            if stoppedOnRequest { break }
        }
        if let peakDeviceMemory {
            Console.log("peak GPU memory \(formatBytes(peakDeviceMemory)) (the driver's total − free, after each step)")
        }
        return losses
    }

    // MARK: - One step and what runs between steps

    /// Records step `current` in metrics.jsonl and logs its line: loss, learning rate, gradient norm, speed, MFU (with
    /// a peak to measure against), the device memory in use (on a GPU) and the time left. Returns that memory.
    private func report(step current: Int, loss: Float, lr: Float, norm: Float, seconds: Double, remaining: Double,
                        in metrics: MetricsLog) throws -> Int? {
        let tokensPerSecond = Double(options.tokensPerStep) / seconds
        let flopsPerStep = FLOPCount.trainingPerToken(options.model, sequenceLength: options.sequenceLength) * Double(options.tokensPerStep)
        let mfu = options.peakFLOPs.map { flopsPerStep / seconds / $0 }
        var fields = [("step", Double(current)), ("loss", Double(loss)), ("lr", Double(lr)),
                      ("grad_norm", Double(norm)), ("tokens_per_s", tokensPerSecond)]
        if let mfu { fields.append(("mfu", mfu)) }
        let used = model.backend.deviceMemoryInUse()
        if let used { fields.append(("device_memory_bytes", Double(used))) }
        try record(fields, in: metrics)
        Console.log("step \(current)/\(options.steps) | loss \(formatFixed(Double(loss), digits: 4)) | lr \(formatScientific(Double(lr))) | "
                    + "norm \(formatFixed(Double(norm), digits: 3)) | \(Int(tokensPerSecond)) tok/s | "
                    + "MFU \(mfu.map { formatFixed($0 * 100, digits: 1) + "%" } ?? "n/a")"
                    + (used.map { " | GPU \(formatBytes($0))" } ?? "") + " | ETA \(formatDuration(remaining))")
        return used
    }

    /// Zeroes the gradients and accumulates those of `gradientAccumulation` micro-batches; returns their mean loss,
    /// or nil when `abandon` says so after a micro-batch that is not the last (the gradients are then partial).
    private func accumulateGradients(step current: Int, abandoningWhen abandon: () -> Bool) throws -> Float? {
        let (B, T, A) = (options.microBatch, options.sequenceLength, options.gradientAccumulation)
        let clock = ContinuousClock()
        let start = clock.now
        var said = start
        model.zeroGradients()
        var lossSum: Double = 0
        for microStep in 0..<A {
            let batch = try loader.next()
            lossSum += Double(model.accumulateGradients(inputs: batch.inputs, targets: batch.targets, batchSize: B,
                                                        sequenceLength: T, lossScale: 1 / Float(B * T * A)))
            if microStep < A - 1 && abandon() { return nil }
            if microStep < A - 1 && (clock.now - said).seconds >= progressInterval {
                said = clock.now
                let elapsed = (said - start).seconds
                progress("step \(current)/\(options.steps): \(microStep + 1) of \(A) micro-batches in \(formatDuration(elapsed)), "
                         + "the step's end in about \(formatDuration(elapsed / Double(microStep + 1) * Double(A - microStep - 1)))")
            }
        }
        return Float(lossSum / Double(A))
    }

    /// Validation loss and HellaSwag, each when its period or the last step comes up; a text sample when its period
    /// does. Once `skip` says so (a stop request before the run's last step), the evaluations not begun yet are left
    /// out, so that a stop is not kept waiting for minutes of them; once `endSample` says so (a stop request, at any
    /// step), a sample ends at the token it is on (the samples after a resume then differ from an uninterrupted run's,
    /// as they draw from the sample generator's state; the losses do not).
    private func evaluatePeriodically(after current: Int, metrics: MetricsLog, skippingWhen skip: () -> Bool,
                                      endingSampleWhen endSample: () -> Bool) throws {
        func due(_ every: Int?, _ what: String) -> Bool {
            guard let every, every > 0, current % every == 0 || current == options.steps else { return false }
            guard !skip() else {
                Console.log("step \(current) | \(what) skipped: stopping on request")
                return false
            }
            return true
        }
        if let validation, due(options.evalEvery, "validation") {
            let valLoss = try Trainer.evaluate(model, validation, batches: options.evalBatches)
            try record([("step", Double(current)), ("val_loss", Double(valLoss))], in: metrics)
            Console.log("step \(current) | val loss \(formatFixed(Double(valLoss), digits: 4))")
        }
        if let hellaswag, due(options.hellaswagEvery, "HellaSwag") {
            let score = try HellaSwag.evaluate(model, hellaswag, showProgress: false).score
            try record([("step", Double(current)), ("hellaswag_acc", score.accuracy),
                        ("hellaswag_acc_norm", score.normalizedAccuracy), ("hellaswag_items", Double(score.examples))], in: metrics)
            Console.log("step \(current) | hellaswag acc \(formatFixed(score.accuracy, digits: 4)) acc_norm \(formatFixed(score.normalizedAccuracy, digits: 4)) (\(formatCount(score.examples, "item")))")
        }
        if options.sampleEvery > 0 && current % options.sampleEvery == 0, let decode {
            let tokens = try model.generate(prompt: [GPT2Tokenizer.endOfText], count: options.sampleTokens,
                                            options: SamplingOptions(temperature: 1, topK: 40), random: &sampleRandom, until: endSample)
            let cut = tokens.count <= options.sampleTokens ? " (cut short after \(formatCount(tokens.count - 1, "token")): stopping on request)" : ""
            Console.log("sample at step \(current)\(cut):\n" + decode(Array(tokens.dropFirst())) + "\n---")
        }
    }

    /// The mean loss over up to `batches` validation batches (all of them when 0); `progress` hears after each batch.
    public static func evaluate(_ model: GPT2Model<Ops>, _ validation: ValidationLoader, batches: Int,
                                progress: ((_ batchesDone: Int, _ meanLoss: Float) -> Void)? = nil) throws -> Float {
        validation.reset()
        var total: Double = 0
        var count = 0
        while batches == 0 || count < batches, let batch = try validation.next() {
            let loss = model.forward(inputs: batch.inputs, targets: batch.targets, batchSize: model.layout.batchSize,
                                     sequenceLength: model.layout.sequenceLength)!
            total += Double(loss)
            count += 1
            progress?(count, Float(total / Double(count)))
        }
        return Float(total / Double(max(1, count)))
    }

    // MARK: - Details

    /// Saves the run as of `step`, with `loader` the data position after it, once `metrics` is on the disk.
    private func saveCheckpoint(loader: DataLoaderState, metrics: MetricsLog) throws {
        try runLock?.requireInPlace(step: step)
        let state = TrainerState(format: Checkpoint.format, writtenBy: BuildInfo.commit, step: step,
                                 learningRate: options.schedule.learningRate(at: step), options: options, loader: loader,
                                 sampleRandom: sampleRandom, validationShards: validationShards)
        do {
            try metrics.synchronize()   // the rows of the steps it holds reach the disk before the checkpoint does
            try Checkpoint.save(runDirectory: options.outDirectory, step: step, config: options.model, state: state) { [model] tensor, range, values in
                model.backend.download(model.layout.whole(tensor.buffer).slice(range.lowerBound, range.count), into: values)
            }
        } catch {
            // The run stops here: going on without checkpoints could lose far more than these steps.
            throw stopped("could not save \(Checkpoint.folderName(step: step))", error)
        }
        try runLock?.requireInPlace(step: step)   // (pruning a folder made anew at the path would remove another run's)
        let removed = Checkpoint.prune(runDirectory: options.outDirectory, keep: options.keepLast)
        Console.log("saved \(options.outDirectory)/\(Checkpoint.folderName(step: step))"
                    + (Checkpoint.pruneNote(removed: removed, keep: options.keepLast).map { "; " + $0 } ?? ""))
    }

    /// Appends a row to the run's metrics; one that cannot be written (a full disk) stops the run, as a checkpoint
    /// that cannot be saved does, rather than going on with its record lost.
    private func record(_ fields: [(String, Double)], in metrics: MetricsLog) throws {
        try runLock?.requireInPlace(step: step)
        do { try metrics.append(fields) } catch { throw stopped("could not write \(metrics.path)", error) }
    }

    /// The error that ends a run whose files cannot be written: what failed, and where the run can continue from.
    private func stopped(_ failure: String, _ error: Error) -> TrainingError {
        // A folder moved away in the middle of a write makes the write fail: name the move, not what it broke.
        do { try runLock?.requireInPlace(step: step) } catch { return error }
        let last = Checkpoint.steps(in: options.outDirectory).last
        return TrainingError("\(failure), so training stopped after step \(step): \(error); "
                             + (last.map { "once that is fixed, continue from step \($0) with gpt2 train --resume \(options.outDirectory)" }
                                ?? "no checkpoint of this run was saved"))
    }

    /// What to do after the run diverged: a resume keeps the run's --lr, so it starts again, from scratch or from the
    /// newest checkpoint's weights (all saved before the step that diverged), when there is one.
    private var wayOnAfterDivergence: String {
        guard let newest = Checkpoint.steps(in: options.outDirectory).last else {
            return "lower --lr or check the data, and start again (the run saved no checkpoint)"
        }
        return "lower --lr or check the data, and start again, from scratch or from step \(newest)'s weights "
            + "(--init-from \(FileSystem.join(options.outDirectory, Checkpoint.folderName(step: newest))))"
    }

    /// "NaN" for any NaN (Swift prints one with its sign bit set as "-nan"), "inf" or "-inf" otherwise.
    private static func nonFinite(_ value: Float) -> String { value.isNaN ? "NaN" : "\(value)" }

    /// `resuming`: the batch geometry is the run's, which the loader's advice (a smaller --micro-batch or --seq) cannot change.
    private static func openValidation(_ options: TrainingOptions, resuming: Bool = false) throws -> ValidationLoader? {
        guard options.evalEvery > 0 else { return nil }
        do {
            return try ValidationLoader(.split(directory: options.dataDirectory, split: "val"), batchSize: options.microBatch,
                                        sequenceLength: options.sequenceLength, vocabularySize: options.model.vocabularySize)
        } catch DataLoaderError.noShards(let selection) {
            throw TrainingError("no validation shards match \(selection); create them with `gpt2 prepare`, check the path, "
                                + "or train without validation (--eval-every 0)")
        } catch DataLoaderError.batchLargerThanShard(let path, let tokens, let needed, _, let B, let T, _) where resuming {
            throw TrainingError("\(path) holds \(formatCount(tokens, "token")), less than one of the run's validation batches "
                                + "(\(B) × \(T) + 1 = \(needed)), and a resume keeps its batches: go on with --eval-every 0 (gpt2 "
                                + "eval --micro-batch N evaluates its checkpoints), or start a new run from its weights with --init-from")
        } catch {
            throw TrainingError("\(error); or train without validation (--eval-every 0)")
        }
    }
}

/// Training stopped for a reason the user can act on.
public struct TrainingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
