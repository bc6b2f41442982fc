/// `gpt2 plan`: will a training config fit on a GPU (from the table, or the one present) or this CPU, what is
/// the largest micro-batch that does, and how long the run takes — from the backends' own layout and measured MFU.

import ArgumentParser
import CUDABackend
import GPT2

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Memory and time for a training config, before training: fits or not, largest micro-batch, hours.",
        discussion: """
            Examples:
              gpt2 plan --gpu rtx4070 --model d12 --micro-batch 8 --seq 1024 \\
                --grad-accum 64 --steps 12000
              gpt2 plan --gpu rtx4070 --model d12 --total-batch-tokens 524288 \\
                --tokens 10B --micro-batch auto
              gpt2 plan --device cpu --model small --micro-batch 16 --seq 256 \\
                --steps 2000 --json
              gpt2 plan --list-gpus

            With no --gpu, the plan is for the GPU present (or the CPU when there is none). The MFU and, on a GPU, \
            the CUDA context's memory come from gpt2 bench runs on that kind of device (for the MFU, the newest \
            of the same model, at the planned micro-batch and sequence length if there is one), else stated \
            defaults.
            """)

    @Option(help: "A GPU from the table (gpt2 plan --list-gpus), e.g. rtx4070, h100-sxm.")
    var gpu: String?

    @Option(help: "Without --gpu: cpu, cuda (the device present), or auto (cuda if present, else cpu). (default: auto)")
    var device: Device?

    @Option(help: "CPU worker threads for the CPU plan (0 = one per core). (default: 0)")
    var threads: Int?

    @Option(help: "Model preset: \(ModelPreset.all.map(\.name).joined(separator: ", ")).")
    var model = "d12"

    @Option(help: "Sequences per micro-batch (B), or auto: the largest that fits and divides the step's sequences (--total-batch-tokens, else 8 × --grad-accum).")
    var microBatch: MicroBatchOption = .fixed(MicroBatchOption.defaultSize)

    @Option(help: "Tokens per sequence (T); default the model's context.")
    var seq: Int?

    @Option(help: "Micro-batches accumulated per optimizer step.")
    var gradAccum: Int?

    @Option(help: "Tokens per optimizer step; sets --grad-accum.")
    var totalBatchTokens: Int?

    @Option(help: "Optimizer steps.")
    var steps: Int?

    @Option(help: "A token budget instead of --steps: 10B, 500M, 1e9.")
    var tokens: String?

    @Flag(help: "Recompute LayerNorm and GELU outputs in backward (less activation memory).")
    var recompute = false

    @Option(help: "Model FLOPs utilisation to assume, instead of the calibration file's or the default.", transform: FloatOptionValue.decimal)
    var mfu: Double?

    @Option(help: "Peak FLOP/s instead of the table's dense BF16 figure (or the CPU's).", transform: parsePeakFLOPs)
    var peakFlops: Double?

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Flag(help: "List the GPUs the planner knows and exit.")
    var listGpus = false

    func run() throws {
        if listGpus {
            print(PlanReport.gpuTable())
            return
        }
        let config = try ModelPreset.named(model).config
        let T = seq ?? config.maxSequenceLength
        try config.requireSequenceLength(T)
        if steps != nil && tokens != nil { throw ValidationError("give --steps or --tokens, not both") }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive") }
        // (from 1e-6: with the smallest peak --peak-flops takes, a smaller one made the time infinite, or NaN in --json)
        if let mfu, !(mfu >= 1e-6 && mfu <= 1) { throw ValidationError("--mfu must be a fraction from 1e-6 to 1 (0.4 is 40%; got \(mfu))") }
        let budget = try tokens.map { try TokenCount.parse($0) }
        // A GPU from the table is planned for as it is: --device and --threads describe the machine present instead.
        if let gpu, let option = [device.map { "--device \($0.rawValue)" }, threads.map { "--threads \($0)" }].compactMap({ $0 }).first {
            throw ValidationError("--gpu \(gpu) plans for that GPU, so \(option) does not apply; drop one of them")
        }
        let target = try PlanTarget.resolve(gpu: gpu, device: device ?? .auto, threads: threads ?? 0)
        let batch = try BatchShape.resolve(microBatch, seq: T, gradAccum: gradAccum, totalBatchTokens: totalBatchTokens,
                                           config: config, recompute: recompute, device: target.device)
        let memory = MemoryPlan(config: config, batchSize: batch.microBatch, sequenceLength: T, recompute: recompute, device: target.device)
        let largest = MemoryPlan.largestMicroBatch(config: config, sequenceLength: T, recompute: recompute, device: target.device)
        let largestOther = MemoryPlan.largestMicroBatch(config: config, sequenceLength: T, recompute: !recompute, device: target.device)
        let speed = target.speed(model: model, seq: T, microBatch: batch.microBatch, peakOverride: peakFlops, mfuOverride: mfu)
        let tokensPerStep = batch.tokensPerStep(seq: T)
        if let steps, steps.multipliedReportingOverflow(by: tokensPerStep).overflow {
            throw ValidationError("--steps \(steps) of \(tokensPerStep) tokens each is more tokens than a plan can count; give fewer --steps or --tokens")
        }
        let time = speed.map { speed in
            TimePlan(config: config, sequenceLength: T, tokensPerStep: tokensPerStep,
                     steps: steps, tokenBudget: budget, peakFLOPs: speed.peak, microStepMFU: speed.microStepMFU,
                     optimizerSeconds: speed.optimizerSeconds, mfuSource: speed.source)
        }
        let report = PlanReport(model: model, config: config, batch: batch, memory: memory, largest: largest,
                                largestWithOtherRecompute: largestOther, time: time, peakRecorded: speed?.peakRecorded ?? false,
                                deviceKey: target.calibrationKey,
                                steps: TimePlan.steps(steps, tokenBudget: budget, tokensPerStep: tokensPerStep))
        print(json ? report.json() : report.text())
    }
}

/// The device a plan is for, with how it is named in the calibration file and where its peak comes from.
struct PlanTarget {
    var device: PlanDevice
    /// The bench records plans read (`CalibrationFile.forPlanning`).
    var calibration: CalibrationFile
    /// The calibration file's device name: a table id, a driver name, or `cpu`.
    var calibrationKey: String {
        if case .gpu(let spec, _, _) = device { return spec.id }
        return "cpu"
    }
    /// The table's dense BF16 figure (nil for a GPU not in the table), or the CPU's peak for its threads.
    var tablePeak: Double? {
        switch device {
        case .gpu(let spec, _, _): return spec.listedBF16Peak
        case .cpu(_, let threads): return FLOPCount.cpuPeak(threads: threads)
        }
    }

    /// `--gpu NAME` if given; else the CUDA device present (cuda/auto), else the CPU (cpu/auto).
    static func resolve(gpu: String?, device: Device, threads: Int) throws -> PlanTarget {
        let calibration = CalibrationFile.forPlanning()
        func gpuTarget(_ spec: GPUSpecification, totalBytes: Int, inUseAtOpen: Int? = nil) -> PlanTarget {
            PlanTarget(device: .gpu(spec, totalBytes: totalBytes, inUseAtOpen: inUseAtOpen, calibration: calibration),
                       calibration: calibration)
        }
        if let gpu {
            let spec = try GPUSpecification.named(gpu)
            return gpuTarget(spec, totalBytes: spec.usableBytes)
        }
        if device != .cpu {
            switch CUDAAvailability.firstDevice() {
            case .success(let cuda):
                let properties = cuda.properties
                return gpuTarget(GPUSpecification.describing(deviceName: properties.name, totalMemory: properties.totalMemory),
                                     totalBytes: properties.totalMemory, inUseAtOpen: cuda.memoryInUseAtOpen)
            case .failure(let error):
                if device == .cuda { throw ValidationError("--device cuda: \(error); name a GPU with --gpu (gpt2 plan --list-gpus)") }
                // (no driver at all is a machine without a GPU, which plans for its CPU without a word; a driver that fails is not)
                if case .libraryNotFound = error {} else if case .noDevice = error {} else {
                    Console.log("note: the GPU could not be opened (\(error)), so this plans for the CPU; --gpu NAME plans for a card")
                }
            }
        }
        try WorkerThreads.require(threads)
        let resolvedThreads = WorkerThreads.count(threads)
        // (threads beyond the cores add no FLOPs: they wait on one another)
        if resolvedThreads > WorkerThreads.cores {
            Console.log("note: --threads \(resolvedThreads) is more than this machine's \(formatCount(WorkerThreads.cores, "core")), so "
                        + "the peak is the cores' (\(formatCount(WorkerThreads.cores, "thread")))")
        }
        return PlanTarget(device: .cpu(availableBytes: BackendOptions.cpuMemory(threads: resolvedThreads), threads: resolvedThreads),
                          calibration: calibration)
    }

    /// Peak FLOP/s, the micro-steps' MFU and the optimizer's seconds per step: overrides first, then the calibration
    /// record of this model closest to this run's shape (`CalibrationFile.closest`), then the stated default. A GPU not
    /// in the table has no listed peak: the one a `gpt2 bench --peak-flops` there recorded (`peakRecorded`), else nil
    /// without --peak-flops (the memory plan needs no peak).
    func speed(model: String, seq: Int, microBatch: Int, peakOverride: Double?, mfuOverride: Double?)
        -> (peak: Double, microStepMFU: Double, optimizerSeconds: Double, source: MFUSource, peakRecorded: Bool)?
    {
        let cpu: Bool = if case .cpu = device { true } else { false }
        // (on a CPU the records of this thread count first: its peak is the table's for them)
        let record = calibration.closest(device: calibrationKey, model: model, seq: seq, microBatch: microBatch, peak: cpu ? tablePeak : nil)
        let recordedPeak = tablePeak == nil ? (record?.peakFLOPs ?? calibration.recordedPeak(device: calibrationKey)) : nil
        guard let peak = peakOverride ?? tablePeak ?? recordedPeak, peak > 0 else { return nil }
        let peakRecorded = peakOverride == nil && tablePeak == nil
        if let mfuOverride { return (peak, mfuOverride, 0, .given, peakRecorded) }
        if let record {
            // A --peak-flops restates the peak of the device the record measured, and a recorded peak may be another
            // record's: the speed carries over. Otherwise the peak is this device's (a CPU's grows with its threads): the
            // MFU carries over.
            let mfu = peakOverride != nil || peakRecorded ? record.microStepMFU(against: peak) : record.microStepMFU
            var (run, sameShape) = (record.run, record.hasShape(seq: seq, microBatch: microBatch))
            // A CPU bench on other threads is said, and counts as another shape: threads scale less than their peak
            // (2 threads ran 1.8× one here), and the optimizer's time is the bench's.
            if cpu, peakOverride == nil, let recorded = record.peakFLOPs, abs(recorded - peak) > 1e-6 * peak {
                let threads = recorded / FLOPCount.cpuPeak(threads: 1)   // (not whole: the bench was given --peak-flops)
                run += abs(threads - threads.rounded()) < 1e-6 ? " on " + formatCount(Int(threads.rounded()), "thread")
                                                               : " against a peak of " + formatFLOPRate(recorded)
                sameShape = false
            }
            let source = MFUSource.calibrated(run: run, date: record.date, sameShape: sameShape)
            return (peak, mfu, record.optimizerSeconds ?? 0, source, peakRecorded)
        }
        let fallback: Double
        if case .cpu = device { fallback = TimePlan.defaultCPUMFU } else { fallback = TimePlan.defaultGPUMFU }
        return (peak, fallback, 0, .uncalibrated, peakRecorded)
    }
}
