/// What `gpt2 plan` prints: a memory table with aligned columns and binary units, the verdict, the largest
/// micro-batch and the time arithmetic — or all of it as one JSON object for scripts.

import GPT2

struct PlanReport {
    var model: String
    var config: ModelConfig
    var batch: BatchShape
    var memory: MemoryPlan
    var largest: Int
    var largestWithOtherRecompute: Int
    /// nil for a GPU not in the table when no --peak-flops was given and no bench recorded one.
    var time: TimePlan?
    /// Whether `time`'s peak is the one a `gpt2 bench --peak-flops` recorded for this GPU, which the table lacks.
    var peakRecorded: Bool
    var deviceKey: String
    /// Optimizer steps, from `--steps` or `--tokens` (nil with neither).
    var steps: Int? = nil

    private var recompute: Bool { memory.layout.recompute }
    private var T: Int { memory.layout.sequenceLength }

    /// The heading, the memory table, the verdict and the largest micro-batch, then the time.
    func text() -> String {
        let precision = memory.device.precision == .float32 ? "fp32" : "mixed bf16 (fp32 master weights)"
        let padding = config.paddingParameterCount > 0 ? ", \(grouped(config.paddingParameterCount)) of them the vocabulary's padding" : ""
        var lines = ["\(model) (\(grouped(config.parameterCount)) parameters\(padding)), micro-batch \(batch.microBatch) × seq \(T)"
                     + ", grad-accum \(batch.accumulation)\(recompute ? ", --recompute" : "") on \(memory.device.name), \(precision)", ""]
        lines += memoryTable() + [""]
        lines.append("verdict: \(memory.verdict)")
        let other = recompute ? "without --recompute" : "with --recompute"
        let boundary = largest == Layout.maximumBatchSize ? " (the most a micro-batch can be)" : largest > 0 ? " (\(largest + 1) does not)" : ""
        let otherBoundary = largestWithOtherRecompute == Layout.maximumBatchSize ? " (the most a micro-batch can be)" : ""
        lines.append("largest micro-batch that fits at seq \(T): \(largest)\(boundary); \(other): \(largestWithOtherRecompute)\(otherBoundary)")
        lines.append("")
        if let time {
            lines += timeSection(time)
        } else {
            lines.append("time: \(memory.device.name) is not in the GPU table, so its peak is unknown: "
                         + "pass --peak-flops (dense BF16 FLOP/s) for the time (a gpt2 bench given it records it for later plans)")
        }
        return lines.joined(separator: "\n")
    }

    /// Component, size and bytes in aligned columns, then the total and what is available.
    private func memoryTable() -> [String] {
        var rows: [(String, Int)] = memory.components.map { ($0.label, $0.bytes) }
        rows.append(("total", memory.totalBytes))
        rows.append(("available", memory.device.capacityBytes))
        let width = rows.map(\.0.count).max()! + 2
        // (columns widen for sizes beyond a terabyte, so that they never run together)
        let sizeWidth = max(11, rows.map { formatBytes($0.1).count + 2 }.max()!)
        let bytesWidth = max(16, rows.map { grouped($0.1).count + 2 }.max()!)
        let header = pad("memory", width) + leftPad("", sizeWidth) + leftPad("bytes", bytesWidth)
        var lines = [header]
        for (index, (label, bytes)) in rows.enumerated() {
            if index == memory.components.count { lines.append(String(repeating: "-", count: header.count)) }
            lines.append(pad(label, width) + leftPad(formatBytes(bytes), sizeWidth) + leftPad(grouped(bytes), bytesWidth))
        }
        return lines
    }

    /// Where the time comes from (peak × MFU, and the optimizer's share), the arithmetic row by row, and how to
    /// measure the MFU when it is a default or was measured at another shape.
    private func timeSection(_ time: TimePlan) -> [String] {
        var lines: [String] = []
        let peak = formatFLOPRate(time.peakFLOPs) + (peakRecorded ? " peak (as given to gpt2 bench)" : " peak")
        if time.optimizerSeconds > 0 {
            lines.append("time: \(peak) × MFU \(formatFixed(time.microStepMFU, digits: 3)) in the forward and backward passes, "
                         + "plus \(formatFixed(time.optimizerSeconds * 1000, digits: 1)) ms per step for the optimizer (\(time.mfuSource.text))")
        } else {
            lines.append("time: \(peak) × MFU \(formatFixed(time.mfu, digits: 3)) (\(time.mfuSource.text))")
        }
        var rows: [(String, String)] = [
            ("FLOPs per token (fwd+bwd, attention incl.)", formatScientific(time.flopsPerToken, digits: 3)),
            ("tokens per step", "\(grouped(time.tokensPerStep)) (\(batch.microBatch) × \(T) × \(batch.accumulation))"),
            ("throughput", "\(grouped(Int(time.tokensPerSecond.rounded()))) tokens/s"
                + (time.optimizerSeconds > 0 ? " (MFU \(formatFixed(time.mfu, digits: 3)) with the optimizer)" : "")),
            ("time per step", Self.stepTime(time.stepSeconds)),
        ]
        if let steps = time.steps, let total = time.totalTokens, let seconds = time.totalSeconds {
            rows.insert(("steps", grouped(steps)), at: 2)
            // (the short forms only where they say something the long ones do not: 10B beside 10,000,000,000, hours beside 4d05h, none beside years)
            let short = TokenCount.format(total)
            rows.insert(("total tokens", grouped(total) + (short == String(total) ? "" : " (\(short))")), at: 3)
            let hours = seconds < 360 || seconds >= 365.25 * 86400 ? "" : " (\(formatFixed(seconds / 3600, digits: 1)) hours)"
            rows.append(("total time", formatDuration(seconds) + hours
                         + " of training steps; validation, samples and checkpoints come on top"))
        } else {
            rows.append(("total time", "give --steps or --tokens"))
        }
        let width = rows.map(\.0.count).max()! + 2
        lines += rows.map { "  " + pad($0.0, width) + $0.1 }
        let measuredHere: String? = switch time.mfuSource {
        case .uncalibrated: "the MFU is a default"
        case .calibrated(_, _, sameShape: false): "the MFU was measured at another shape"
        case .calibrated, .given: nil
        }
        if let measuredHere {
            let (flag, place) = switch memory.device {
            case .cpu(_, let threads): ("cpu --threads \(threads)", "this machine")
            case .gpu: ("cuda", "a \(memory.device.name)")
            }
            lines.append("  \(measuredHere): gpt2 bench --device \(flag) --model \(model) --micro-batch \(batch.microBatch) --seq \(T) "
                         + "on \(place) measures it, and later plans for it use the measurement")
        }
        return lines
    }

    /// A step's time: "19.23 s", in ms below a second ("12.3 ms"; a tiny model's read "0.00 s"), and in scientific
    /// notation below a twentieth of a millisecond.
    static func stepTime(_ seconds: Double) -> String {
        if seconds >= 0.9995 { return formatFixed(seconds, digits: 2) + " s" }
        return seconds >= 0.5e-4 ? formatFixed(seconds * 1000, digits: 1) + " ms" : formatScientific(seconds) + " s"
    }

    func json() -> String {
        var fields: [(String, String)] = [
            ("fits", String(memory.fits)),
            ("device", jsonString(memory.device.name)),
            ("device_key", jsonString(deviceKey)),
            ("precision", jsonString(memory.device.precision.rawValue)),
            ("model", jsonString(model)),
            ("parameters", String(config.parameterCount)),
            ("micro_batch", String(batch.microBatch)),
            ("seq", String(T)),
            ("grad_accum", String(batch.accumulation)),
            ("recompute", String(recompute)),
            ("classifier_chunk_rows", String(memory.layout.classifierChunkRows)),
        ]
        let components = memory.components.map { "\(jsonString($0.key)): \($0.bytes)" }.joined(separator: ", ")
        if case .gpu(_, _, let overhead) = memory.device {
            fields.append(("device_overhead_source", jsonString(overhead.sourceName)))
        }
        fields += [
            ("memory", "{\(components)}"),
            ("buffer_bytes", String(memory.bufferBytes)),
            ("total_bytes", String(memory.totalBytes)),
            ("capacity_bytes", String(memory.device.capacityBytes)),
            ("headroom_bytes", String(memory.headroomBytes)),
            ("max_micro_batch", String(largest)),
            (recompute ? "max_micro_batch_without_recompute" : "max_micro_batch_with_recompute", String(largestWithOtherRecompute)),
            ("tokens_per_step", String(batch.tokensPerStep(seq: T))),
        ]
        // (the rates and times null when the peak is unknown: a GPU not in the table, and no --peak-flops)
        func field(_ value: (TimePlan) -> String?) -> String { time.flatMap(value) ?? "null" }
        let tokensPerStep = batch.tokensPerStep(seq: T)
        fields += [
            ("flops_per_token", String(FLOPCount.trainingPerToken(config, sequenceLength: T))),
            ("peak_flops", field { String($0.peakFLOPs) }),
            ("mfu", field { String($0.mfu) }),
            ("micro_step_mfu", field { String($0.microStepMFU) }),
            ("optimizer_seconds", field { String($0.optimizerSeconds) }),
            ("mfu_calibrated", field { time in String({ if case .calibrated = time.mfuSource { return true } else { return false } }()) }),
            ("mfu_source", field { jsonString($0.mfuSource.text) }),
            ("tokens_per_s", field { String($0.tokensPerSecond) }),
            ("step_seconds", field { String($0.stepSeconds) }),
            ("steps", steps.map(String.init) ?? "null"),
            ("total_tokens", steps.map { String($0 * tokensPerStep) } ?? "null"),
            ("total_seconds", field { $0.totalSeconds.map { String($0) } }),
        ]
        return "{" + fields.map { "\(jsonString($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// `gpt2 plan --list-gpus`.
    static func gpuTable() -> String {
        let rows = GPUSpecification.all.map { spec in
            [spec.id, spec.name, formatBytes(spec.memoryBytes) + (spec.eccReservesMemory ? " (ECC: " + formatBytes(spec.usableBytes) + ")" : ""),
             formatFixed(spec.bf16TensorFLOPs / 1e12, digits: 1), formatFixed(spec.memoryBandwidth / 1e9, digits: 0), spec.source]
        }
        let header = ["--gpu", "name", "memory", "BF16 TFLOP/s", "GB/s", "source"]
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! + 2 }
        let lines = ([header] + rows).map { row in
            row.indices.map { $0 == row.count - 1 ? row[$0] : pad(row[$0], widths[$0]) }.joined()
        }
        return (lines + ["BF16: dense tensor-core throughput with FP32 accumulate (what training GEMMs use)."]).joined(separator: "\n")
    }
}

/// `text` padded with spaces on the right (`pad`) or left (`leftPad`) to `width` characters: table columns.
func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
func leftPad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
