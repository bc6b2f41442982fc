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
            """)

    @Option(help: "Folder with *_train_*.bin and *_val_*.bin shards (default: data/tinyshakespeare, prepared if missing).")
    var data: String?

    @Option(help: "Model preset: \(ModelPreset.all.map(\.name).joined(separator: ", ")).")
    var model = "small"

    @Option(help: "Start from these weights: an llm.c model file, a checkpoint or run folder, or a safetensors GPT-2 (their shape replaces --model).")
    var initFrom: String?

    @Option(help: "Sequences per micro-batch (B), or auto: the largest that fits memory (gpt2 plan) and divides the total batch.")
    var microBatch: MicroBatchOption = .fixed(MicroBatchOption.defaultSize)

    @Option(help: "Tokens per sequence (T), at most the model's context.")
    var seq = 128

    @Option(help: "Micro-batches accumulated per optimizer step.")
    var gradAccum: Int?

    @Option(help: "Tokens per optimizer step; sets --grad-accum (must be a multiple of micro-batch × seq).")
    var totalBatchTokens: Int?

    @Option(help: "Optimizer steps (default 200; with --resume, a new end for the run).")
    var steps: Int?

    @Option(help: "Peak learning rate.")
    var lr: Float = 1e-3

    @Option(help: "Linear warm-up steps.")
    var warmup = 20

    @Option(help: "Learning-rate floor as a fraction of --lr.")
    var minLrFraction: Float = 0.1

    @Option(help: "Schedule after warm-up: cosine, or wsd (constant, then linear decay over the last 20%).")
    var schedule: LearningRateSchedule.Shape = .cosine

    @Option(help: "AdamW weight decay on 2-D weights.")
    var weightDecay: Float = 0.1

    @Option(help: "Clip the global gradient norm to this (0 = off).")
    var clip: Float = 1

    @Option(help: "Seed for initialisation, data order and samples.")
    var seed: UInt64 = 1337

    @Flag(help: "Read the shards in order (llm.c's order) instead of shuffling.")
    var noShuffle = false

    @Flag(help: "Recompute LayerNorm and GELU outputs in backward to save activation memory.")
    var recompute = false

    @Option(help: "Validation loss every N steps (0 = off).")
    var evalEvery = 50

    @Option(help: "Validation batches per evaluation (0 = the whole split).")
    var evalBatches = 10

    @Option(help: "HellaSwag accuracy (validation set, via --mirror or download) every N steps into metrics.jsonl (0 = off).")
    var evalHellaswagEvery = 0

    @Option(help: "Print a text sample every N steps (0 = off).")
    var sampleEvery = 100

    @Option(help: "Tokens per sample.")
    var sampleTokens = 64

    @Option(help: "Checkpoint every N steps (0 = only at the end).")
    var checkpointEvery = 0

    @Option(help: "Keep only the newest K checkpoints (0 = all).")
    var keepLast = 0

    @Option(help: "Stop cleanly after step N with a checkpoint, as if interrupted (resume later with --resume).")
    var stopAfter: Int?

    @Option(help: "Continue the run in this folder (or checkpoint) with its saved options; --steps may extend it.")
    var resume: String?

    @Option(help: "Run folder for checkpoints and metrics.jsonl.")
    var out = "runs/default"

    @Option(help: "Peak FLOP/s used to compute MFU (default: 115.2 GFLOP/s per CPU thread; H100/H200/A100 dense BF16 by name).")
    var peakFlops: Double?

    @OptionGroup var backendOptions: BackendOptions
    @OptionGroup var dataSource: DataSourceOptions

    func run() throws {
        let backend = try backendOptions.makeBackend()
        try train(on: backend)
    }

    private func train<Ops: Backend>(on backend: Ops) throws {
        if let stopAfter, stopAfter <= 0 { throw ValidationError("--stop-after must be positive") }
        let trainer: Trainer<Ops>
        if let resume {
            let folder = try ModelSource.checkpointFolder(resume)
            trainer = try Trainer(resuming: folder, backend: backend) { options in
                if let steps {
                    options.steps = steps
                    options.schedule.totalSteps = steps
                }
                // The run may continue on another device than the one it started on.
                options.peakFLOPs = backendOptions.peakFLOPs(backend, override: peakFlops)
                options.threads = backendOptions.threadCount(backend)
            }
            Console.log("resuming \(folder)")
        } else {
            let options = try resolveOptions(backend)
            if backend is CUDABackend {
                // refuse before allocating anything: a config that cannot fit fails here with advice
                try TrainingPlanCheck.requireFits(options, device: backendOptions.planDevice(backend))
            }
            trainer = try Trainer(options: options, backend: backend)
        }
        if trainer.options.sampleEvery > 0 {
            let tokenizer = try dataSource.tokenizer()
            trainer.decode = { tokens in String(decoding: (try? tokenizer.decode(tokens)) ?? [], as: UTF8.self) }
        }
        if let every = trainer.options.hellaswagEvery, every > 0 {
            let path = try dataSource.downloader.fetch(HellaSwag.validation)
            trainer.hellaswag = try HellaSwag.examples(path: path, encode: try dataSource.tokenizer().encode)
        }
        Console.log(trainer.options.summary)
        Console.log("plan: " + TrainingPlanCheck.plan(trainer.options, device: try backendOptions.planDevice(backend)).verdict)
        let stopRequest = StopRequest()
        try trainer.run(stopAfter: stopAfter, stopRequest: stopRequest)
        if trainer.stoppedOnRequest {
            Console.log("interrupted: continue with gpt2 train --resume \(trainer.options.outDirectory)")
            throw ExitCode(130)
        }
    }

    private func resolveOptions(_ backend: any Backend) throws -> TrainingOptions {
        let peak = backendOptions.peakFLOPs(backend, override: peakFlops)
        if peak == nil {
            Console.log("note: this GPU is not in gpt2's table, so MFU is not reported; pass --peak-flops (dense BF16 FLOP/s, "
                        + "e.g. 989e12 for an H100 SXM) to report it")
        }
        var config = try ModelPreset.named(model).config
        var modelName = model
        if let initFrom {
            config = try ModelSource.load(initFrom).config
            modelName = initFrom
        }
        let planDevice = try backendOptions.planDevice(backend)
        let batch = try BatchShape.resolve(microBatch, seq: seq, gradAccum: gradAccum, totalBatchTokens: totalBatchTokens,
                                           config: config, recompute: recompute, device: planDevice)
        if microBatch == .auto {
            Console.log("--micro-batch auto: \(batch.microBatch) × \(batch.accumulation) accumulation (largest that fits \(formatBytes(planDevice.capacityBytes)) available)")
        }
        let steps = self.steps ?? 200
        let dataDirectory = try data ?? dataSource.prepareDefaultCorpus()
        return TrainingOptions(
            dataDirectory: dataDirectory, model: config, modelName: modelName, initFrom: initFrom,
            microBatch: batch.microBatch, sequenceLength: seq, gradientAccumulation: batch.accumulation, steps: steps,
            schedule: LearningRateSchedule(shape: schedule, maxLearningRate: lr, minFraction: minLrFraction,
                                           warmupSteps: warmup, totalSteps: steps),
            weightDecay: weightDecay, clipNorm: clip, seed: seed, shuffle: !noShuffle, recompute: recompute,
            evalEvery: evalEvery, evalBatches: evalBatches, hellaswagEvery: evalHellaswagEvery, sampleEvery: sampleEvery, sampleTokens: sampleTokens,
            checkpointEvery: checkpointEvery, keepLast: keepLast, outDirectory: out, threads: backendOptions.threadCount(backend),
            peakFLOPs: peak)
    }
}

extension LearningRateSchedule.Shape: ExpressibleByArgument {}
