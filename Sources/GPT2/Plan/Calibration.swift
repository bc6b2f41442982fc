/// The calibration file: every `gpt2 bench` run appends what it measured (device, shape, MFU, tokens/s, the
/// optimizer's share of the step and, on a GPU, the device's memory overhead), and the planner takes its speed from
/// the newest record of the same model on the same kind of device, of the shape most like the one planned, and its
/// overhead from the newest record for that kind of device.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// One `gpt2 bench` measurement.
public struct CalibrationRecord: Codable, Sendable, Equatable {
    /// The device kind the planner looks up: a GPU table id (`rtx4070`), the driver's name for a GPU not in
    /// the table, or `cpu`.
    public var device: String
    /// `cpu` or `cuda`.
    public var kind: String
    public var model: String
    public var microBatch: Int
    public var seq: Int
    /// Micro-batches per measured step (absent: 1, as in older files).
    public var gradAccum: Int?
    public var mfu: Double
    public var tokensPerSecond: Double
    /// Seconds of the step spent once per optimizer step however many micro-batches it accumulates (zeroing the
    /// gradients, clipping, AdamW). Absent in older files.
    public var optimizerSeconds: Double?
    /// On a GPU: the driver's bytes in use beyond the backend's planned allocations (context, cuBLASLt,
    /// kernels), which the planner then uses for this kind of device. Absent on the CPU and in older files.
    public var deviceOverheadBytes: Int?
    /// On a GPU: the driver's bytes in use when the bench opened the device, before any buffer of its own (its CUDA
    /// context, and whatever other processes held then), so that a plan can tell the two apart. Absent on the CPU and
    /// in older files.
    public var deviceInUseAtOpenBytes: Int?
    /// The peak FLOP/s the MFU was measured against (absent in older files): a plan against another peak (a
    /// --peak-flops) rescales the MFU so that the measured speed, not the ratio, carries over.
    public var peakFLOPs: Double?
    /// ISO 8601, UTC.
    public var date: String

    /// `d12 B=4 T=64`, with `A=8` when the step accumulated 8 micro-batches.
    public var run: String { "\(model) B=\(microBatch) T=\(seq)" + ((gradAccum ?? 1) > 1 ? " A=\(gradAccum!)" : "") }

    /// Whether it measured micro-batches of `microBatch` sequences of `seq` tokens.
    public func hasShape(seq: Int, microBatch: Int) -> Bool { self.seq == seq && self.microBatch == microBatch }

    enum CodingKeys: String, CodingKey {
        case device, kind, model, mfu, date
        case microBatch = "micro_batch", seq, gradAccum = "grad_accum", tokensPerSecond = "tokens_per_s", optimizerSeconds = "optimizer_seconds"
        case deviceOverheadBytes = "device_overhead_bytes", deviceInUseAtOpenBytes = "device_in_use_at_open_bytes"
        case peakFLOPs = "peak_flops"
    }

    public init(device: String, kind: String, model: String, microBatch: Int, seq: Int, gradAccum: Int? = nil, mfu: Double,
                tokensPerSecond: Double, optimizerSeconds: Double? = nil, deviceOverheadBytes: Int? = nil,
                deviceInUseAtOpenBytes: Int? = nil, peakFLOPs: Double? = nil, date: String = CalibrationRecord.now()) {
        (self.device, self.kind, self.model, self.microBatch, self.seq, self.gradAccum) = (device, kind, model, microBatch, seq, gradAccum)
        (self.mfu, self.tokensPerSecond, self.optimizerSeconds) = (mfu, tokensPerSecond, optimizerSeconds)
        (self.deviceOverheadBytes, self.deviceInUseAtOpenBytes) = (deviceOverheadBytes, deviceInUseAtOpenBytes)
        (self.peakFLOPs, self.date) = (peakFLOPs, date)
    }

    /// What makes the record unusable for a plan (a value no bench writes: a damaged or hand-edited file), or nil.
    /// An MFU above 1 is allowed (a CPU faster than the peak assumed for it measures one), but not above 10, neither the
    /// step's nor that of its forward and backward passes alone.
    public var problem: String? {
        let counts = [("micro_batch", microBatch), ("seq", seq), ("grad_accum", gradAccum ?? 1)]
        if let (name, value) = counts.first(where: { !(1...Layout.maximumBatchSize).contains($0.1) }) {
            return "\(name) \(value) is not between 1 and \(Layout.maximumBatchSize)"
        }
        guard mfu > 0, mfu <= 10 else { return "mfu \(mfu) is not a utilisation (above 0, at most 10)" }
        guard tokensPerSecond > 0, tokensPerSecond.isFinite else { return "tokens_per_s \(tokensPerSecond) is not a positive number" }
        if let optimizerSeconds, !(optimizerSeconds >= 0 && optimizerSeconds.isFinite) {
            return "optimizer_seconds \(optimizerSeconds) is not a time"
        }
        // (the plan's speed for the passes: an optimizer of nearly the whole step made it millions of times the peak, and
        // one of more than the step was added to the whole step's time)
        if let optimizerSeconds {
            if optimizerSeconds >= stepSeconds {
                return "optimizer_seconds \(optimizerSeconds) is not less than the \(formatScientific(stepSeconds, digits: 3)) s step it is part of"
            }
            if !(microStepMFU <= 10) {
                return "optimizer_seconds \(optimizerSeconds) of the \(formatScientific(stepSeconds, digits: 3)) s step leaves the forward and "
                    + "backward passes an MFU of \(formatScientific(microStepMFU, digits: 3)), not a utilisation (at most 10)"
            }
        }
        if let peakFLOPs, !FLOPCount.plausiblePeaks.contains(peakFLOPs) { return "peak_flops \(peakFLOPs) is not a peak (1e6 to 1e21)" }
        // (below 0 when the plan counts more than the driver has in use: a measurement too)
        if let deviceOverheadBytes, !(-(1 << 50)...(1 << 50)).contains(deviceOverheadBytes) {
            return "device_overhead_bytes \(deviceOverheadBytes) is not a size of device memory"
        }
        if let deviceInUseAtOpenBytes, !(0...(1 << 50)).contains(deviceInUseAtOpenBytes) {
            return "device_in_use_at_open_bytes \(deviceInUseAtOpenBytes) is not a size of device memory"
        }
        return nil
    }

    /// `microStepMFU` against `peak`: the same speed, as a fraction of another peak than the one measured against
    /// (unchanged where the record does not say which).
    public func microStepMFU(against peak: Double) -> Double {
        guard let peakFLOPs, peak > 0 else { return microStepMFU }
        return microStepMFU * peakFLOPs / peak
    }

    /// Seconds of the measured step: its tokens (micro-batch × seq × accumulation) at the measured rate.
    var stepSeconds: Double { Double(microBatch * seq * (gradAccum ?? 1)) / tokensPerSecond }

    /// The MFU of the forward and backward passes alone: the step's less the optimizer's time, when that was
    /// measured (else the whole step's MFU).
    public var microStepMFU: Double {
        guard let optimizerSeconds, optimizerSeconds >= 0, optimizerSeconds < stepSeconds else { return mfu }
        return mfu * stepSeconds / (stepSeconds - optimizerSeconds)
    }

    /// The current time as `2026-11-25T10:04:05Z`.
    public static func now() -> String {
        var seconds = time(nil)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String { zeroPadded(Int(value), width: width) }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T"
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec))Z"
    }
}

/// The records in one calibration file, oldest first.
public struct CalibrationFile: Sendable {
    /// Records kept; older ones are dropped on append.
    public static let capacity = 200

    public let path: String
    public private(set) var records: [CalibrationRecord]

    /// `$GPT2_CALIBRATION`, else `calibration.json` in gpt2's cache folder (`FileSystem.cacheFolder`).
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment["GPT2_CALIBRATION"], !path.isEmpty { return FileSystem.expandingHome(path, home: environment["HOME"]) }
        return FileSystem.join(FileSystem.cacheFolder { environment[$0] }, "calibration.json")
    }

    /// Reads the file; a missing file is an empty one, an unreadable one an error naming it.
    public init(path: String = CalibrationFile.defaultPath()) throws {
        self.path = path
        guard FileSystem.isFile(path) else {
            records = []
            return
        }
        let json = Data(try ByteFile.contents(ofFile: path))
        do {
            records = try JSONDecoder().decode([CalibrationRecord].self, from: json)
        } catch {
            throw FileError("calibration file \(path) is not a list of gpt2 bench records (\(decodingErrorText(error, in: json))); "
                            + "delete it or set GPT2_CALIBRATION")
        }
        // a plan from such a record would say a negative or infinite time, or a verdict from nonsense
        if let index = records.firstIndex(where: { $0.problem != nil }), let problem = records[index].problem {
            throw FileError("calibration file \(path) is damaged: in record \(index + 1) (\(records[index].run) on \(records[index].device), "
                            + "\(records[index].date)), \(problem); delete it or set GPT2_CALIBRATION")
        }
    }

    /// The file as plans read it: one that cannot be read is left out with a note, and the plan uses the stated
    /// defaults and says so (a damaged file of measurements stopped every plan, and train and eval, which plan first).
    public static func forPlanning(path: String = CalibrationFile.defaultPath()) -> CalibrationFile {
        do {
            return try CalibrationFile(path: path)
        } catch {
            Console.log("note: \(error); plans use the stated defaults meanwhile")
            return CalibrationFile(path: path, records: [])
        }
    }

    private init(path: String, records: [CalibrationRecord]) {
        self.path = path
        self.records = records
    }

    /// The record for `device` of `model` most like the run planned, as MFU depends on the shape: the newest of the
    /// same sequence length and micro-batch if there is one, else of the same sequence length the one nearest in
    /// micro-batch, else the one nearest in tokens per micro-batch (by ratio; the newest among equals). The newest of
    /// any shape was taken before: a bench of B=1 T=32 after one of B=8 T=128 made a B=16 T=256 plan 53 % slow.
    /// Given the `peak` planned for (a CPU's, which its thread count sets), at each of those steps the records measured
    /// against it (or against none recorded) come first: MFU does not carry over between thread counts exactly.
    /// Another model's record is none of them: its MFU says little of this one's (on a 2-core CPU tiny at T=16
    /// measured 0.01–0.05, d12 at T=64 0.57–0.62).
    public func closest(device: String, model: String, seq: Int, microBatch: Int, peak: Double? = nil) -> CalibrationRecord? {
        let own = records.filter { $0.device == device && $0.model == model }
        let samePeak = own.filter { record in   // (none recorded: not known to differ)
            peak.map { peak in record.peakFLOPs.map { abs($0 - peak) <= 1e-6 * peak } ?? true } ?? true
        }
        /// The record whose `size` is nearest `target` by ratio; the newest of those equally near (`own` is oldest first).
        func nearest(_ candidates: [CalibrationRecord], _ size: (CalibrationRecord) -> Int, to target: Int) -> CalibrationRecord? {
            func distance(_ record: CalibrationRecord) -> Double { abs(log(Double(max(1, size(record))) / Double(max(1, target)))) }
            return candidates.reversed().min { distance($0) < distance($1) }
        }
        let pick: [([CalibrationRecord]) -> CalibrationRecord?] = [
            { $0.last { $0.hasShape(seq: seq, microBatch: microBatch) } },
            { nearest($0.filter { $0.seq == seq }, \.microBatch, to: microBatch) },
            { nearest($0, { $0.seq * $0.microBatch }, to: seq * microBatch) },
        ]
        for choose in pick {
            if let record = choose(samePeak) ?? choose(own) { return record }
        }
        return nil
    }

    /// The peak FLOP/s the newest record for `device` was measured against (for a GPU not in the table, the one its
    /// `gpt2 bench --peak-flops` gave).
    public func recordedPeak(device: String) -> Double? {
        records.last { $0.device == device && $0.peakFLOPs != nil }?.peakFLOPs
    }

    /// Adds `record` and rewrites the file atomically (creating its folder); a record with a `problem` is refused,
    /// so that the file stays readable. The file is read again under a lock (`PATH.lock`), so that records another
    /// `gpt2 bench` appended meanwhile are kept.
    public mutating func append(_ record: CalibrationRecord) throws {
        if let problem = record.problem { throw ConfigError("not recorded for gpt2 plan: \(problem)") }
        guard FileSystem.makeDirectories(FileSystem.directoryName(path)) else {
            throw FileError.system("create the calibration file's folder", FileSystem.directoryName(path))
        }
        _ = try AtomicFile.regularFileDestination(path)   // (before its lock file is made beside it: /dev/null left a /dev/null.lock)
        try withExtendedLifetime(try FileLock(path + ".lock", wait: true)) {   // held until the file is rewritten
            records = try CalibrationFile(path: path).records
            records.append(record)
            if records.count > Self.capacity { records.removeFirst(records.count - Self.capacity) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let bytes = Array(try encoder.encode(records)) + [UInt8(ascii: "\n")]
            try AtomicFile.write(path) { try $0.write(bytes) }
        }
    }
}
