/// The planner's arithmetic against independent computations: time per step and per run, token budgets,
/// the largest micro-batch as an exact boundary, recompute's saving, the GPU table and the calibration file.

import Foundation
import Synchronization
import GPT2
import GPT2TestSupport
import Testing

@Suite struct PlanTests {
    let d12 = try! ModelPreset.named("d12").config

    /// d12 at T=1024: N = 124,475,904 − 1024·768 (position table) = 123,689,472 matmul weights;
    /// 6N + 12·L·C·T = 742,136,832 + 113,246,208 = 855,383,040 FLOPs per token, worked out by hand.
    @Test func timeArithmeticMatchesHandComputation() {
        let time = TimePlan(config: d12, sequenceLength: 1024, tokensPerStep: 524_288, steps: 12_000, tokenBudget: nil,
                            peakFLOPs: 58.3e12, microStepMFU: 0.4, mfuSource: .uncalibrated)
        #expect(time.flopsPerToken == 855_383_040)
        let step = 524_288 * 855_383_040.0 / (58.3e12 * 0.4)
        #expect(abs(time.stepSeconds - step) / step < 1e-12)
        #expect(time.totalTokens == 6_291_456_000)
        #expect(abs(time.totalSeconds! - 12_000 * step) / (12_000 * step) < 1e-12)
        #expect(time.mfu == 0.4, "with no optimizer time the step's MFU is the micro-steps' exactly, for --json")
    }

    /// The optimizer runs once per step however many micro-batches it accumulates: its seconds are added once, and
    /// the whole step's MFU (what training reports) is below the micro-steps'.
    @Test func optimizerTimeIsAddedOncePerStep() {
        let time = TimePlan(config: d12, sequenceLength: 1024, tokensPerStep: 8 * 1024 * 64, steps: 10, tokenBudget: nil,
                            peakFLOPs: 1e14, microStepMFU: 0.5, optimizerSeconds: 0.25, mfuSource: .given)
        let microSteps = 524_288 * 855_383_040.0 / (1e14 * 0.5)   // 8.97 s
        #expect(abs(time.stepSeconds - (microSteps + 0.25)) < 1e-9)
        #expect(abs(time.mfu - 0.5 * microSteps / (microSteps + 0.25)) < 1e-12)
        #expect(abs(time.totalSeconds! - 10 * (microSteps + 0.25)) < 1e-8)
    }

    /// A bench record's micro-step MFU leaves out the optimizer's measured seconds: a 1 s step of 2,048 tokens at MFU
    /// 0.3 of which 0.25 s was the optimizer ran its forward and backward passes at 0.3 × 1 / 0.75 = 0.4. Older
    /// records (no optimizer time) give their whole step's MFU.
    @Test func calibrationRecordSeparatesTheOptimizer() {
        var record = CalibrationRecord(device: "cpu", kind: "cpu", model: "d12", microBatch: 2, seq: 1024, mfu: 0.3,
                                       tokensPerSecond: 2048, optimizerSeconds: 0.25)
        #expect(abs(record.microStepMFU - 0.4) < 1e-12)
        record.gradAccum = 4   // the same tokens per second over 4 × 2,048 tokens: a 4 s step, 3.75 s of micro-steps
        #expect(abs(record.microStepMFU - 0.3 * 4 / 3.75) < 1e-12 && record.run == "d12 B=2 T=1024 A=4")
        record.optimizerSeconds = nil
        #expect(record.microStepMFU == 0.3)
    }

    @Test func tokenBudgetRoundsStepsUp() {
        let time = TimePlan(config: d12, sequenceLength: 1024, tokensPerStep: 524_288, steps: nil, tokenBudget: 10_000_000_000,
                            peakFLOPs: 1e14, microStepMFU: 0.5, mfuSource: .given)
        #expect(time.steps == 19_074)   // 10e9 / 524,288 = 19,073.5
        #expect(time.totalTokens! >= 10_000_000_000)
        let perStepOnly = TimePlan(config: d12, sequenceLength: 1024, tokensPerStep: 8192, steps: nil, tokenBudget: nil,
                                   peakFLOPs: 1e14, microStepMFU: 0.5, mfuSource: .given)
        #expect(perStepOnly.steps == nil && perStepOnly.totalSeconds == nil)
    }

    @Test func tokenCountsParseAsWritten() throws {
        #expect(try TokenCount.parse("10B") == 10_000_000_000)
        #expect(try TokenCount.parse("500M") == 500_000_000)
        #expect(try TokenCount.parse("1e9") == 1_000_000_000)
        #expect(try TokenCount.parse("12k") == 12_000)
        #expect(try TokenCount.parse("1.5B") == 1_500_000_000)
        #expect(try TokenCount.parse("524288") == 524_288)
        // Each refusal says what is wrong with the count: one that is not a number is not called non-positive, and
        // a number is not called unreadable.
        for (bad, reason) in [("", "cannot read"), ("abc", "cannot read"), ("10X", "cannot read"), ("0x10", "cannot read"), ("-5", "must be positive"),
                              ("0", "must be positive"), ("0B", "must be positive"), ("1e30", "beyond any run"), ("1e19", "beyond any run"),   // (more than Int.max, 9.22e18)
                              ("9e18", "beyond any run (it must be below 9e18)"),
                              ("0.0001", "less than one token")] {
            let thrown = #expect(throws: ConfigError.self, "\(bad)") { try TokenCount.parse(bad) }
            #expect(thrown.map { String(describing: $0).contains(reason) } == true, "\(bad): \(String(describing: thrown))")
        }
    }

    /// Durations and fixed-point numbers as the plan and the logs print them, up to ones no Int holds (which trapped).
    @Test func numbersFormatAtEveryScale() {
        #expect(formatFixed(1234.5678, digits: 2) == "1234.57" && formatFixed(-0.5, digits: 0) == "-1")
        #expect(formatFixed(1e300, digits: 2) == "1e+300" && formatFixed(-9.3e18, digits: 0) == "-9.3e+18")
        #expect(formatDuration(59.4) == "59s")
        #expect(formatDuration(61) == "1m01s")
        #expect(formatDuration(3 * 3600 + 5 * 60 + 20) == "3h05m")
        #expect(formatDuration(99 * 3600 + 59 * 60) == "99h59m" && formatDuration(100 * 3600) == "4d04h")
        #expect(formatDuration(5 * 86400 + 3 * 3600 + 59 * 60) == "5d03h")   // (hours are whole, as minutes are above)
        #expect(formatDuration(364 * 86400) == "364d00h")
        // years of 365.25 days: 1e8 s is 3.17 years, 1e11 s 3,168.8 years, 8.8e16 s 2.79 billion years
        #expect(formatDuration(1e8) == "3.2 years" && formatDuration(1e11) == "3,169 years")
        #expect(formatDuration(1e14) == "3.2 million years" && formatDuration(8.8e16) == "2.8 billion years")
        #expect(formatDuration(1e300) == "over a trillion years")
        #expect(formatDuration(.infinity) == "?" && formatDuration(-1) == "?")
        // a CPU's peak in GFLOP/s (2 × 115.2), a GPU's in TFLOP/s (an H100 SXM's dense BF16, which bench printed as "989400.0 GFLOP/s")
        #expect(formatFLOPRate(230.4e9) == "230.4 GFLOP/s" && formatFLOPRate(989.4e12) == "989.4 TFLOP/s" && formatFLOPRate(1e12) == "1.0 TFLOP/s")
        // a value that rounds to zero has no minus sign
        #expect(formatFixed(-0.001, digits: 2) == "0.00" && formatFixed(-0.3, digits: 0) == "0")
    }

    /// The learning rate in the training log and byte counts, worked by hand: 9.996e-4 is 9.996 × 10⁻⁴, whose mantissa
    /// rounds to 10.00 and so carries into the exponent (1.00e-03); exponents are signed, two digits, "+00" for 1 to 9.99;
    /// bytes change unit at 1024 (1024 B is 1.0 KiB, 1536 B 1.5 KiB, 2²⁰ B 1.0 MiB, 10 × 2³⁰ B 10.00 GiB).
    @Test func scientificNumbersAndBytesFormatAsLogged() {
        #expect(formatScientific(6e-4) == "6.00e-04")
        #expect(formatScientific(9.996e-4) == "1.00e-03")
        #expect(formatScientific(3) == "3.00e+00" && formatScientific(9.999) == "1.00e+01")
        #expect(formatScientific(-2.5e12) == "-2.50e+12" && formatScientific(123_456) == "1.23e+05")
        #expect(formatScientific(0) == "0")
        #expect(formatBytes(1023) == "1023 B" && formatBytes(1024) == "1.0 KiB" && formatBytes(1536) == "1.5 KiB")
        #expect(formatBytes(1 << 20) == "1.0 MiB" && formatBytes(10 << 30) == "10.00 GiB")
    }

    /// The largest micro-batch is the boundary (B fits, B+1 does not) and grows with the memory available.
    @Test func largestMicroBatchIsTheBoundaryAndMonotone() throws {
        var previous = 0
        for gpu in ["rtx3060", "rtx4070", "rtx4080", "rtx4090", "a100-40gb", "h100-sxm"] {
            let device = PlanDevice.gpu(try GPUSpecification.named(gpu))
            let B = MemoryPlan.largestMicroBatch(config: d12, sequenceLength: 1024, recompute: false, device: device)
            #expect(B > 0, "\(gpu)")
            #expect(MemoryPlan(config: d12, batchSize: B, sequenceLength: 1024, recompute: false, device: device).fits)
            #expect(!MemoryPlan(config: d12, batchSize: B + 1, sequenceLength: 1024, recompute: false, device: device).fits)
            #expect(B >= previous, "\(gpu) allows \(B), a smaller card allowed \(previous)")
            previous = B
        }
        let tooSmall = PlanDevice.cpu(availableBytes: 1 << 20, threads: 1)
        #expect(MemoryPlan.largestMicroBatch(config: d12, sequenceLength: 1024, recompute: false, device: tooSmall) == 0)
        // Where memory is no limit, the step's sequences are: the answer is the whole step, whether the doubling search
        // lands on it (8) or passes it (6, 12).
        let roomy = PlanDevice.cpu(availableBytes: 1 << 50, threads: 1)
        for step in [6, 8, 12] {
            #expect(MemoryPlan.largestMicroBatch(config: d12, sequenceLength: 64, recompute: false, device: roomy, dividing: step) == step)
        }
    }

    /// The refusal's advice names only changes that fit: the largest micro-batch (and with --recompute, when it helps),
    /// a shorter sequence when the model fits but no micro-batch does at this length, or a smaller model when its
    /// weights and optimizer state alone are too big.
    @Test func refusalAdviceNamesWhatWouldFit() throws {
        func advice(_ config: ModelConfig, _ B: Int, _ T: Int, _ device: PlanDevice) throws -> String {
            let plan = MemoryPlan(config: config, batchSize: B, sequenceLength: T, recompute: false, device: device)
            return String(describing: try #require(throws: ConfigError.self) { try plan.requireFits() })
        }
        let rtx4070 = PlanDevice.gpu(try GPUSpecification.named("rtx4070"))
        let largest = MemoryPlan.largestMicroBatch(config: d12, sequenceLength: 1024, recompute: false, device: rtx4070)
        let recomputed = MemoryPlan.largestMicroBatch(config: d12, sequenceLength: 1024, recompute: true, device: rtx4070)
        let gpu = try advice(d12, 64, 1024, rtx4070)
        #expect(gpu.contains("--micro-batch \(largest) ") && gpu.contains("--recompute (micro-batches up to \(recomputed))"), "\(gpu)")

        let modelOnly = MemoryPlan(config: d12, batchSize: 1, sequenceLength: 1, recompute: true, device: rtx4070).totalBytes
        let shortOfOneSequence = try advice(d12, 1, 1024, .cpu(availableBytes: modelOnly + (1 << 20), threads: 1))
        #expect(shortOfOneSequence.contains("shorter --seq") && !shortOfOneSequence.contains("--micro-batch "), "\(shortOfOneSequence)")

        let d48 = try ModelPreset.named("d48").config   // 1.56B parameters: 25 GB of fp32 state before any activation
        let tooBig = try advice(d48, 1, 1024, .cpu(availableBytes: 16 << 30, threads: 2))
        #expect(tooBig.contains("alone (") && tooBig.contains("smaller model") && !tooBig.contains("--recompute") && !tooBig.contains("--seq"),
                "\(tooBig)")

        // Nothing fits, yet the model's state is small: memory other programs held at open is named (a shared card was
        // told to shrink a 1.6M-parameter model), else the device's fixed costs; neither offers --recompute or --seq.
        let tiny = try ModelPreset.named("tiny").config
        let spec = try GPUSpecification.named("rtx4070")
        let shared = PlanDevice.gpu(spec, totalBytes: 1 << 30, overhead: DeviceOverhead(bytes: (1 << 30) - (10 << 20), source: .inUseAtOpen))
        let busy = try advice(tiny, 1, 16, shared)
        #expect(busy.contains("of the device was in use when gpt2 opened it") && !busy.contains("alone"), "\(busy)")
        let fixedCosts = try advice(tiny, 1, 16, .gpu(spec, totalBytes: 60 << 20, overhead: DeviceOverhead(bytes: 0, source: .measured(by: "a bench"))))
        #expect(fixedCosts.contains("and the device's fixed costs leave no room for one token") && !fixedCosts.contains("alone"), "\(fixedCosts)")
        let estimated = try advice(tiny, 1, 16, .gpu(spec, totalBytes: 400 << 20, overhead: DeviceOverhead.estimate))
        #expect(estimated.contains("and the CUDA context's 400.0 MiB (an estimate: gpt2 bench --device cuda measures it"), "\(estimated)")
        let busyAfterABench = DeviceOverhead(bytes: 1 << 30, source: .inUseAtOpenAndMeasured(by: "a bench", inUseAtOpen: 1000 << 20))
        #expect(try advice(tiny, 1, 16, .gpu(spec, totalBytes: 1 << 30, overhead: busyAfterABench))
                    .contains("1000.0 MiB of the device was in use when gpt2 opened it"))

        // --recompute is offered only when it allows a larger micro-batch than without it
        let tight = PlanDevice.gpu(spec, totalBytes: 90 << 20, overhead: DeviceOverhead(bytes: 0, source: .estimate))
        let without = MemoryPlan.largestMicroBatch(config: tiny, sequenceLength: 64, recompute: false, device: tight)
        let with = MemoryPlan.largestMicroBatch(config: tiny, sequenceLength: 64, recompute: true, device: tight)
        let text = try advice(tiny, without + 1, 64, tight)
        #expect(text.contains("--recompute") == (with > without), "\(without) vs \(with): \(text)")
    }

    /// The refusal before a run keeps the step's tokens: its micro-batch divides the step's sequences and comes with
    /// the accumulation that keeps them (a user's --total-batch-tokens refused the plain largest micro-batch, 27 here),
    /// which it names too; where no micro-batch that fits divides the step into at most 65535, it says so (it offered
    /// a --grad-accum beyond the limit).
    @Test func refusalAdviceKeepsTheStepsTokens() throws {
        let rtx4070 = PlanDevice.gpu(try GPUSpecification.named("rtx4070"))
        func advice(_ B: Int, step: Int) throws -> String {
            let plan = MemoryPlan(config: d12, batchSize: B, sequenceLength: 1024, recompute: false, device: rtx4070)
            return String(describing: try #require(throws: ConfigError.self) { try plan.requireFits(sequencesPerStep: step) })
        }
        let stepSequences = 512   // --total-batch-tokens 524288 at seq 1024
        let plainLargest = MemoryPlan.largestMicroBatch(config: d12, sequenceLength: 1024, recompute: false, device: rtx4070)
        #expect(stepSequences % plainLargest != 0, "the case needs a largest micro-batch that does not divide the step")
        var divisor = plainLargest
        while stepSequences % divisor != 0 { divisor -= 1 }
        let kept = try advice(32, step: stepSequences)
        #expect(kept.contains("use --micro-batch \(divisor) --grad-accum \(stepSequences / divisor) (the same 524288 tokens per step; "
                              + "or --micro-batch auto with --total-batch-tokens 524288 and no --grad-accum); "
                              + "\(plainLargest) fits, but does not divide the step's 512 sequences"), "\(kept)")
        #expect(MemoryPlan(config: d12, batchSize: divisor, sequenceLength: 1024, recompute: false, device: rtx4070).fits)
        let withRecompute = MemoryPlan.largestMicroBatch(config: d12, sequenceLength: 1024, recompute: true, device: rtx4070,
                                                         dividing: stepSequences)
        #expect(stepSequences % withRecompute == 0 && withRecompute > divisor)
        #expect(kept.contains("--recompute (micro-batches up to \(withRecompute))"), "\(kept)")

        // 67 × 65535: a micro-batch that fits (≤ 27) would need more than 65535 of them
        let beyond = try advice(67, step: 67 * Layout.maximumBatchSize)
        #expect(beyond.contains("micro-batches up to \(plainLargest) fit, but none of them divides the step's 4390845 sequences into "
                                + "at most 65535: lower --grad-accum or --total-batch-tokens") && !beyond.contains("--seq"), "\(beyond)")
        #expect(MemoryPlan.largestMicroBatch(config: d12, sequenceLength: 1024, recompute: false, device: rtx4070,
                                             dividing: 67 * Layout.maximumBatchSize) == 0)
    }

    @Test func recomputeLowersMemoryAndRaisesTheLargestMicroBatch() throws {
        let device = PlanDevice.gpu(try GPUSpecification.named("rtx4070"))
        let plain = MemoryPlan(config: d12, batchSize: 8, sequenceLength: 1024, recompute: false, device: device)
        let recomputed = MemoryPlan(config: d12, batchSize: 8, sequenceLength: 1024, recompute: true, device: device)
        // ln1, ln2 (L,B,T,C) and fchGelu (L,B,T,4C) keep one shared slice instead of L: saves (L−1)·B·T·6C bf16.
        #expect(plain.bufferBytes - recomputed.bufferBytes == 11 * 8 * 1024 * 6 * 768 * 2)
        #expect(MemoryPlan.largestMicroBatch(config: d12, sequenceLength: 1024, recompute: true, device: device)
                > MemoryPlan.largestMicroBatch(config: d12, sequenceLength: 1024, recompute: false, device: device))
    }

    /// The table's shape labels follow what each tensor holds: (L,…) per layer, one shared slice with recompute
    /// for ln1/ln2/fchGelu, and without training (an evaluation) for everything but qkv, the sampling cache.
    @Test func shapeLabelsFollowTheLayerSlicesKept() throws {
        let device = PlanDevice.gpu(try GPUSpecification.named("rtx4070"))
        func label(_ key: String, recompute: Bool = false, training: Bool = true) -> String {
            MemoryPlan(config: d12, batchSize: 2, sequenceLength: 64, recompute: recompute, device: device, training: training)
                .components.first { $0.key == "activation.\(key)" }!.label
        }
        #expect(label("ln1").contains("(L,B,T,C) bf16"))
        #expect(label("ln1", recompute: true).contains("(B,T,C) shared"))
        #expect(label("residual2", recompute: true).contains("(L,B,T,C) bf16"))
        #expect(label("residual2", training: false).contains("(B,T,C) shared"))
        #expect(label("attStats", training: false).contains("(B,NH,T) shared"))
        #expect(label("qkv", training: false).contains("(L,B,T,3C) bf16"))
        #expect(label("lnf", training: false).contains("(B,T,C) bf16"))
    }

    /// The logits row is R = min(B·T, 4096) rows of the padded vocabulary: it stops growing with B once B·T
    /// passes the chunk, so every micro-batch beyond that costs the activations of the blocks alone.
    @Test func logitsStopGrowingPastOneChunk() throws {
        let device = PlanDevice.gpu(try GPUSpecification.named("rtx4070"))
        func logits(_ B: Int, _ T: Int) -> Int {
            MemoryPlan(config: d12, batchSize: B, sequenceLength: T, recompute: false, device: device)
                .components.first { $0.key == "activation.logits" }!.bytes
        }
        #expect(logits(1, 1024) == 1024 * 50304 * 2)
        #expect(logits(3, 1024) == 3 * 1024 * 50304 * 2)
        #expect(logits(4, 1024) == 4096 * 50304 * 2)
        #expect(logits(16, 1024) == 4096 * 50304 * 2)
        #expect(logits(5, 1000) == 4096 * 50304 * 2)   // a last chunk of 904 rows reuses the same buffer
        let step = { (B: Int) in
            MemoryPlan(config: d12, batchSize: B + 1, sequenceLength: 1024, recompute: false, device: device).bufferBytes
                - MemoryPlan(config: d12, batchSize: B, sequenceLength: 1024, recompute: false, device: device).bufferBytes
        }
        #expect(step(8) == step(16))
        #expect(step(2) - step(8) == 1024 * 50304 * 2)
    }

    /// Each activation gets its own row, and the rows add up to the Layout's buffers.
    @Test func rowsAddUpToTheLayout() throws {
        let plan = MemoryPlan(config: d12, batchSize: 8, sequenceLength: 1024, recompute: false,
                              device: .gpu(try GPUSpecification.named("rtx4070")))
        #expect(plan.bufferBytes == plan.layout.totalBytes)
        let activationRows = plan.components.filter { $0.key.hasPrefix("activation.") }
        #expect(activationRows.count == ActivationKind.allCases.count)
        #expect(activationRows.reduce(0) { $0 + $1.bytes }
                == plan.layout.bytes(of: .activations) + plan.layout.bytes(of: .activationStatistics))
        // the classifier holds 4096 of the 8192 rows' logits at a time, in bf16
        #expect(plan.components.contains { $0.key == "activation.logits" && $0.bytes == 4096 * 50304 * 2 })
        #expect(plan.components.contains { $0.key == "cuda_context" && $0.bytes == DeviceOverhead.estimate.bytes })
    }

    @Test func unknownGPUErrorListsTheNames() {
        do {
            _ = try GPUSpecification.named("rtx9999")
            Issue.record("expected an error")
        } catch {
            let message = String(describing: error)
            #expect(message.contains("rtx9999") && message.contains("rtx4070") && message.contains("h100-sxm"))
        }
    }

    @Test func tableHasTheCardsUsersAskAbout() throws {
        for id in ["rtx3060", "rtx3090", "rtx4060ti16", "rtx4070", "rtx4070ti", "rtx4080", "rtx4090", "rtx5090",
                   "a10", "l4", "a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200"] {
            let spec = try GPUSpecification.named(id)
            #expect(spec.bf16TensorFLOPs > 1e13 && spec.memoryBandwidth > 1e11 && spec.memoryBytes >= 12 << 30, "\(id)")
        }
        #expect(try GPUSpecification.named("RTX 4070").id == "rtx4070")
        #expect(try GPUSpecification.named("4090").id == "rtx4090")
    }

    /// What the driver calls a device maps to its row; 40 and 80 GB A100s differ only by memory.
    @Test func driverNamesMatchTheirRows() {
        let GiB = 1 << 30
        let cases: [(String, Int, String?)] = [
            ("NVIDIA GeForce RTX 4070", 12 * GiB, "rtx4070"), ("NVIDIA GeForce RTX 4070 Ti", 12 * GiB, "rtx4070ti"),
            ("NVIDIA A100-SXM4-40GB", 40 * GiB, "a100-40gb"), ("NVIDIA A100 80GB PCIe", 80 * GiB, "a100-80gb"),
            ("NVIDIA H100 80GB HBM3", 80 * GiB, "h100-sxm"), ("NVIDIA H100 PCIe", 80 * GiB, "h100-pcie"),
            ("NVIDIA H200", 141 * GiB, "h200"), ("NVIDIA A10", 24 * GiB, "a10"), ("NVIDIA L4", 24 * GiB, "l4"),
            ("NVIDIA L40S", 48 * GiB, nil),
            // other cards that carry a listed card's number: unlisted, not the base card with its peak
            ("NVIDIA GeForce RTX 3060 Ti", 8 * GiB, nil), ("NVIDIA GeForce RTX 4070 SUPER", 12 * GiB, nil),
            ("NVIDIA GeForce RTX 3090 Ti", 24 * GiB, nil), ("NVIDIA GeForce RTX 4080 SUPER", 16 * GiB, nil),
            ("NVIDIA GeForce RTX 4070 Ti SUPER", 16 * GiB, nil), ("NVIDIA GeForce RTX 4090 Laptop GPU", 16 * GiB, nil), ("NVIDIA GeForce RTX 4090 D", 24 * GiB, nil),
            ("NVIDIA GeForce RTX 4060 Ti", 16 * GiB, "rtx4060ti16"), ("NVIDIA GeForce RTX 3060", 12 * GiB, "rtx3060"),
        ]
        for (name, memory, id) in cases {
            #expect(GPUSpecification.matching(deviceName: name, totalMemory: memory)?.id == id, "\(name)")
        }
    }

    /// The file reads back what was appended, and a plan takes the record of its model most like its own run: the newest
    /// of the same sequence length and micro-batch, else of the same sequence length the nearest micro-batch, else the
    /// nearest in tokens per micro-batch (a quick bench of d12 at T=64 must not set the MFU of a T=1024 plan while a
    /// T=1024 record exists), and never another model's.
    @Test func calibrationFileRoundTripsAndPrefersTheClosestRun() throws {
        let path = try TestPaths.temporaryDirectory("calibration").path + "/sub/calibration.json"
        var file = try CalibrationFile(path: path)
        #expect(file.records.isEmpty)
        for (device, model, microBatch, seq, mfu) in [("rtx4070", "d12", 8, 1024, 0.31), ("rtx4070", "d6", 8, 1024, 0.22),
                                                      ("cpu", "d12", 4, 64, 0.6), ("rtx4070", "d12", 16, 1024, 0.35),
                                                      ("rtx4070", "d12", 1, 64, 0.05), ("cpu", "tiny", 2, 16, 0.01)] {
            try file.append(CalibrationRecord(device: device, kind: device == "cpu" ? "cpu" : "cuda", model: model, microBatch: microBatch,
                                              seq: seq, mfu: mfu, tokensPerSecond: 1e4, peakFLOPs: device == "cpu" ? (model == "tiny" ? 4.6e11 : 2.3e11) : nil))
        }
        let reread = try CalibrationFile(path: path)
        #expect(reread.records == file.records)
        func mfu(_ device: String, _ model: String, _ seq: Int, _ microBatch: Int) -> Double? {
            reread.closest(device: device, model: model, seq: seq, microBatch: microBatch)?.mfu
        }
        #expect(mfu("rtx4070", "d12", 1024, 8) == 0.31)    // the same run, though two others are newer
        #expect(mfu("rtx4070", "d12", 1024, 32) == 0.35)   // the same T: the nearer micro-batch, 16
        #expect(mfu("rtx4070", "d12", 1024, 9) == 0.31)    // the same T: the nearer micro-batch, 8, though 16's is newer
        #expect(mfu("rtx4070", "d12", 256, 8) == 0.31)     // 2,048 tokens: 8 × 1024 is 4× that, the newer 1 × 64 32× less
        #expect(mfu("rtx4070", "d12", 32, 2) == 0.05)      // 64 tokens: 1 × 64
        #expect(mfu("rtx4070", "d24", 1024, 8) == nil)     // not another model's
        #expect(mfu("cpu", "d12", 1024, 8) == 0.6)         // never another device's
        #expect(mfu("h100-sxm", "d12", 1024, 8) == nil)
        // the peak is the device's: the newest record's that has one
        #expect(reread.recordedPeak(device: "cpu") == 4.6e11 && reread.recordedPeak(device: "rtx4070") == nil)
    }

    /// A calibration path that is no regular file (a broken link here; /dev/null likewise) is refused before a lock file
    /// is made beside it (GPT2_CALIBRATION=/dev/null left a /dev/null.lock).
    @Test func anAppendToWhatIsNoFileLeavesNoLockFile() throws {
        let directory = try TestPaths.temporaryDirectory("calibration-no-file").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/calibration.json"
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: directory + "/nowhere")
        var file = try CalibrationFile(path: path)
        let error = try #require(throws: FileError.self) {
            try file.append(CalibrationRecord(device: "cpu", kind: "cpu", model: "tiny", microBatch: 1, seq: 16, mfu: 0.1, tokensPerSecond: 10))
        }
        #expect(String(describing: error).contains("is a symbolic link to nothing that exists"), "\(error)")
        #expect(!FileManager.default.fileExists(atPath: path + ".lock"))
    }

    /// Benches that finish together each read the file, then append: every record must land, none replaced by
    /// another's rewrite of what it read before.
    @Test func concurrentAppendsKeepEveryRecord() throws {
        let path = try TestPaths.temporaryDirectory("calibration-concurrent").path + "/calibration.json"
        let writers = 8
        let opened = try (0..<writers).map { _ in try CalibrationFile(path: path) }   // each sees the empty file
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: writers) { index in
            var file = opened[index]
            do {
                for round in 0..<5 {
                    try file.append(CalibrationRecord(device: "cpu", kind: "cpu", model: "w\(index)", microBatch: round + 1,
                                                      seq: 64, mfu: 0.5, tokensPerSecond: 100))
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        let records = try CalibrationFile(path: path).records
        #expect(records.count == writers * 5)
        for index in 0..<writers {
            #expect(records.filter { $0.model == "w\(index)" }.map(\.microBatch) == [1, 2, 3, 4, 5])
        }
    }

    /// A record with a value no bench writes (a damaged or hand-edited file) is refused by file, record and field: plans from
    /// them said a negative MFU and time (mfu -1), an infinite one (mfu 0), an MFU of millions for the passes (an optimizer
    /// of nearly the whole step) or an overhead below nothing.
    @Test(arguments: [("mfu", "-1", "mfu -1.0 is not a utilisation"), ("mfu", "0", "mfu 0.0"), ("mfu", "1e308", "mfu 1e+308"),
                      ("tokens_per_s", "0", "tokens_per_s 0.0"), ("micro_batch", "0", "micro_batch 0 is not between 1 and 65535"),
                      ("seq", "-3", "seq -3"), ("grad_accum", "0", "grad_accum 0"), ("optimizer_seconds", "-1", "optimizer_seconds -1.0"),
                      ("optimizer_seconds", "2.69", "optimizer_seconds 2.69 of the 2.695e+00 s step leaves the forward and backward passes an MFU of 8.533e+02"),
                      ("optimizer_seconds", "5000", "optimizer_seconds 5000.0 is not less than the 2.695e+00 s step it is part of"),
                      ("device_overhead_bytes", "1e17", "device_overhead_bytes 100000000000000000"),
                      ("device_in_use_at_open_bytes", "-1", "device_in_use_at_open_bytes -1 is not a size")])
    func aDamagedCalibrationRecordIsRefused(_ field: String, _ value: String, _ phrase: String) throws {
        let path = try TestPaths.temporaryDirectory("calibration-damaged").path + "/calibration.json"
        func write(_ value: String) throws {
            var second: [String: Any] = ["date": "2026-11-21T08:00:00Z", "device": "cpu", "kind": "cpu", "mfu": 1.5, "micro_batch": 4,
                                         "model": "d12", "seq": 64, "tokens_per_s": 190, "grad_accum": 2, "optimizer_seconds": 0.2]
            second[field] = Int(value) as Any? ?? Double(value)!
            let first: [String: Any] = ["date": "2026-11-20T08:00:00Z", "device": "h100-sxm", "kind": "cuda", "mfu": 0.4, "micro_batch": 16,
                                        "model": "d12", "seq": 1024, "tokens_per_s": 4e5]
            try JSONSerialization.data(withJSONObject: [first, second]).write(to: URL(fileURLWithPath: path))
        }
        // sound: an MFU above 1, an overhead below 0, nothing in use at open
        // (seq 1 would make a step shorter than its 0.2 s optimizer)
        try write(field == "mfu" ? "1.5" : field == "device_overhead_bytes" ? "-1" : field == "device_in_use_at_open_bytes" ? "0"
                  : field == "seq" ? "64" : "1")
        #expect(try CalibrationFile(path: path).records.count == 2)
        try write(value)
        let error = #expect(throws: FileError.self) { try CalibrationFile(path: path) }
        #expect(error?.description.contains("is damaged: in record 2 (d12 B=") == true && error?.description.contains(phrase) == true,
                "\(String(describing: error))")
    }

    /// The planner takes a GPU's overhead from the newest bench record that measured one for that kind of
    /// device (CPU records and older files carry none), and falls back to the estimate.
    @Test func deviceOverheadComesFromTheNewestMeasurement() throws {
        let path = try TestPaths.temporaryDirectory("calibration-overhead").path + "/calibration.json"
        let older = #"[{"date": "2026-11-20T08:00:00Z", "device": "h100-sxm", "kind": "cuda", "mfu": 0.4, "micro_batch": 16, "model": "d12", "seq": 1024, "tokens_per_s": 4e5}]"#
        try Data(older.utf8).write(to: URL(fileURLWithPath: path))
        var file = try CalibrationFile(path: path)
        #expect(file.records.count == 1 && file.records[0].deviceOverheadBytes == nil)
        #expect(DeviceOverhead.calibrated(device: "h100-sxm", in: file) == .estimate)
        try file.append(CalibrationRecord(device: "h100-sxm", kind: "cuda", model: "d12", microBatch: 16, seq: 1024, mfu: 0.5,
                                          tokensPerSecond: 5e5, deviceOverheadBytes: 600 << 20, date: "2026-11-21T09:00:00Z"))
        try file.append(CalibrationRecord(device: "h100-sxm", kind: "cuda", model: "d6", microBatch: 8, seq: 1024, mfu: 0.5,
                                          tokensPerSecond: 9e5, deviceOverheadBytes: 550 << 20, date: "2026-11-22T09:00:00Z"))
        try file.append(CalibrationRecord(device: "h100-sxm", kind: "cuda", model: "d12", microBatch: 8, seq: 1024, mfu: 0.5,
                                          tokensPerSecond: 5e5, date: "2026-11-23T09:00:00Z"))
        let overhead = DeviceOverhead.calibrated(device: "h100-sxm", in: try CalibrationFile(path: path))
        #expect(overhead == DeviceOverhead(bytes: 550 << 20, source: .measured(by: "d6 B=8 T=1024 on 2026-11-22")))
        #expect(DeviceOverhead.calibrated(device: "rtx4070", in: file) == .estimate)

        let spec = try GPUSpecification.named("h100-sxm")
        let measured = MemoryPlan(config: d12, batchSize: 8, sequenceLength: 1024, recompute: false,
                                  device: .gpu(spec, totalBytes: spec.usableBytes, overhead: overhead))
        let estimated = MemoryPlan(config: d12, batchSize: 8, sequenceLength: 1024, recompute: false, device: .gpu(spec))
        #expect(measured.totalBytes - estimated.totalBytes == (550 << 20) - (400 << 20))
        #expect(measured.backendBytes == estimated.backendBytes && measured.backendBytes == measured.totalBytes - (550 << 20))
        #expect(measured.components.contains { $0.key == "cuda_context" && $0.label.contains("measured by gpt2 bench d6 B=8 T=1024") })

        // On the device itself, the bytes in use when gpt2 opened it count instead where they are more (other programs').
        let calibration = try CalibrationFile(path: path)
        for (inUse, expected) in [(3 << 30, DeviceOverhead(bytes: 3 << 30, source: .inUseAtOpen)), (100 << 20, overhead)] {
            guard case .gpu(_, _, let counted) = PlanDevice.gpu(spec, totalBytes: spec.usableBytes, inUseAtOpen: inUse, calibration: calibration)
            else { Issue.record("not a GPU device"); continue }
            #expect(counted == expected, "\(inUse) bytes in use at open")
        }
    }

    /// On the device, what a bench measured beyond the bytes in use when it opened the device (cuBLASLt, the kernels)
    /// is added to the bytes in use now, so that other processes' memory during the bench is not counted again: a
    /// bench with a 400 MiB context beside a 600 MiB desktop that measured 1,100 MiB beyond its buffers leaves 100 MiB
    /// beyond the 1,000 in use at its open; with 450 MiB in use at open now (the context, a smaller desktop) that is
    /// 550 MiB. A card from the table (no device) takes the measurement whole; a record without the bytes in use at
    /// open (older files) counts whole, or the bytes in use now where those are more.
    @Test func theOverheadLeavesOutWhatOthersHeldDuringTheBench() throws {
        let path = try TestPaths.temporaryDirectory("calibration-in-use").path + "/calibration.json"
        var file = try CalibrationFile(path: path)
        try file.append(CalibrationRecord(device: "rtx4070", kind: "cuda", model: "d12", microBatch: 8, seq: 1024, mfu: 0.5,
                                          tokensPerSecond: 5e4, deviceOverheadBytes: 1100 << 20, date: "2026-11-21T09:00:00Z"))
        let older = DeviceOverhead(bytes: 1100 << 20, source: .measured(by: "d12 B=8 T=1024 on 2026-11-21"))
        #expect(DeviceOverhead.calibrated(device: "rtx4070", in: file, inUseAtOpen: 450 << 20) == older)
        #expect(DeviceOverhead.calibrated(device: "rtx4070", in: file, inUseAtOpen: 2 << 30)
                == DeviceOverhead(bytes: 2 << 30, source: .inUseAtOpen))
        try file.append(CalibrationRecord(device: "rtx4070", kind: "cuda", model: "d12", microBatch: 16, seq: 1024, mfu: 0.5,
                                          tokensPerSecond: 5e4, deviceOverheadBytes: 1100 << 20, deviceInUseAtOpenBytes: 1000 << 20,
                                          date: "2026-11-22T09:00:00Z"))
        let reread = try CalibrationFile(path: path)
        #expect(reread.records.last?.deviceInUseAtOpenBytes == 1000 << 20, "written and read back")
        #expect(DeviceOverhead.calibrated(device: "rtx4070", in: reread, inUseAtOpen: 450 << 20)
                == DeviceOverhead(bytes: 550 << 20, source: .inUseAtOpenAndMeasured(by: "d12 B=16 T=1024 on 2026-11-22", inUseAtOpen: 450 << 20)))
        #expect(DeviceOverhead.calibrated(device: "rtx4070", in: reread, inUseAtOpen: 3 << 30).bytes == (3 << 30) + (100 << 20))
        #expect(DeviceOverhead.calibrated(device: "rtx4070", in: reread)
                == DeviceOverhead(bytes: 1100 << 20, source: .measured(by: "d12 B=16 T=1024 on 2026-11-22")))
        let spec = try GPUSpecification.named("rtx4070")
        guard case .gpu(_, _, let counted) = PlanDevice.gpu(spec, totalBytes: spec.usableBytes, inUseAtOpen: 450 << 20, calibration: reread)
        else { Issue.record("not a GPU device"); return }
        let plan = MemoryPlan(config: d12, batchSize: 8, sequenceLength: 1024, recompute: false,
                              device: .gpu(spec, totalBytes: spec.usableBytes, overhead: counted))
        #expect(counted.bytes == 550 << 20 && plan.components.contains {
            $0.key == "cuda_context" && $0.label.hasPrefix("in use on the device when gpt2 opened it")
                && $0.label.contains("measured by gpt2 bench d12 B=16 T=1024")
        }, "\(counted)")
    }

    /// Each level of the process's memory cgroup that sets a limit leaves that limit less the group's use without its
    /// inactive page cache; "max" (v2) and v1's unlimited 2^63 − 4096 set none, and other controllers' lines are passed over.
    @Test func cgroupLimitsAreReadAtEachLevelThatSetsOne() {
        let v2: [String: String] = [
            "/sys/fs/cgroup/box/job/memory.max": "8589934592\n", "/sys/fs/cgroup/box/job/memory.current": "3221225472\n",
            "/sys/fs/cgroup/box/job/memory.stat": "anon 2147483648\ninactive_file 1073741824\nactive_file 5\n",
            "/sys/fs/cgroup/box/memory.max": "17179869184\n", "/sys/fs/cgroup/box/memory.current": "17179869000\n",
            "/sys/fs/cgroup/memory.max": "max\n", "/sys/fs/cgroup/memory.current": "1\n",
        ]
        let found = ProcessMemoryLimits.cgroupLimits(membership: "0::/box/job\n", read: { v2[$0] })
        #expect(found.map(\.bytes) == [8 << 30 - 2 << 30, 184], "\(found)")
        #expect(found.first?.limit == "the memory cgroup's limit (/sys/fs/cgroup/box/job/memory.max, 8.00 GiB; 2.00 GiB in use)", "\(found)")
        let v1: [String: String] = [
            "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "4294967296", "/sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes": "1073741824",
            "/sys/fs/cgroup/memory/docker/abc/memory.stat": "cache 5\ntotal_inactive_file 536870912\n",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712", "/sys/fs/cgroup/memory/memory.usage_in_bytes": "1",
        ]
        let membership = "12:pids:/docker/abc\n4:cpuacct,memory:/docker/abc\n0::/\n"
        #expect(ProcessMemoryLimits.cgroupLimits(membership: membership, read: { v1[$0] }).map(\.bytes) == [4 << 30 - 512 << 20])
        #expect(ProcessMemoryLimits.cgroupLimits(membership: "0::/\n", read: { _ in nil }).isEmpty)
    }

    @Test func memAvailableIsReadInBytes() {
        #expect(SystemMemory.parseAvailable("MemTotal:  100 kB\nMemAvailable:    2048 kB\n") == 2 << 20)
        #expect(SystemMemory.parseAvailable("MemTotal: 100 kB\n") == nil)
    }

    /// The process's peak comes from /proc/self/status, whose fields are separated by a tab and spaces; reading
    /// it live gives at least the resident set now (VmRSS).
    @Test func peakResidentSetIsReadInBytes() throws {
        #expect(SystemMemory.parsePeak("VmPeak:\t  900 kB\nVmHWM:\t    1948 kB\nVmRSS:\t    1000 kB\n") == 1948 * 1024)
        #expect(SystemMemory.parsePeak("VmRSS:\t    1000 kB\n") == nil)
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let now = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap { Int($0) })
        #expect(SystemMemory.processPeakBytes() >= now * 1024)
    }
}

@Suite struct CalibrationDateTests {
    /// The record's date is UTC ISO 8601 to the second, written without Foundation's formatters.
    @Test func nowIsISO8601UTC() throws {
        // Foundation's own formatter, in the test only, just before and just after: the date is one of the two
        // seconds or between them (the whole date compares as text: ISO 8601 in UTC sorts as time does).
        let before = Foundation.Date().ISO8601Format()
        let date = CalibrationRecord.now()
        let after = Foundation.Date().ISO8601Format()
        #expect(date.count == 20, "\(date)")
        #expect(before <= date && date <= after, "\(date) vs \(before)…\(after)")
        #expect(date.hasSuffix("Z") && date.dropFirst(10).first == "T")
    }
}
