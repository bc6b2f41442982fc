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
              gpt2 bench --device cuda --model d12 --micro-batch 16 --seq 1024 --classifier-chunk 0
              gpt2 bench --device cuda --model d12 --micro-batch auto --seq 1024

            Each run appends its MFU (and, on a GPU, the device memory it uses beyond the backend's buffers: \
            the CUDA context, cuBLASLt, the kernels) to the calibration file that gpt2 plan uses for this kind \
            of device.
            """)

    @Option(help: "Model preset.")
    var model = "d12"

    @Option(help: "Sequences per micro-batch (B), or auto: the largest that fits the device's memory, by gpt2 plan.")
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

    @Option(help: "Peak FLOP/s used for MFU (default: 115.2 GFLOP/s per CPU thread; H100/H200/A100 dense BF16 by name).", transform: parsePeakFLOPs)
    var peakFlops: Double?

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Flag(help: "On a GPU: after the timed steps, time every kernel and GEMM of one more step and print the table, with the TFLOP/s and GB/s each reached (of the device's peaks, when listed).")
    var profile = false

    @Flag(help: "Do not append the result to the calibration file ($GPT2_CALIBRATION, else ~/.cache/gpt2-swift/calibration.json) that gpt2 plan reads its MFU and device overhead from.")
    var noRecord = false

    @OptionGroup var backendOptions: BackendOptions

    func run() throws {
        guard steps > 0, warmup >= 0 else { throw ValidationError("--steps must be positive and --warmup not negative") }
        guard seq > 0 else { throw ValidationError("--seq must be positive") }
        guard (1...Layout.maximumBatchSize).contains(gradAccum) else {
            throw ValidationError("--grad-accum must be 1…\(Layout.maximumBatchSize) (got \(gradAccum))")
        }
        guard (classifierChunk ?? 0) >= 0 else { throw ValidationError("--classifier-chunk must be 0 (one chunk) or a number of rows") }
        if microBatch == .auto && classifierChunk != nil {
            throw ValidationError("--classifier-chunk compares chunkings at one micro-batch: give --micro-batch N with it, not auto")
        }
        let config = try ModelPreset.named(model).config
        try measure(config, on: try backendOptions.makeBackend())
    }

    /// The micro-batch to measure: the one given, or (auto) the largest that the planner says fits the device.
    private func resolveMicroBatch<Ops: Backend>(_ config: ModelConfig, on backend: Ops) throws -> Int {
        if case .fixed(let B) = microBatch { return try MicroBatchOption.size(B) }
        let device = try backendOptions.planDevice(backend)
        let largest = MemoryPlan.largestMicroBatch(config: config, sequenceLength: seq, recompute: recompute, device: device)
        guard largest > 0 else {
            let one = MemoryPlan(config: config, batchSize: 1, sequenceLength: seq, recompute: recompute, device: device)
            throw ValidationError("--micro-batch auto: even micro-batch 1 × seq \(seq) \(one.verdict)")
        }
        if !json { Console.log("micro-batch auto: \(largest), the largest that fits \(device.name) by the plan") }
        return largest
    }

    private func measure<Ops: Backend>(_ config: ModelConfig, on backend: Ops) throws {
        let microBatch = try resolveMicroBatch(config, on: backend)
        let chunkRows = classifierChunk.map { $0 == 0 ? microBatch * seq : $0 }
        let plan = MemoryPlan(config: config, batchSize: microBatch, sequenceLength: seq, recompute: recompute,
                              device: try backendOptions.planDevice(backend), classifierChunkRows: chunkRows)
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
        var random = SeededRandom(seed: 2)
        let (microTokens, tokens) = (microBatch * seq, microBatch * seq * gradAccum)
        let clock = ContinuousClock()
        /// One training step on fresh random tokens: its wall time in seconds, and the part of it that a step spends
        /// once however many micro-batches it accumulates (zeroing the gradients; clipping and AdamW), which the
        /// planner adds once per step to the micro-steps' time.
        func trainingStep(_ step: Int) -> (seconds: Double, optimizerSeconds: Double) {
            let inputs = (0..<tokens).map { _ in Int32(random.nextInt(below: config.vocabularySize)) }
            let targets = (0..<tokens).map { _ in Int32(random.nextInt(below: config.vocabularySize)) }
            let start = clock.now
            gpt.zeroGradients()
            backend.synchronize()
            let zeroed = clock.now
            for micro in 0..<gradAccum {
                let rows = (micro * microTokens)..<((micro + 1) * microTokens)
                gpt.forward(inputs: Array(inputs[rows]), targets: Array(targets[rows]), batchSize: microBatch, sequenceLength: seq,
                            lossScale: 1 / Float(tokens))
                gpt.backward(batchSize: microBatch, sequenceLength: seq)
            }
            backend.synchronize()
            let backwardDone = clock.now
            gpt.optimizerStep(hyper: AdamWHyperparameters(learningRate: 1e-4), step: step, clipNorm: 1)
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
        if profile {
            guard let cuda = backend as? CUDABackend else { throw ValidationError("--profile times GPU kernels: use it with --device cuda") }
            cuda.startProfiling()
            _ = trainingStep(warmup + steps + 1)
            kernelTimes = try cuda.profileReport()
        }
        let median = stepSeconds.sorted()[stepSeconds.count / 2]
        let optimizerMedian = optimizerSeconds.sorted()[optimizerSeconds.count / 2]
        let flopsPerToken = FLOPCount.trainingPerToken(config, sequenceLength: seq)
        let peak = backendOptions.peakFLOPs(backend, override: peakFlops)
        let tokensPerSecond = Double(tokens) / median
        let mfu = peak.map { tokensPerSecond * flopsPerToken / $0 }
        let threads = backendOptions.threadCount(backend)
        let memory = backend.deviceMemoryInUse()
        // On a GPU, what the driver has in use beyond the backend's own (planned) allocations: the context,
        // cuBLASLt and the kernels. The planner uses it for this kind of device from then on.
        var overhead: Int?
        if let memory {
            overhead = memory - plan.backendBytes
        }
        if !noRecord, let mfu {
            // The planner looks records up by device kind: "cpu", or the GPU table id (the driver's name if unlisted).
            let device = (backend as? CUDABackend).map { BackendOptions.specification($0).id } ?? "cpu"
            var file = try CalibrationFile()
            try file.append(CalibrationRecord(device: device, kind: backend.name, model: model, microBatch: microBatch,
                                              seq: seq, gradAccum: gradAccum, mfu: mfu, tokensPerSecond: tokensPerSecond,
                                              optimizerSeconds: optimizerMedian, deviceOverheadBytes: overhead))
            if !json {
                let recorded = "MFU \(formatFixed(mfu, digits: 3))" + (overhead.map { " and device overhead \(formatBytes($0))" } ?? "")
                Console.log("recorded \(recorded) for gpt2 plan in \(file.path)")
            }
        }
        if json {
            print("{\"impl\": \"gpt2-swift\", \"device\": \"\(backend.name)\", \"model\": \"\(model)\", \"micro_batch\": \(microBatch), \"seq\": \(seq), \"grad_accum\": \(gradAccum), \"classifier_chunk_rows\": \(gpt.layout.classifierChunkRows), \"threads\": \(threads), \"steps\": \(steps), \"step_ms\": \(median * 1000), \"optimizer_ms\": \(optimizerMedian * 1000), \"tokens_per_s\": \(tokensPerSecond), \"mfu\": \(mfu.map { "\($0)" } ?? "null"), \"peak_flops\": \(peak.map { "\($0)" } ?? "null"), \"device_memory_bytes\": \(memory.map { "\($0)" } ?? "null"), \"device_overhead_bytes\": \(overhead.map { "\($0)" } ?? "null"), \"flops_per_token\": \(flopsPerToken), \"params\": \(config.parameterCount), \"allocated_bytes\": \(backend.allocatedBytes)\(kernelTimes.map { ", \"profile\": " + Self.profileJSON($0) } ?? "")}")
        } else {
            let where_ = backend is CPUBackend ? "\(backend.name) (\(threads) threads)" : backend.name
            let utilisation = mfu.map { "MFU \(formatFixed($0 * 100, digits: 1))% of \(formatFixed(peak! / 1e9, digits: 1)) GFLOP/s" }
                ?? "MFU n/a (unknown GPU: pass --peak-flops)"
            var memoryText = ""
            if let memory, let overhead {
                memoryText = ", \(formatBytes(memory)) in use on the device (\(formatBytes(overhead)) of it beyond the backend's buffers)"
            }
            print("\(model) B=\(microBatch) T=\(seq)\(gradAccum > 1 ? " × \(gradAccum) accumulated" : "") on \(where_): \(formatFixed(median * 1000, digits: 1)) ms/step "
                  + "(\(formatFixed(optimizerMedian * 1000, digits: 1)) ms of it zeroing gradients, clipping and AdamW), "
                  + "\(Int(tokensPerSecond)) tokens/s, \(utilisation)\(memoryText)")
            if let kernelTimes {
                let bandwidth = (backend as? CUDABackend).map { BackendOptions.specification($0).memoryBandwidth }
                print(Self.profileTable(kernelTimes, peakFLOPs: peak, peakBandwidth: bandwidth.flatMap { $0 > 0 ? $0 : nil }))
            }
        }
    }

    /// The profile as a table: GPU time per kernel in one step, its share of all kernel time, and the rates it
    /// reached where its work is counted (TFLOP/s; GB/s of the least traffic it needs), as percentages of the
    /// device's peaks when they are known.
    static func profileTable(_ times: [KernelTime], peakFLOPs: Double?, peakBandwidth: Double?) -> String {
        let total = times.reduce(0) { $0 + $1.milliseconds }
        let width = max(6, times.map(\.name.count).max() ?? 0) + 2
        let peaks = [peakFLOPs.map { "\(formatFixed($0 / 1e12, digits: 1)) TFLOP/s" },
                     peakBandwidth.map { "\(formatFixed($0 / 1e9, digits: 0)) GB/s" }].compactMap { $0 }
        var lines = ["GPU time per kernel in one profiled step (\(formatFixed(total, digits: 3)) ms of kernels in all)"
                        + (peaks.isEmpty ? ":" : "; the device's peaks: \(peaks.joined(separator: ", ")):"),
                     pad("kernel", width) + leftPad("calls", 7) + leftPad("ms", 11) + leftPad("share", 9)
                        + leftPad("TFLOP/s", 16) + leftPad("GB/s", 15)]
        /// "540.3 (55%)": the rate in `unit`s, and its share of `peak` when known; `label` follows the number.
        func rate(_ value: Double?, unit: Double, label: String = "", peak: Double?) -> String {
            guard let value else { return "" }
            return formatFixed(value / unit, digits: 1) + label + (peak.map { " (\(formatFixed(value / $0 * 100, digits: 0))%)" } ?? "")
        }
        for time in times {
            let share = total > 0 ? time.milliseconds / total * 100 : 0
            lines.append(pad(time.name, width) + leftPad("\(time.calls)", 7)
                         + leftPad(formatFixed(time.milliseconds, digits: 3), 11) + leftPad(formatFixed(share, digits: 1) + "%", 9)
                         + leftPad(rate(time.flopsPerSecond, unit: 1e12, peak: peakFLOPs), 16)
                         + leftPad(rate(time.bytesPerSecond, unit: 1e9, peak: peakBandwidth), 15))
        }
        // The three kinds of work a step is made of (GEMMs, attention's products, the rest), each with its share of
        // the kernel time and its rate overall: TFLOP/s for the first two, GB/s for the rest.
        let kindNames = ["GEMMs", "attention", "the other kernels"]
        func kind(of time: KernelTime) -> Int {
            time.name.hasPrefix("gemm ") ? 0 : time.name.hasPrefix("attention_") && time.work.flops > 0 ? 1 : 2
        }
        var sums = kindNames.map { KernelTime(name: $0, calls: 0, milliseconds: 0) }
        for time in times {
            sums[kind(of: time)].calls += time.calls
            sums[kind(of: time)].milliseconds += time.milliseconds
            sums[kind(of: time)].work += time.work
        }
        let summaries = sums.enumerated().filter { $0.element.calls > 0 }.map { index, sum in
            let share = total > 0 ? sum.milliseconds / total * 100 : 0
            let speed = index < 2 ? rate(sum.flopsPerSecond, unit: 1e12, label: " TFLOP/s", peak: peakFLOPs)
                                  : rate(sum.bytesPerSecond, unit: 1e9, label: " GB/s", peak: peakBandwidth)
            return "\(sum.name) \(formatFixed(share, digits: 1))% at \(speed)"
        }
        lines.append("by kind: " + summaries.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }

    /// The profile as a JSON array of {"name", "calls", "ms", "flops", "bytes"} (the work summed over the calls,
    /// 0 where not counted).
    static func profileJSON(_ times: [KernelTime]) -> String {
        "[" + times.map {
            "{\"name\": \"\($0.name)\", \"calls\": \($0.calls), \"ms\": \($0.milliseconds), \"flops\": \($0.work.flops), \"bytes\": \($0.work.bytes)}"
        }.joined(separator: ", ") + "]"
    }
}
