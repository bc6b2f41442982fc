/// `gpt2 train --resume`: which checkpoint a resume continues, on which device, with which of the options given, and
/// the run it prepares (checked before the weights load).

import ArgumentParser
import CUDABackend
import GPT2

extension TrainCommand {
    /// The backend options, for a resume also keeping the device the run trained on and (on the CPU) its thread count,
    /// unless they are given.
    func resumedRunsBackendChoice() throws -> BackendOptions {
        var backendChoice = backendOptions
        // (A checkpoint that cannot be read fails below, in full.)
        if let resume, let folder = try? ModelSource.checkpointFolder(resume), let saved = try? SavedRun(checkpoint: folder) {
            // The device the run trained on (nil in runs saved before it was recorded: the CPU); a name other than cpu or
            // cuda is a damaged state.json, which would go on on the CPU without a word.
            let trainedOn = try saved.options.device.map { name in
                guard let device = Device(rawValue: name), device != .auto else {
                    throw ValidationError("\(folder) is damaged: its state.json says the run trained on \"\(name)\", "
                                          + "and a run trains on cpu or cuda")
                }
                return device
            } ?? .cpu
            // A resume keeps the device the run trained on, unless --device says otherwise: a GPU run resumed as the
            // README shows went on on the CPU, ~100 times slower.
            if backendChoice.device == .auto, trainedOn == .cuda {
                if let problem = CUDAAvailability.problem() {
                    throw ValidationError("this run trained on the GPU, and here \(problem); continue it on the CPU with --device cpu")
                }
                Console.log("resuming on the GPU, where the run trained (--device cpu continues it on the CPU)")
                backendChoice.device = .cuda
            }
            // and on the CPU its thread count, unless --threads says otherwise: another count changes the last bits
            // of some sums, so the resumed run would no longer be the uninterrupted one
            if backendChoice.threads == nil, backendChoice.device != .cuda, trainedOn == .cpu, saved.options.threads > 0 {
                backendChoice.threads = saved.options.threads
            }
        }
        return backendChoice
    }

    /// The resumed run of `--resume path`, checked before its weights load; nil when it is already at its last step.
    func resumedRun<Ops: Backend>(_ resume: String, on backend: Ops, keepingThreads: Bool) throws -> PreparedRun<Ops>? {
        let kept = savedOptionsGiven
        guard kept.isEmpty else {
            throw ValidationError("--resume continues a run with the options it started with, so \(listing(kept)) "
                                  + "cannot be given with it (only \(TrainCommand.optionsAllowedOnResume) can); "
                                  + "to train on from its weights with other options, start a new run with --init-from \(resume)")
        }
        let folder = try Self.checkpointToResume(resume)
        // Everything that can refuse the resume is checked before the model is built and its weights load.
        var run = try Self.savedRun(folder)
        let savedSchedule = run.options.schedule
        if let steps { run.options.steps = steps }
        if let data {
            guard FileSystem.isDirectory(data) else {
                throw ValidationError(FileSystem.isFile(data) ? DataLoaderError.fileForFolder(path: data).description
                                                              : "--data \(data) is not a folder")
            }
            run.options.dataDirectory = FileSystem.absolutePath(data)
        }
        let observing = try observationOptionsApplied(to: &run.options)
        // MFU is measured against --peak-flops when given now or at the start, else against the peak of the device
        // and thread count the run continues on (which may not be those it started on).
        // A peak given at the start stays the run's, but not on another device: a CPU's is no GPU's (nor the reverse).
        let trainedOn = run.options.device ?? "cpu"
        if let peakFlops {
            (run.options.peakFLOPs, run.options.peakFLOPsGiven) = (peakFlops, true)
        } else if run.options.peakFLOPsGiven != true || trainedOn != backend.name {
            if run.options.peakFLOPsGiven == true {
                Console.log("note: the --peak-flops the run started with was for \(trainedOn): on \(backend.name), MFU is against "
                            + "\(backend.name)'s own peak (--peak-flops gives another)")
            }
            (run.options.peakFLOPs, run.options.peakFLOPsGiven) = (backendOptions.peakFLOPs(backend, override: nil), false)
            if run.options.peakFLOPs == nil { Self.logUnknownPeak() }
        }
        run.options.threads = backendOptions.threadCount(backend)
        run.options.device = backend.name
        try run.validate()
        if let stopAfter, stopAfter <= run.step {
            throw ValidationError("--stop-after \(stopAfter) is not after the run's step \(run.step)")
        }
        guard run.step < run.options.steps else {
            try run.refuseLaterCheckpoints(leavingNothingToTrain: true)   // (an older checkpoint is not the run's last step)
            Console.log("\(folder) is the run's last step (--steps \(run.options.steps)): nothing to train; "
                        + "give --steps above \(run.step) to train on")
            if keepLast != nil {   // (what it keeps is the rest of the options' to say, when it trains on)
                let lock = try RunLock(run.options.outDirectory)
                let removed = Checkpoint.prune(runDirectory: run.options.outDirectory, keep: run.options.keepLast)
                withExtendedLifetime(lock) {}
                if let note = Checkpoint.pruneNote(removed: removed, keep: run.options.keepLast) { Console.log(note) }
            }
            return nil
        }
        let plan = try TrainingPlanCheck.requireFits(resuming: run, device: backendOptions.planDevice(backend))
        let evaluation = try evaluationInputs(run.options)
        // (a file found damaged as the weights load; the trainer's other errors are not the checkpoint's)
        let trainer = try Self.namingTheWayOn(from: folder, for: { $0 is DamagedFileError }) {
            try Trainer(resuming: run, backend: backend, replacingLaterSteps: overwrite)
        }
        Console.log("resuming \(folder)" + (keepingThreads ? " with its \(formatCount(run.options.threads, "thread")) (--threads changes it)" : "")
                    + (observing.isEmpty ? "" : ", now with \(observing.joined(separator: " "))"))
        if let note = run.continuityNote { Console.log(note) }
        if let note = run.options.schedule.stretchNote(from: savedSchedule, after: run.step) { Console.log(note) }
        if keepingThreads && run.options.threads > WorkerThreads.cores {
            Console.log("note: this machine has \(formatCount(WorkerThreads.cores, "core")), fewer than the run's threads, which will "
                        + "wait on one another; --threads 0 uses one per core (the last bits of some sums then change)")
        }
        return (trainer, plan, evaluation)
    }

    /// The saved run of checkpoint `folder`; one that cannot be read (damaged) names the newest complete checkpoint
    /// before it, the way on.
    static func savedRun(_ folder: String) throws -> SavedRun {
        try namingTheWayOn(from: folder) { try SavedRun(checkpoint: folder) }
    }

    /// `body`'s result; an error it throws on reading checkpoint `folder` (which is damaged, or may be), one of those
    /// `isDamage` picks, also names the newest complete checkpoint before it, the way on. By default that is any error
    /// but a damaged checksum list's, whose own message says how to check the files it lists, which may be intact.
    static func namingTheWayOn<T>(from folder: String, for isDamage: (any Error) -> Bool = { !($0 is DamagedChecksumListError) },
                                  _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            guard isDamage(error), let earlier = SavedRun.newestCompleteCheckpoint(before: folder) else { throw error }
            throw TrainingError("\(error); \(error is DamagedFileError ? "" : "if it is damaged, ")continue from the newest complete "
                                + "checkpoint before it: gpt2 train --resume \(earlier) --overwrite (which removes the later ones)")
        }
    }

    /// "a", "a and b", "a, b and c".
    func listing(_ items: [String]) -> String {
        items.count < 2 ? items.joined() : items.dropLast().joined(separator: ", ") + " and " + items.last!
    }

    /// The checkpoint `--resume path` continues from (see `ModelSource.checkpointFolder`); a run folder whose run
    /// stopped before its first checkpoint says how to start it again.
    static func checkpointToResume(_ path: String) throws -> String {
        // A run another gpt2 train is in is refused as such first: its checkpoints come and go meanwhile (--keep-last),
        // so what is found there now would be refused for a passing reason.
        if FileSystem.isDirectory(path) { try RunLock.refuseIfInUse(path) }
        let folder: String
        do {
            folder = try ModelSource.checkpointFolder(path)
        } catch where FileSystem.isDirectory(path) && RunFolder.earlierRun(in: path) != nil {
            throw TrainingError("\(path) holds a run that stopped before its first checkpoint, so there is nothing to continue; "
                                + "start it again with its options and --out \(path) --overwrite")
        }
        try RunLock.refuseIfInUse(Checkpoint.runDirectory(of: folder))
        return folder
    }

    /// Sets what a resume may change of `options`: what the run measures, prints and keeps, not what it trains (the
    /// loss sequence goes on as it would have; the samples' random state is the run's own). Returns them as given, for
    /// the log; values a new run would refuse are refused.
    func observationOptionsApplied(to options: inout TrainingOptions) throws -> [String] {
        var given: [String] = []
        func apply(_ value: Int?, _ flag: String, _ keyPath: WritableKeyPath<TrainingOptions, Int>) {
            guard let value else { return }
            options[keyPath: keyPath] = value
            given.append("\(flag) \(value)")
        }
        apply(evalEvery, "--eval-every", \.evalEvery)
        apply(evalBatches, "--eval-batches", \.evalBatches)
        apply(sampleEvery, "--sample-every", \.sampleEvery)
        apply(sampleTokens, "--sample-tokens", \.sampleTokens)
        apply(checkpointEvery, "--checkpoint-every", \.checkpointEvery)
        apply(keepLast, "--keep-last", \.keepLast)
        if let evalHellaswagEvery {
            options.hellaswagEvery = evalHellaswagEvery
            given.append("--eval-hellaswag-every \(evalHellaswagEvery)")
        }
        // (as a new run's: a run that started before the sample length was bounded keeps its own unless it is given)
        if !given.isEmpty { try options.validate(resuming: true, samplesGivenNow: sampleEvery != nil || sampleTokens != nil) }
        return given
    }

    /// The options given on the command line that decide what a run trains, which a resume keeps as the run saved them.
    var savedOptionsGiven: [String] {
        let given: [(flag: String, isGiven: Bool)] = [
            ("--model", model != nil), ("--init-from", initFrom != nil), ("--micro-batch", microBatch != nil),
            ("--seq", seq != nil), ("--grad-accum", gradAccum != nil), ("--total-batch-tokens", totalBatchTokens != nil),
            ("--lr", lr != nil), ("--warmup", warmup != nil), ("--min-lr-fraction", minLrFraction != nil),
            ("--schedule", schedule != nil), ("--weight-decay", weightDecay != nil), ("--clip", clip != nil),
            ("--seed", seed != nil), ("--no-shuffle", noShuffle), ("--recompute", recompute), ("--out", out != nil),
        ]
        return given.filter(\.isGiven).map(\.flag)
    }
}
