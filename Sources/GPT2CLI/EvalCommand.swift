/// `gpt2 eval`: the mean loss of a trained model on a split of prepared shards (`gpt2 eval loss`, the default),
/// or its HellaSwag accuracy (`gpt2 eval hellaswag`, in HellaSwagCommand.swift).

import ArgumentParser
import GPT2

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model: loss on a data split (default) or HellaSwag accuracy.",
        discussion: """
            `gpt2 eval` with no subcommand is `gpt2 eval loss`; `gpt2 eval loss --help` and \
            `gpt2 eval hellaswag --help` list their options.

            Examples:
              gpt2 eval --checkpoint runs/demo             # on the run's own data
              gpt2 eval --checkpoint runs/d12 --data data/fineweb10B --batches 20 --json
              gpt2 eval hellaswag --checkpoint runs/d12
            """,
        subcommands: [EvalLossCommand.self, HellaSwagCommand.self],
        defaultSubcommand: EvalLossCommand.self)
}

struct EvalLossCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loss",
        abstract: "Mean cross-entropy loss of a model on a data split (the default of `gpt2 eval`).",
        discussion: """
            Examples:
              gpt2 eval --checkpoint runs/demo             # on the run's own data
              gpt2 eval --checkpoint runs/d12/ckpt_200 --data data/fineweb10B \\
                --batches 20 --json
              gpt2 eval --checkpoint gpt2_124M.bin --data data/fineweb10B
            """)

    @Option(help: ArgumentHelp(GPT2Command.checkpointHelp))
    var checkpoint: String

    @Option(help: "Folder with *_SPLIT_*.bin shards (default: for a checkpoint or run of gpt2 train, the data it trained on).")
    var data: String?

    @Option(help: "Which shards: val or train.")
    var split = "val"

    @Option(help: "Batches to evaluate (0 = the whole split once).")
    var batches = 0

    @Option(help: "Sequences per batch.")
    var microBatch = 4

    @Option(help: "Tokens per sequence (default: the model's context, capped at 1024).")
    var seq: Int?

    @Flag(help: "Print {\"loss\": …, \"tokens\": …} on stdout.")
    var json = false

    @OptionGroup var backendOptions: BackendOptions

    func run() throws {
        guard batches >= 0 else { throw ValidationError("--batches must be 0 (all) or positive") }
        guard ["val", "train"].contains(split) else { throw ValidationError("--split must be val or train (got \(split))") }
        try Layout.requireBatchCount(microBatch, option: "--micro-batch")
        try backendOptions.requireValidThreads()
        // (a path that names no weights, or two kinds of them, is said as such first)
        let source = try ModelSource.resolve(checkpoint)
        let data = try data ?? runsData(source)
        try evaluate(on: try backendOptions.makeBackend(), weights: source, data: data)
    }

    /// The data folder the gpt2 train run of `checkpoint` (resolved to `folder`) trained on, as its state.json names it.
    private func runsData(_ folder: String) throws -> String {
        if FileSystem.isFile(checkpoint) || FileSystem.isFile(FileSystem.join(checkpoint, HuggingFaceGPT2.modelFileName)) {
            throw ValidationError("give --data: \(checkpoint) is a model file, which does not name the data it was trained on "
                                  + "(a checkpoint or run of gpt2 train does)")
        }
        // (the run's state.json alone: the optimizer's moments are not needed to evaluate, and a damaged one is no reason to refuse)
        let data: String
        do {
            data = try Checkpoint.readState(folder, as: TrainerState.self).options.dataDirectory
        } catch let error as DamagedChecksumListError {
            throw error   // (the model.bin it checks is read with --data too)
        } catch {
            throw TrainingError("\(error); give --data (the folder of the shards to evaluate on), which needs only the checkpoint's model.bin")
        }
        guard FileSystem.isDirectory(data) else {
            throw ValidationError("the data \(folder) trained on, \(data), is gone; give --data (the folder its shards are in now)")
        }
        Console.log("data: \(data) (the run's)")
        return data
    }

    private func evaluate<Ops: Backend>(on backend: Ops, weights source: String, data: String) throws {
        // The shards are opened before the model is built and its weights load, so a missing split fails in moments;
        // their token ids are checked against the model's vocabulary as the batches are read.
        var opened: ValidationLoader?
        let model = try ModelSource.loadModel(source) { config in
            let T = seq ?? min(config.maxSequenceLength, 1024)
            try config.requireSequenceLength(T)
            do {
                opened = try ValidationLoader(.split(directory: data, split: split), batchSize: microBatch,
                                              sequenceLength: T, vocabularySize: config.vocabularySize)
            } catch DataLoaderError.noShards where split == "val" && !ShardSelection.split(directory: data, split: "train").paths().isEmpty {
                throw ValidationError("\(data) holds training shards but no validation ones (*_val_*.bin): evaluate on those "
                                      + "with --split train, or prepare the corpus again with a validation split")
            }
            // (planned before allocating, as train does: the driver's out-of-memory error said nothing of what to change)
            try backendOptions.requireInferenceFits(config, batch: microBatch, seq: T, on: backend,
                                                    work: "evaluating micro-batches of \(microBatch) × seq \(T)", option: "--micro-batch")
            return try GPT2Model(config: config, backend: backend, batchSize: microBatch, sequenceLength: T, training: false)
        }
        GPT2Command.logResolved(source, from: checkpoint)
        let (validation, T) = (opened!, model.layout.sequenceLength)
        let count = batches == 0 ? validation.batchesPerPass : min(batches, validation.batchesPerPass)
        if batches > count { Console.log("note: \(validation.passDescription(split: split)): evaluating those") }
        let tokens = count * microBatch * T
        let bar = ProgressBar("evaluating", total: tokens, unit: "tokens")
        let loss = try Trainer.evaluate(model, validation, batches: count) { done, meanLoss in
            bar.update(done * microBatch * T, detail: "loss so far \(formatFixed(Double(meanLoss), digits: 4))")
        }
        bar.finish()
        guard loss.isFinite else { throw NonFiniteOutputError("the loss over \(tokens) tokens of the \(split) split") }
        if json {
            print("{\"loss\": \(loss), \"tokens\": \(tokens)}")
        } else {
            print("\(split) loss \(formatFixed(Double(loss), digits: 4)) over \(tokens) tokens")
        }
    }
}
