/// `gpt2 bench`: training-step throughput (tokens/s) and MFU on random tokens, for comparing
/// against `bench/pytorch_reference.py` on the same machine.

import ArgumentParser
import CPUBackend
import CUDABackend
import GPT2

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training throughput (tokens/s) and MFU.",
        discussion: """
            Examples:
              gpt2 bench --model d12 --micro-batch 4 --seq 64 --threads 2
              gpt2 bench --model small --micro-batch 4 --seq 256 --json
              gpt2 bench --model small --micro-batch 4 --seq 256 --grad-accum 8
              gpt2 bench --device cuda --model d12 --micro-batch 16 --seq 1024 --profile
              gpt2 bench --device cuda --model d12 --micro-batch 16 --seq 1024 \\
                --classifier-chunk 0
              gpt2 bench --device cuda --model d12 --micro-batch auto --seq 1024

            Each run appends its MFU (and, on a GPU, the device memory it uses beyond the backend's buffers: \
            the CUDA context, cuBLASLt, the kernels) to the calibration file that gpt2 plan uses for this kind \
            of device.
            """)

    @Option(help: "Model preset.")
    var model = "d12"

    @Option(help: "Sequences per micro-batch (B), or auto (on a GPU): the largest that fits its memory, by gpt2 plan.")
    var microBatch = MicroBatchOption.fixed(4)

    @Option(help: "Tokens per sequence (T).")
    var seq = 64

    @Option(help: "Micro-batches per step, their gradients accumulated before the one optimizer step.")
    var gradAccum = 1

    @Option(help: "Timed training steps.")
    var steps = 10

    @Option(help: "Untimed steps first.")
    var warmup = 2

    @Flag(help: "Recompute LayerNorm and GELU outputs in backward.")
    var recompute = false

    @Option(help: "Rows of logits the classifier holds at once (default: 4096; 0: all B·T rows in one chunk), to measure what chunking costs.")
    var classifierChunk: Int?

    @Option(help: "Peak FLOP/s used for MFU, a number such as 989e12 (default: 115.2 GFLOP/s per CPU thread; on a GPU, its dense BF16 figure from the table of gpt2 plan --list-gpus).", transform: parsePeakFLOPs)
    var peakFlops: Double?

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Flag(help: "On a GPU: after the timed steps, time every kernel and GEMM of one more step and print the table, with the TFLOP/s and GB/s each reached (of the device's peaks, when listed).")
    var profile = false

    @Flag(help: "Do not append the result to the calibration file ($GPT2_CALIBRATION, else calibration.json in $XDG_CACHE_HOME/gpt2-swift or ~/.cache/gpt2-swift) that gpt2 plan reads its MFU and device overhead from.")
    var noRecord = false

    @OptionGroup var backendOptions: BackendOptions

    func run() throws {
        guard steps > 0, warmup >= 0 else { throw ValidationError("--steps must be positive and --warmup not negative") }
        guard !steps.addingReportingOverflow(warmup).overflow else { throw ValidationError("--steps and --warmup add up to more steps than can be counted") }
        try Layout.requireBatchCount(gradAccum, option: "--grad-accum")
        guard (classifierChunk ?? 0) >= 0 else { throw ValidationError("--classifier-chunk must be 0 (one chunk) or a number of rows") }
        if microBatch == .auto && classifierChunk != nil {
            throw ValidationError("--classifier-chunk compares chunkings at one micro-batch: give --micro-batch N with it, not auto")
        }
        let config = try ModelPreset.named(model).config
        try config.requireSequenceLength(seq)
        let backend = try backendOptions.makeBackend()
        if profile && !(backend is CUDABackend) { throw ValidationError("--profile times GPU kernels: use it with --device cuda") }
        try measure(config, on: backend)
    }

    /// The micro-batch to measure: the one given, or (auto, on a GPU) the largest that the planner says fits the device.
    private func resolveMicroBatch(_ config: ModelConfig, device: PlanDevice) throws -> Int {
        if case .fixed(let B) = microBatch { return try MicroBatchOption.size(B) }
        let largest = try BatchShape.largestFitting(config: config, seq: seq, recompute: recompute, device: device)
        if case .cpu = device {
            // The largest that fits the CPU's memory (57,251 × 64 tokens for tiny in 22 GiB) takes that memory from
            // everything else on the machine, for a step of hours, and a CPU's throughput stopped growing long before it.
            throw ValidationError("--micro-batch auto measures the largest micro-batch a GPU holds (there, throughput grows "
                                  + "with it); on the CPU that is \(largest) × seq \(seq), most of its memory for one step of "
                                  + "\(largest * seq * gradAccum) tokens, and no faster per token: give --micro-batch N (e.g. 8)")
        }
        if !json { Console.log("micro-batch auto: \(largest), the largest that fits \(device.name) by the plan") }
        return largest
    }

    private func measure<Ops: Backend>(_ config: ModelConfig, on backend: Ops) throws {
        let device = try backendOptions.planDevice(backend)
        let microBatch = try resolveMicroBatch(config, device: device)
        let chunkRows = classifierChunk.map { $0 == 0 ? microBatch * seq : $0 }
        let plan = MemoryPlan(config: config, batchSize: microBatch, sequenceLength: seq, recompute: recompute,
                              device: device, classifierChunkRows: chunkRows)
        if backend is CPUBackend {
            // refused by the plan rather than killed by the kernel; on a GPU an allocation that fails is an error already,
            // and the bench is what measures how close to the card's memory the planner may go
            try plan.requireFits()
        } else if !plan.fits {
            Console.log("note: by the plan, micro-batch \(microBatch) × seq \(seq) \(plan.verdict); trying anyway, "
                        + "to see where the device's real limit is (--micro-batch auto runs the largest that fits by the plan)")
        }
        let gpt = try GPT2Model(config: config, backend: backend, batchSize: microBatch, sequenceLength: seq, recompute: recompute,
                                classifierChunkRows: chunkRows)
        gpt.initializeParameters(seed: 1)
        let timed = try timeSteps(gpt)
        let memory = backend.deviceMemoryInUse()
        let tokensPerSecond = Double(microBatch * seq * gradAccum) / timed.stepSeconds
        let peak = backendOptions.peakFLOPs(backend, override: peakFlops)
        let cuda = backend as? CUDABackend
        let report = BenchReport(
            model: model, config: config, device: backend.name, threads: (backend as? CPUBackend)?.threads,
            microBatch: microBatch, microBatchAuto: self.microBatch == .auto, seq: seq, gradAccum: gradAccum, classifierChunkRows: gpt.layout.classifierChunkRows, steps: steps,
            stepSeconds: timed.stepSeconds, optimizerSeconds: timed.optimizerSeconds, tokensPerSecond: tokensPerSecond,
            flopsPerToken: FLOPCount.trainingPerToken(config, sequenceLength: seq), peakFLOPs: peak,
            // On a GPU, what the driver has in use beyond the backend's own (planned) allocations: the context,
            // cuBLASLt, the kernels and other processes' memory; and what was in use when the device was opened (the
            // context and those processes), which the planner takes off again for this kind of device from then on.
            deviceMemoryBytes: memory, deviceOverheadBytes: memory.map { $0 - plan.backendBytes },
            deviceInUseAtOpenBytes: cuda?.device.memoryInUseAtOpen,
            allocatedBytes: backend.allocatedBytes, kernelTimes: timed.kernelTimes,
            peakBandwidth: cuda.map { BackendOptions.specification($0).memoryBandwidth }.flatMap { $0 > 0 ? $0 : nil },
            fusions: cuda?.fusions(headSize: config.headSize))
        print(json ? report.json() : report.text())   // (before recording, which can fail: the measurement is not lost)
        if !noRecord {
            try record(report, backend: backend)
        }
    }

    /// Appends what `report` measured to the calibration file that gpt2 plan reads, or says why not: a run under a
    /// diagnostic setting, a GPU whose peak is unknown (no MFU), or an MFU no plan could use.
    private func record(_ report: BenchReport, backend: any Backend) throws {
        let diagnostics = backend is CUDABackend ? CUDABackend.diagnosticSettings : []
        guard diagnostics.isEmpty else {
            Console.log("note: not recorded for gpt2 plan: measured with \(diagnostics.joined(separator: ", ")), slower than a run without")
            return
        }
        guard let mfu = report.mfu else {
            Console.log("note: not recorded for gpt2 plan: this GPU's peak is unknown (it is not in the table); "
                        + "pass --peak-flops to record it with the MFU and device overhead (plans, benches and runs here then use it)")
            return
        }
        // The planner looks records up by device kind: "cpu", or the GPU table id (the driver's name if unlisted).
        let device = (backend as? CUDABackend).map { BackendOptions.specification($0).id } ?? "cpu"
        let record = CalibrationRecord(device: device, kind: backend.name, model: report.model, microBatch: report.microBatch,
                                       seq: report.seq, gradAccum: report.gradAccum, mfu: mfu, tokensPerSecond: report.tokensPerSecond,
                                       optimizerSeconds: report.optimizerSeconds, deviceOverheadBytes: report.deviceOverheadBytes,
                                       deviceInUseAtOpenBytes: report.deviceInUseAtOpenBytes,
                                       peakFLOPs: report.peakFLOPs)
        if let problem = record.problem {   // (an MFU of 12 from a --peak-flops far too low)
            Console.log("note: not recorded for gpt2 plan, since \(problem); check --peak-flops")
            return
        }
        var file: CalibrationFile
        do {
            file = try CalibrationFile()
            try file.append(record)
        } catch {
            throw FileError("not recorded for gpt2 plan: \(error) (GPT2_CALIBRATION chooses another file; --no-record records nothing)")
        }
        // (on stderr, with --json too: a script learns there that its plans now use this record)
        let overhead = report.deviceOverheadBytes.map { overhead in
            " and device overhead \(formatBytes(overhead))"
                + (report.deviceInUseAtOpenBytes.map { " (beside \(formatBytes($0)) in use when the bench opened the device)" } ?? "")
        }
        Console.log("recorded MFU \(formatFixed(mfu, digits: 3))\(overhead ?? "") for gpt2 plan in \(file.path)")
    }

    /// Runs the warm-up and timed steps on fresh random tokens (and, with --profile, one more kernel by kernel): the
    /// median step, and the median of the part of it that a step spends once however many micro-batches it
    /// accumulates (zeroing the gradients; clipping and AdamW), which the planner adds once per step.
    private func timeSteps<Ops: Backend>(_ gpt: GPT2Model<Ops>) throws
        -> (stepSeconds: Double, optimizerSeconds: Double, kernelTimes: [KernelTime]?)
    {
        let (backend, config) = (gpt.backend, gpt.config)
        let B = gpt.layout.batchSize, microTokens = gpt.layout.batchSize * seq, tokens = microTokens * gradAccum
        var random = SeededRandom(seed: 2)
        let clock = ContinuousClock()
        func trainingStep(_ step: Int) -> (seconds: Double, optimizerSeconds: Double) {
            let inputs = (0..<tokens).map { _ in Int32(random.nextInt(below: config.vocabularySize)) }
            let targets = (0..<tokens).map { _ in Int32(random.nextInt(below: config.vocabularySize)) }
            let start = clock.now
            gpt.zeroGradients()
            backend.synchronize()
            let zeroed = clock.now
            for micro in 0..<gradAccum {
                let rows = (micro * microTokens)..<((micro + 1) * microTokens)
                gpt.accumulateGradients(inputs: Array(inputs[rows]), targets: Array(targets[rows]), batchSize: B,
                                        sequenceLength: seq, lossScale: 1 / Float(tokens))
            }
            backend.synchronize()
            let backwardDone = clock.now
            gpt.optimizerStep(hyperparameters: AdamWHyperparameters(learningRate: 1e-4), step: step, clipNorm: 1)
            backend.synchronize()
            let end = clock.now
            return ((end - start).seconds, (zeroed - start).seconds + (end - backwardDone).seconds)
        }
        var stepSeconds: [Double] = [], optimizerSeconds: [Double] = []
        for step in 1...(warmup + steps) {
            let (seconds, optimizer) = trainingStep(step)
            if step > warmup {
                stepSeconds.append(seconds)
                optimizerSeconds.append(optimizer)
            }
            if !json { Console.log("step \(step): \(formatFixed(seconds, digits: 3)) s\(step <= warmup ? " (warm-up)" : "")") }
        }
        var kernelTimes: [KernelTime]?
        if profile, let cuda = backend as? CUDABackend {   // (--profile on another backend is refused before measuring)
            cuda.startProfiling()
            _ = trainingStep(warmup + steps + 1)
            kernelTimes = try cuda.profileReport()
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        return (median(stepSeconds), median(optimizerSeconds), kernelTimes)
    }
}
