/// What `gpt2 bench` measured, as it prints it: one line (or one JSON object) of step time, throughput, MFU and
/// device memory, and with --profile the GPU time per kernel of one step.

import CUDABackend
import GPT2

struct BenchReport {
    var model: String
    var config: ModelConfig
    var device: String
    /// CPU worker threads; nil on a GPU.
    var threads: Int?
    var microBatch: Int
    /// Whether `microBatch` is the largest that fits by the plan (`--micro-batch auto`).
    var microBatchAuto: Bool
    var seq: Int
    var gradAccum: Int
    var classifierChunkRows: Int
    var steps: Int
    /// Medians over the timed steps: the whole step, and its part spent once per step (zeroing, clipping, AdamW).
    var stepSeconds: Double
    var optimizerSeconds: Double
    var tokensPerSecond: Double
    var flopsPerToken: Double
    /// The peak the MFU is taken against; nil for a GPU not in the table without --peak-flops.
    var peakFLOPs: Double?
    /// On a GPU: the driver's bytes in use, the part of them beyond the backend's planned buffers, and those in use
    /// when the bench opened the device (its context, other processes' memory).
    var deviceMemoryBytes: Int?
    var deviceOverheadBytes: Int?
    var deviceInUseAtOpenBytes: Int?
    var allocatedBytes: Int
    var kernelTimes: [KernelTime]?
    var peakBandwidth: Double?
    /// On a GPU: which kernels carried out each fusion that can be switched off (`CUDABackend.fusions`).
    var fusions: KeyValuePairs<String, String>?

    var mfu: Double? { peakFLOPs.map { tokensPerSecond * flopsPerToken / $0 } }

    func json() -> String {
        func value<T>(_ optional: T?) -> String { optional.map { "\($0)" } ?? "null" }
        let fields: [(String, String)] = [
            ("impl", jsonString("gpt2-swift")), ("commit", jsonString(BuildInfo.commit)), ("device", jsonString(device)), ("model", jsonString(model)),
            ("micro_batch", "\(microBatch)"), ("micro_batch_auto", "\(microBatchAuto)"), ("seq", "\(seq)"), ("grad_accum", "\(gradAccum)"),
            ("classifier_chunk_rows", "\(classifierChunkRows)"), ("threads", "\(threads ?? 0)"), ("steps", "\(steps)"),
            ("step_ms", "\(stepSeconds * 1000)"), ("optimizer_ms", "\(optimizerSeconds * 1000)"),
            ("tokens_per_s", "\(tokensPerSecond)"), ("mfu", value(mfu)), ("peak_flops", value(peakFLOPs)),
            ("device_memory_bytes", value(deviceMemoryBytes)), ("device_overhead_bytes", value(deviceOverheadBytes)),
            ("device_in_use_at_open_bytes", value(deviceInUseAtOpenBytes)),
            ("flops_per_token", "\(flopsPerToken)"), ("params", "\(config.parameterCount)"), ("allocated_bytes", "\(allocatedBytes)"),
        ] + (fusions.map { [("fusions", "{" + $0.map { "\(jsonString($0.key)): \(jsonString($0.value))" }.joined(separator: ", ") + "}")] } ?? [])
          + (kernelTimes.map { [("profile", Self.profileJSON($0))] } ?? [])
        return "{" + fields.map { "\(jsonString($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    func text() -> String {
        let place = threads.map { "\(device) (\(formatCount($0, "thread")))" } ?? device
        let utilisation = mfu.map { "MFU \(formatFixed($0 * 100, digits: 1))% of \(formatFLOPRate(peakFLOPs!))" }
            ?? "MFU n/a (unknown GPU: pass --peak-flops)"
        var memoryText = ""
        if let deviceMemoryBytes, let deviceOverheadBytes {
            memoryText = ", \(formatBytes(deviceMemoryBytes)) in use on the device (\(formatBytes(deviceOverheadBytes)) of it beyond the backend's buffers)"
        }
        var lines = ["\(model) B=\(microBatch) T=\(seq)\(gradAccum > 1 ? " × \(gradAccum) accumulated" : "") on \(place): "
                     + "\(formatFixed(stepSeconds * 1000, digits: 1)) ms/step "
                     + "(\(formatFixed(optimizerSeconds * 1000, digits: 1)) ms of it zeroing gradients, clipping and AdamW), "
                     + "\(Int(tokensPerSecond)) tokens/s, \(utilisation)\(memoryText)"]
        if let kernelTimes { lines.append(Self.profileTable(kernelTimes, peakFLOPs: peakFLOPs, peakBandwidth: peakBandwidth)) }
        return lines.joined(separator: "\n")
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
