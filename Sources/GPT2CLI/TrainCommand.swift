/// `gpt2 train`: trains a model on prepared shards, or, with no arguments, a small model on
/// tinyshakespeare (prepared on the fly) for a few minutes on the CPU.

import ArgumentParser
import CUDABackend
import GPT2

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train GPT-2 on token shards (default: a small model on tinyshakespeare).",
        discussion: """
            Examples:
              gpt2 train                   # demo: small model, tinyshakespeare
              gpt2 train --data data/fineweb10B --model d12 --micro-batch 8 \\
                --seq 1024 --total-batch-tokens 524288 --steps 12000 \\
                --lr 6e-4 --warmup 700 --out runs/d12
              gpt2 train --out runs/demo --steps 100 --stop-after 40
              gpt2 train --resume runs/demo  # on to step 100, bit-identical
              gpt2 train --resume runs/demo --steps 300   # a new end
              gpt2 train --out runs/demo --overwrite      # start runs/demo afresh
            """)

    /// The values of the options a user leaves out of a new run. They are optionals below, so that a resumed
    /// run (which keeps the values it started with) can tell which ones were given, and refuse them.
    private enum Default {
        static let model = "small", seq = 128, steps = 200, out = "runs/default"
        static let lr: Float = 1e-3, minLrFraction: Float = 0.1, weightDecay: Float = 0.1, clip: Float = 1
        static let warmup = 20, seed: UInt64 = 1337
        static let evalEvery = 50, evalBatches = 10, sampleEvery = 100, sampleTokens = 64
    }

    /// What `--resume` may be given with: the rest a run keeps (`savedOptionsGiven` lists them when given).
    static let optionsAllowedOnResume = "--steps, --stop-after, --data, --device, --threads, --peak-flops, --overwrite, --mirror "
        + "and what the run measures, prints and keeps: --eval-every, --eval-batches, --eval-hellaswag-every, --sample-every, "
        + "--sample-tokens, --checkpoint-every, --keep-last"

    @Option(help: "Folder with *_train_*.bin and *_val_*.bin shards (default: data/tinyshakespeare, prepared if missing; with --resume, where the run's shards are now).")
    var data: String?

    @Option(help: "Model preset: \(ModelPreset.all.map(\.name).joined(separator: ", ")). (default: \(Default.model))")
    var model: String?

    @Option(help: "Start from these weights: an llm.c model file, a checkpoint or run folder, or a safetensors GPT-2 (their shape replaces --model, which must agree with it if given).")
    var initFrom: String?

    @Option(help: "Sequences per micro-batch (B), or auto: the largest that fits memory by gpt2 plan, that one batch of the data's smallest shard holds, and that divides the step's sequences (--total-batch-tokens, else \(MicroBatchOption.defaultSize) × --grad-accum), re-dividing the accumulation. (default: \(MicroBatchOption.defaultSize))")
    var microBatch: MicroBatchOption?

    @Option(help: "Tokens per sequence (T), at most the model's context. (default: \(Default.seq), or the model's context if shorter)")
    var seq: Int?

    @Option(help: "Micro-batches accumulated per optimizer step.")
    var gradAccum: Int?

    @Option(help: "Tokens per optimizer step; sets --grad-accum (must be a multiple of micro-batch × seq).")
    var totalBatchTokens: Int?

    @Option(help: "Optimizer steps (default \(Default.steps); with --resume, a new end for the run, the schedule stretched to it).")
    var steps: Int?

    @Option(help: "Peak learning rate. (default: \(Default.lr))", transform: FloatOptionValue.parse)
    var lr: Float?

    @Option(help: "Linear warm-up steps, rising to --lr at the last of them (0: the first step trains at --lr). (default: \(Default.warmup))")
    var warmup: Int?

    @Option(help: "Learning-rate floor as a fraction of --lr. (default: \(Default.minLrFraction))", transform: FloatOptionValue.parse)
    var minLrFraction: Float?

    @Option(help: "Schedule after warm-up: cosine, or wsd (constant, then linear decay over the last 20%). (default: cosine)")
    var schedule: LearningRateSchedule.Shape?

    @Option(help: "AdamW weight decay, decoupled (a step takes lr × this of a weight off it), on the weight matrices and embeddings, not biases or LayerNorm. (default: \(Default.weightDecay))", transform: FloatOptionValue.parse)
    var weightDecay: Float?

    @Option(help: "Clip the global gradient norm to this (0 = off). (default: \(Default.clip))", transform: FloatOptionValue.parse)
    var clip: Float?

    @Option(help: "Seed for initialisation, data order and samples. (default: \(Default.seed))")
    var seed: UInt64?

    @Flag(help: "Read the shards in order (llm.c's order) instead of shuffling.")
    var noShuffle = false

    @Flag(help: "Recompute LayerNorm and GELU outputs in backward to save activation memory.")
    var recompute = false

    @Option(help: "Validation loss every N steps (0 = off). (default: \(Default.evalEvery))")
    var evalEvery: Int?

    @Option(help: "Validation batches per evaluation (0 = the whole split). (default: \(Default.evalBatches))")
    var evalBatches: Int?

    @Option(help: "HellaSwag accuracy (validation set, via --mirror or download) every N steps into metrics.jsonl (0 = off). (default: 0)")
    var evalHellaswagEvery: Int?

    @Option(help: "Print a text sample every N steps (0 = off). (default: \(Default.sampleEvery))")
    var sampleEvery: Int?

    @Option(help: "Tokens per sample. (default: \(Default.sampleTokens), or the model's context if shorter)")
    var sampleTokens: Int?

    @Option(help: "Checkpoint every N steps (0 = only at the end). (default: 0)")
    var checkpointEvery: Int?

    @Option(help: "Keep only the newest K checkpoints (0 = all). (default: 0)")
    var keepLast: Int?

    @Option(help: "Stop cleanly after step N with a checkpoint (exit status 0), to go on later with --resume.")
    var stopAfter: Int?

    @Option(help: "Continue the run in this folder (or from this checkpoint) with the options it started with, on its device and (on the CPU) with its thread count; only \(TrainCommand.optionsAllowedOnResume) may be given too.")
    var resume: String?

    @Option(help: "Run folder for checkpoints and metrics.jsonl; one that holds a run already is refused (see --overwrite). (default: \(Default.out))")
    var out: String?

    @Flag(help: "Replace the run in --out: remove its checkpoints and metrics.jsonl before training; with --resume from an earlier checkpoint, remove the later ones.")
    var overwrite = false

    @Option(help: "Peak FLOP/s used to compute MFU, a number such as 989e12 (default: 115.2 GFLOP/s per CPU thread; on a GPU, its dense BF16 figure from the table of gpt2 plan --list-gpus).", transform: parsePeakFLOPs)
    var peakFlops: Double?

    @OptionGroup var backendOptions: BackendOptions
    @OptionGroup var dataSource: DataSourceOptions

    func run() throws {
        let backendChoice = try resumedRunsBackendChoice()
        let backend: any Backend
        if backendOptions.device == .auto && backendChoice.device == .cuda {   // the resume chose the GPU, whose driver is there
            try backendChoice.requireValidThreads()
            do {
                backend = try backendChoice.makeCUDA()
            } catch {
                throw ValidationError("this run trained on the GPU, and here its CUDA backend cannot start: \(error); continue it on the "
                                      + "CPU with --device cpu")
            }
        } else {
            backend = try backendChoice.makeBackend()
        }
        try train(on: backend, keepingThreads: backendOptions.threads == nil && backendChoice.threads != nil)
    }

    /// What a run's samples and HellaSwag scores need: the tokenizer's decoder and the HellaSwag items (each nil when off).
    typealias EvaluationInputs = (decode: (([Int]) -> String)?, hellaswag: [HellaSwagExample]?)

    /// The trainer, the plan its memory was checked against, and its evaluation inputs.
    typealias PreparedRun<Ops: Backend> = (trainer: Trainer<Ops>, plan: MemoryPlan, evaluation: EvaluationInputs)

    /// `keepingThreads`: the thread count is the resumed run's, not given (the log says so once the resume is checked).
    private func train<Ops: Backend>(on backend: Ops, keepingThreads: Bool = false) throws {
        if let stopAfter, stopAfter <= 0 { throw ValidationError("--stop-after must be positive") }
        let prepared: PreparedRun<Ops>
        if let resume {
            guard let resumed = try resumedRun(resume, on: backend, keepingThreads: keepingThreads) else { return }
            prepared = resumed
        } else {
            // the device planned once, for --micro-batch auto and the check (its available memory and calibration read once)
            let planDevice = try backendOptions.planDevice(backend)
            let options = try resolveOptions(backend, planDevice: planDevice)
            // refuse before allocating anything: a config that cannot fit fails here with advice; the plan is made before
            // anything is allocated, so its verdict counts the memory the run will have
            let plan = try TrainingPlanCheck.requireFits(options, device: planDevice)
            // fetched before the trainer is made, which is when --overwrite removes what it replaces
            let evaluation = try evaluationInputs(options)
            prepared = (try Trainer(options: options, backend: backend, replacingEarlierRun: overwrite), plan, evaluation)
        }
        let (trainer, plan, evaluation) = prepared
        (trainer.decode, trainer.hellaswag) = evaluation
        Console.log(trainer.options.summary)
        Console.log(trainer.dataSummary)
        if let note = trainer.validationNote { Console.log(note) }
        if let note = trainer.options.schedule.warmUpNote { Console.log(note) }
        if let stopAfter, stopAfter > trainer.options.steps {
            Console.log("note: --stop-after \(stopAfter) is past the run's last step (\(trainer.options.steps)): it trains to the end")
        }
        Console.log("plan: " + plan.verdict)
        if let time = plannedTime(trainer.options, after: trainer.step, device: plan.device) { Console.log("plan: " + time) }
        let stopRequest = StopRequest()
        try trainer.run(stopAfter: stopAfter, stopRequest: stopRequest)
        if !(backend is CUDABackend) {   // (the GPU run logs the device's peak itself)
            Console.log("peak memory \(formatBytes(SystemMemory.processPeakBytes())) (this process's peak resident set; "
                        + "the plan: \(formatBytes(plan.totalBytes)))")
        }
        if trainer.stoppedOnRequest {
            Console.log("interrupted: continue with gpt2 train --resume \(trainer.options.outDirectory)")
            throw ExitCode(130)
        }
        if trainer.step < trainer.options.steps {   // (--stop-after)
            Console.log("stopped after step \(trainer.step) of \(trainer.options.steps), as --stop-after asked: continue with "
                        + "gpt2 train --resume \(trainer.options.outDirectory)")
        }
    }

    /// The plan's time for the steps left, for the run's header: a step, and all of them, at the MFU `gpt2 plan` would
    /// take (a GPU recipe pasted on a CPU said nothing of its hour-long steps until the first one ended). Nil without a
    /// peak to plan against (a GPU not in the table, without --peak-flops).
    private func plannedTime(_ options: TrainingOptions, after step: Int, device: PlanDevice) -> String? {
        let target = PlanTarget(device: device, calibration: CalibrationFile.forPlanning())
        let given = options.peakFLOPsGiven == true ? options.peakFLOPs : nil
        guard step < options.steps,
              let speed = target.speed(model: options.modelName, seq: options.sequenceLength, microBatch: options.microBatch,
                                       peakOverride: given, mfuOverride: nil) else { return nil }
        let left = options.steps - step
        let time = TimePlan(config: options.model, sequenceLength: options.sequenceLength, tokensPerStep: options.tokensPerStep,
                            steps: left, tokenBudget: nil, peakFLOPs: speed.peak, microStepMFU: speed.microStepMFU,
                            optimizerSeconds: speed.optimizerSeconds, mfuSource: speed.source)
        let total = time.totalSeconds ?? 0   // (under a minute as a step's time is: 263 ms read "0s")
        return "about \(PlanReport.stepTime(time.stepSeconds)) a step and \(total < 59.5 ? PlanReport.stepTime(total) : formatDuration(total)) for "
            + "\(step > 0 ? "the \(formatCount(left, "step")) left" : formatCount(left, "step")) of training, at MFU "
            + "\(formatFixed(time.mfu, digits: 2)) (\(speed.source.text))"
    }

    /// The run's evaluation inputs; either may have to be downloaded, which can fail: the error then says what needs
    /// the file, and the option that 0 turns off, for a new run or a resume (a machine offline with no mirror can still train).
    func evaluationInputs(_ options: TrainingOptions) throws -> EvaluationInputs {
        func fetched<T>(for option: String, what: String, _ fetch: () throws -> T) throws -> T {
            do { return try fetch() } catch let error as DownloadError {
                throw TrainingError("\(error) (for \(what); \(option) 0 trains without them)")
            } catch let error as FileError {   // (a file that is there but unusable: an empty HellaSwag set)
                throw TrainingError("\(error) (for \(what); \(option) 0 trains without them)")
            }
        }
        // (fetched, checked and parsed once for both)
        var tokenizer: GPT2Tokenizer?
        var decode: (([Int]) -> String)?
        if options.sampleEvery > 0 {
            let sampling = try fetched(for: "--sample-every", what: "the text samples") { try dataSource.tokenizer() }
            tokenizer = sampling
            decode = { tokens in String(decoding: (try? sampling.decode(tokens)) ?? [], as: UTF8.self) }
        }
        var hellaswag: [HellaSwagExample]?
        if let every = options.hellaswagEvery, every > 0 {
            hellaswag = try fetched(for: "--eval-hellaswag-every", what: "the HellaSwag scores") {
                try HellaSwag.examples(path: try dataSource.downloader.fetch(HellaSwag.validation),
                                       encode: try (tokenizer ?? dataSource.tokenizer()).encode)
            }
        }
        return (decode, hellaswag)
    }

    /// Says that MFU goes unreported on a GPU whose peak gpt2 does not know, and how to give it.
    static func logUnknownPeak() {
        Console.log("note: this GPU is not in gpt2's table, so MFU is not reported; pass --peak-flops (dense BF16 FLOP/s, "
                    + "e.g. 989e12 for an H100 SXM) to report it, or give it once to gpt2 bench here, which records it")
    }

    private func resolveOptions(_ backend: any Backend, planDevice: PlanDevice) throws -> TrainingOptions {
        let peak = backendOptions.peakFLOPs(backend, override: peakFlops)
        if peak == nil { Self.logUnknownPeak() }
        let model = self.model ?? Default.model
        var config = try ModelPreset.named(model).config
        var modelName = model
        // A run folder stands for its newest checkpoint, which the run's header names, its state.json records and it loads.
        let initFrom = try self.initFrom.map(ModelSource.resolve)
        if let given = self.initFrom, let initFrom {
            let preset = config
            config = try ModelSource.config(initFrom)
            modelName = initFrom
            // The weights' shape is the run's: a --model given beside them must agree with it.
            if self.model != nil && preset != config {
                // (the vocabulary too where the shapes agree: "is L=2 …, and … holds L=2 …" said nothing of the difference)
                let describe = preset.shape == config.shape ? \ModelConfig.shapeAndVocabulary : \ModelConfig.shape
                throw ValidationError("--model \(model) is \(preset[keyPath: describe]), and --init-from \(given) holds \(config[keyPath: describe]), "
                                      + "the shape the run takes; drop --model")
            }
        }
        let seq = self.seq ?? min(Default.seq, config.maxSequenceLength)
        let microBatch = self.microBatch ?? .fixed(MicroBatchOption.defaultSize)
        var batch = try BatchShape.resolve(microBatch, seq: seq, gradAccum: gradAccum, totalBatchTokens: totalBatchTokens,
                                           config: config, recompute: recompute, device: planDevice)
        let steps = self.steps ?? Default.steps
        var options = TrainingOptions(
            dataDirectory: data.map(FileSystem.absolutePath) ?? "", model: config, modelName: modelName, initFrom: initFrom,
            microBatch: batch.microBatch, sequenceLength: seq, gradientAccumulation: batch.accumulation,
            schedule: LearningRateSchedule(shape: schedule ?? .cosine, maxLearningRate: lr ?? Default.lr,
                                           minFraction: minLrFraction ?? Default.minLrFraction,
                                           warmupSteps: warmup ?? Default.warmup, totalSteps: steps),
            weightDecay: weightDecay ?? Default.weightDecay, clipNorm: clip ?? Default.clip, seed: seed ?? Default.seed,
            shuffle: !noShuffle, recompute: recompute, evalEvery: evalEvery ?? Default.evalEvery,
            evalBatches: evalBatches ?? Default.evalBatches, hellaswagEvery: evalHellaswagEvery ?? 0,
            sampleEvery: sampleEvery ?? Default.sampleEvery, sampleTokens: sampleTokens ?? min(Default.sampleTokens, config.maxSequenceLength),
            checkpointEvery: checkpointEvery ?? 0, keepLast: keepLast ?? 0, outDirectory: out ?? Default.out,
            threads: backendOptions.threadCount(backend), peakFLOPs: peak)
        options.device = backend.name
        options.peakFLOPsGiven = peakFlops != nil
        try options.validate()   // before the demo's corpus is prepared: a mistyped option fails at once
        // A checkpoint folder is no run folder: a run there, or in a folder inside it, would go with the checkpoint when its
        // own run's --keep-last or --overwrite removes it.
        if Checkpoint.holdsState(options.outDirectory) {
            throw ValidationError("--out \(options.outDirectory) is a checkpoint folder of the run in \(Checkpoint.runDirectory(of: options.outDirectory)), "
                                  + "not a run folder; continue that run with --resume, or choose another --out")
        }
        if let checkpoint = Checkpoint.enclosingCheckpoint(of: options.outDirectory) {
            throw ValidationError("--out \(options.outDirectory) is inside \(checkpoint), a checkpoint folder of the run in "
                                  + "\(FileSystem.directoryName(checkpoint)), and would go with it when that run's --keep-last or "
                                  + "--overwrite removes it; choose another --out")
        }
        if !overwrite { try RunFolder.refuseEarlierRun(in: options.outDirectory) }   // and so does a taken --out
        // Saved absolute, so that a resume from another directory finds the same shards.
        if data == nil { options.dataDirectory = FileSystem.absolutePath(try dataSource.prepareDefaultCorpus()) }
        if microBatch == .auto {
            var reason = "fits \(formatBytes(planDevice.capacityBytes)) available"
            // The loaders refuse a micro-batch larger than their smallest shard holds: on a big device with a small
            // corpus (its validation split most often), auto re-divides the step for it rather than pick one they refuse.
            if let held = Self.sequencesOneBatchCanHold(options), held.sequences < batch.microBatch {
                batch = try BatchShape.resolve(microBatch, seq: seq, gradAccum: gradAccum, totalBatchTokens: totalBatchTokens,
                                               config: config, recompute: recompute, device: planDevice, atMost: held.sequences)
                (options.microBatch, options.gradientAccumulation) = (batch.microBatch, batch.accumulation)
                reason += ", and is at most the \(held.sequences) sequences of \(seq) that \(held.shard) holds"
            }
            Console.log("--micro-batch auto: \(batch.microBatch) × \(batch.accumulation) accumulation (the largest micro-batch that divides "
                        + "the step's \(batch.microBatch * batch.accumulation) sequences and \(reason))")
        }
        return options
    }

    /// The most sequences one batch can take from the run's smallest shard (of the training split, and of the validation
    /// split where the run evaluates), and that shard's name and tokens; nil when that is not known yet (no shards, or one
    /// that cannot be read: the loaders say why) or when the shard holds less than one sequence (then no micro-batch helps).
    private static func sequencesOneBatchCanHold(_ options: TrainingOptions) -> (sequences: Int, shard: String)? {
        let splits = options.evalEvery > 0 ? ["train", "val"] : ["train"]
        let smallest = splits.compactMap { ShardSelection.split(directory: options.dataDirectory, split: $0).smallestShard() }
            .min { $0.tokens < $1.tokens }
        guard let smallest, case let sequences = (smallest.tokens - 1) / options.sequenceLength, sequences > 0 else { return nil }
        return (sequences, "\(FileSystem.baseName(smallest.path)) (\(formatCount(smallest.tokens, "token")))")
    }
}

extension LearningRateSchedule.Shape: ExpressibleByArgument {}
