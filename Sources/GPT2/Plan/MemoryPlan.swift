/// Will a training config fit: every buffer the backend allocates, read from the same `Layout` it allocates
/// with, plus the stated overheads of the device, against its memory — a verdict and the largest micro-batch.

/// Where the plan runs, and the memory it has.
public enum PlanDevice: Sendable {
    /// The CPU backend (fp32). `availableBytes`: what the machine can give (MemAvailable); `threads` sizes the ops' scratch.
    case cpu(availableBytes: Int, threads: Int)
    /// The CUDA backend (mixed bf16). `totalBytes`: the driver's figure for a present device, else the table's
    /// usable bytes; `overhead`: what the device uses beyond the backend's allocations.
    case gpu(GPUSpecification, totalBytes: Int, overhead: DeviceOverhead)

    /// A GPU from the table, with its usable memory and the estimated overhead.
    public static func gpu(_ spec: GPUSpecification) -> PlanDevice { .gpu(spec, totalBytes: spec.usableBytes, overhead: .estimate) }

    /// A GPU with the overhead plans count for it (`DeviceOverhead.calibrated`): from the calibration file's newest
    /// measurement for its kind (else the estimate) and, on the device itself, the bytes in use when gpt2 opened it
    /// (`inUseAtOpen`; nil for a card from the table).
    public static func gpu(_ spec: GPUSpecification, totalBytes: Int, inUseAtOpen: Int?, calibration: CalibrationFile) -> PlanDevice {
        .gpu(spec, totalBytes: totalBytes, overhead: DeviceOverhead.calibrated(device: spec.id, in: calibration, inUseAtOpen: inUseAtOpen))
    }

    /// How the backend stores the model there.
    public var precision: Precision {
        if case .cpu = self { return .float32 }
        return .mixedBFloat16
    }

    /// The name printed in the plan.
    public var name: String {
        switch self {
        case .cpu(_, let threads): return "CPU (\(formatCount(threads, "thread")))"
        case .gpu(let spec, _, _): return spec.name
        }
    }

    /// Bytes the plan may fill.
    public var capacityBytes: Int {
        switch self {
        case .cpu(let available, _): return available
        case .gpu(_, let total, _): return total
        }
    }
}

/// Device memory the CUDA backend needs beyond its own allocations: the CUDA context, cuBLASLt's handle, the
/// loaded kernel images and whatever the driver reserves for them. Estimated until `gpt2 bench` has measured
/// it on that kind of GPU (the driver's bytes in use less the plan's own allocations) and recorded it; on the
/// device itself, at least what was in use when gpt2 opened it (its context, and whatever other processes hold).
public struct DeviceOverhead: Sendable, Equatable {
    public var bytes: Int
    /// Where `bytes` comes from.
    public var source: Source

    public enum Source: Sendable, Equatable {
        /// The stated estimate.
        case estimate
        /// The bench run that measured it (`d12 B=16 T=1024 on 2026-11-25`).
        case measured(by: String)
        /// The device's bytes in use when this process opened it, more than the estimate or measurement.
        case inUseAtOpen
        /// The device's bytes in use when this process opened it (`inUseAtOpen`), plus what the bench run named measured
        /// beyond the bytes in use when it opened the device (cuBLASLt, the kernels).
        case inUseAtOpenAndMeasured(by: String, inUseAtOpen: Int)
    }

    public init(bytes: Int, source: Source) {
        (self.bytes, self.source) = (bytes, source)
    }

    /// The stated estimate: a CUDA 12/13 primary context with lazy module loading typically takes 250–500 MiB,
    /// our NVRTC kernels a few MiB more.
    public static let estimate = DeviceOverhead(bytes: 400 << 20, source: .estimate)
    /// Its key in the memory table's JSON.
    public static let key = "cuda_context"

    /// The overhead for a kind of device from the newest measurement of it in the calibration file, else the
    /// estimate. On the device itself (`inUseAtOpen`: its bytes in use when gpt2 opened it, context included), that
    /// measurement's part beyond the bytes in use when its bench opened the device is added to `inUseAtOpen`, so that
    /// memory other processes held during the bench is not counted again once they have gone (nor missed when they
    /// came after); a measurement that did not record those (older files) counts whole, or `inUseAtOpen` where that
    /// is more (`atLeast`).
    public static func calibrated(device: String, in file: CalibrationFile, inUseAtOpen: Int? = nil) -> DeviceOverhead {
        guard let record = file.records.last(where: { $0.device == device && $0.deviceOverheadBytes != nil }) else {
            return Self.estimate.atLeast(inUseAtOpen: inUseAtOpen ?? 0)
        }
        let run = "\(record.run) on \(record.date.prefix(10))"
        if let inUseAtOpen, let inUseAtBench = record.deviceInUseAtOpenBytes {
            return DeviceOverhead(bytes: inUseAtOpen + record.deviceOverheadBytes! - inUseAtBench, source: .inUseAtOpenAndMeasured(by: run, inUseAtOpen: inUseAtOpen))
        }
        return DeviceOverhead(bytes: record.deviceOverheadBytes!, source: .measured(by: run)).atLeast(inUseAtOpen: inUseAtOpen ?? 0)
    }

    /// This overhead, or the bytes in use on the device when gpt2 opened it (before any buffer of its own) where
    /// those are more: then other processes hold memory there (a desktop, another run) that the plan must leave them.
    private func atLeast(inUseAtOpen: Int) -> DeviceOverhead {
        inUseAtOpen > bytes ? DeviceOverhead(bytes: inUseAtOpen, source: .inUseAtOpen) : self
    }

    /// How `--json` names the source: `estimate`, `calibrated`, `in_use_at_open` or `in_use_at_open_and_calibrated`.
    public var sourceName: String {
        switch source {
        case .estimate: return "estimate"
        case .measured: return "calibrated"
        case .inUseAtOpen: return "in_use_at_open"
        case .inUseAtOpenAndMeasured: return "in_use_at_open_and_calibrated"
        }
    }

    /// Its row in the memory table.
    var label: String {
        switch source {
        case .estimate: return "CUDA context + cuBLASLt + kernels (estimate)"
        case .measured(let run): return "CUDA context + cuBLASLt + kernels (measured by gpt2 bench \(run))"
        case .inUseAtOpen: return "in use on the device when gpt2 opened it (CUDA context, other processes)"
        case .inUseAtOpenAndMeasured(let run, _):
            return "in use on the device when gpt2 opened it (CUDA context, other processes) + cuBLASLt and kernels "
                + "(measured by gpt2 bench \(run))"
        }
    }
}

/// One row of the memory table.
public struct MemoryComponent: Sendable, Equatable {
    /// What it is, as the table prints it ("gradients (fp32)", "activation qkv (L,B,T,3C) bf16").
    public var label: String
    /// A stable key for `--json` ("gradients", "activation.qkv").
    public var key: String
    public var bytes: Int
    /// Whether the backend allocates it as one of its `Layout` buffers (false: overheads and scratch).
    public var isBuffer: Bool
}

/// The memory one training config needs on one device.
public struct MemoryPlan: Sendable {
    /// What a CPU run's process holds besides the model and the ops' scratch: the program, its libraries and
    /// OpenBLAS's buffers. Measured as the peak resident set less the plan, OpenBLAS 0.3.21: 17–28 MiB on one
    /// thread, 33–110 MiB on two (tiny, small and d12; more threads add nothing), so the larger figure.
    public static let cpuProcessEstimate = 112 << 20
    /// Its key in the memory table's JSON.
    public static let cpuProcessKey = "cpu_process"
    /// cuMemAlloc hands out memory in 2 MiB pages; each buffer is rounded up to them.
    public static let cudaAllocationGranularity = 2 << 20

    public let layout: Layout
    public let device: PlanDevice
    /// Every row: the `Layout` buffers (activations one row per tensor), then the device's overheads.
    public let components: [MemoryComponent]

    /// `classifierChunkRows` nil: the default chunk, as `GPT2Model` allocates it; `training` false: a model that only
    /// evaluates (no gradients, no AdamW moments).
    public init(config: ModelConfig, batchSize: Int, sequenceLength: Int, recompute: Bool, device: PlanDevice,
                classifierChunkRows: Int? = nil, training: Bool = true) {
        let layout = Layout(config: config, batchSize: batchSize, sequenceLength: sequenceLength, recompute: recompute,
                            training: training, precision: device.precision, classifierChunkRows: classifierChunkRows)
        self.layout = layout
        self.device = device
        components = Self.bufferRows(layout) + Self.overheadRows(layout, device)
    }

    /// Bytes the backend's buffers take: what `Backend.allocatedBytes` reports after allocating this layout.
    public var bufferBytes: Int { components.filter(\.isBuffer).reduce(0) { $0 + $1.bytes } }
    /// Everything: buffers plus overheads.
    public var totalBytes: Int { components.reduce(0) { $0 + $1.bytes } }
    /// What the backend itself takes from the device: everything but the device overhead (on a GPU, the
    /// driver's bytes in use once the model is allocated, less the overhead).
    public var backendBytes: Int { components.filter { $0.key != DeviceOverhead.key }.reduce(0) { $0 + $1.bytes } }
    /// Capacity less the total; negative when it does not fit.
    public var headroomBytes: Int { device.capacityBytes - totalBytes }
    public var fits: Bool { headroomBytes >= 0 }

    /// One line: `fits: 5.59 GiB of 12.00 GiB on GeForce RTX 4070 (6.41 GiB headroom)`.
    public var verdict: String {
        let used = "\(formatBytes(totalBytes)) of \(formatBytes(device.capacityBytes)) on \(device.name)"
        return fits ? "fits: \(used) (\(formatBytes(headroomBytes)) headroom)"
                    : "does not fit: \(used) (\(formatBytes(-headroomBytes)) short)"
    }

    /// Throws a message a user can act on when the config does not fit: the check before training starts.
    /// `sequencesPerStep`: the optimizer step's sequences, which the advice keeps (a micro-batch that divides them).
    public func requireFits(sequencesPerStep: Int? = nil) throws {
        guard let advice = advice(sequencesPerStep: sequencesPerStep) else { return }
        throw ConfigError("micro-batch \(layout.batchSize) × seq \(layout.sequenceLength) \(verdict); \(advice)")
    }

    /// What to change when the config does not fit (nil when it fits): the micro-batch that does, else a shorter
    /// --seq or a smaller model (only the latter when the weights alone do not fit), and --recompute where it helps.
    /// Given `sequencesPerStep`, the micro-batch offered divides them, with the accumulation that keeps the step.
    /// A plan of a model that only evaluates (`training` false) gets the micro-batch, --seq or model that fits, alone.
    public func advice(sequencesPerStep: Int? = nil) -> String? {
        guard !fits else { return nil }
        let (config, T) = (layout.config, layout.sequenceLength)
        func largest(recompute: Bool, dividing step: Int? = sequencesPerStep) -> Int {
            Self.largestMicroBatch(config: config, sequenceLength: T, recompute: recompute, device: device, dividing: step,
                                   training: layout.training)
        }
        /// Where no micro-batch fits: a shorter --seq where one token does, else what leaves no room.
        func noMicroBatchFits() -> String {
            MemoryPlan(config: config, batchSize: 1, sequenceLength: 1, recompute: true, device: device, training: layout.training).fits
                ? "use a shorter --seq or a smaller model" : adviceWhenNothingFits
        }
        let plain = largest(recompute: layout.recompute, dividing: nil)
        guard layout.training else { return plain > 0 ? "use --micro-batch \(plain)" : noMicroBatchFits() }
        var advice: String
        let fitting = sequencesPerStep == nil ? plain : largest(recompute: layout.recompute)
        if let sequencesPerStep, plain > 0 {
            let tokens = sequencesPerStep * T, sequences = formatCount(sequencesPerStep, "sequence")
            if fitting > 0 {
                advice = "use --micro-batch \(fitting) --grad-accum \(sequencesPerStep / fitting) (the same \(formatCount(tokens, "token")) "
                    + "per step; or --micro-batch auto with --total-batch-tokens \(tokens) and no --grad-accum)"
                if plain > fitting {   // (a step of 29 sequences where 27 fit: 1 × 29 keeps it, at a fraction of the speed)
                    advice += "; \(plain) fits, but does not divide the step's \(sequences)"
                }
            } else {   // (every micro-batch that fits would accumulate past the limit)
                advice = "micro-batches up to \(plain) fit, but none of them divides the step's \(sequences) into at most "
                    + "\(Layout.maximumBatchSize): lower --grad-accum or --total-batch-tokens"
            }
        } else if plain > 0 {
            advice = "use --micro-batch \(plain) (or auto) with more gradient accumulation"
        } else {
            advice = noMicroBatchFits()
        }
        if !layout.recompute, case let withRecompute = largest(recompute: true), withRecompute > fitting {
            advice += ", or --recompute (micro-batches up to \(withRecompute))"
        }
        return advice
    }

    /// Why not even one token per micro-batch fits: the weights, gradients and AdamW moments alone; else memory
    /// other programs held when gpt2 opened the device (a desktop, another run), which a smaller model would not
    /// free; else the device's fixed costs beside the model.
    private var adviceWhenNothingFits: String {
        let kinds: [BufferKind] = [.parameters, .gradients, .adamM, .adamV] + (layout.precision == .mixedBFloat16 ? [.parameterCopy] : [])
        let state = kinds.reduce(0) { $0 + layout.bytes(of: $1) }   // (the weights alone for a model that only evaluates)
        let stateName = layout.training ? "the model's weights, gradients and AdamW moments" : "the model's weights"
        if state > device.capacityBytes {
            return "\(stateName) alone (\(formatBytes(state))) do not fit: use a smaller model"
        }
        if let inUse = memoryInUseAtOpenText { return inUse + ": free what other programs hold, or use a smaller model" }
        let fixedCosts: String
        if case .gpu(_, _, let overhead) = device, overhead.source == .estimate {
            fixedCosts = "the CUDA context's \(formatBytes(overhead.bytes)) (an estimate: gpt2 bench --device cuda measures it on this kind "
                + "of device, for the plans after it)"
        } else {
            fixedCosts = "the device's fixed costs"
        }
        return "\(stateName) (\(formatBytes(state))) and \(fixedCosts) leave no room for one "
            + "token: use a smaller model"
    }

    /// On a GPU whose bytes in use were read when gpt2 opened it: how much was in use then, which a refusal names
    /// (other programs' memory is the user's to free); nil elsewhere.
    var memoryInUseAtOpenText: String? {
        guard case .gpu(_, _, let overhead) = device else { return nil }
        let inUse: Int
        switch overhead.source {
        case .inUseAtOpen: inUse = overhead.bytes
        case .inUseAtOpenAndMeasured(_, let bytes): inUse = bytes
        case .estimate, .measured: return nil
        }
        return "\(formatBytes(inUse)) of the device was in use when gpt2 opened it (its own CUDA context, and other "
            + "programs: a desktop, another run)"
    }

    /// The largest micro-batch B whose plan fits, or 0 when even B = 1 does not. Memory grows with B, so a
    /// doubling search brackets it and a binary search finds the boundary: B fits, B + 1 does not. Given
    /// `sequencesPerStep`, B also divides them into at most `Layout.maximumBatchSize` micro-batches, so that an
    /// optimizer step keeps its tokens (0 when no such B fits); given `maximum`, B is no larger (what the data's shards
    /// hold in one batch). `training` false: for a model that only evaluates.
    public static func largestMicroBatch(config: ModelConfig, sequenceLength: Int, recompute: Bool,
                                         device: PlanDevice, dividing sequencesPerStep: Int? = nil, atMost maximum: Int? = nil,
                                         training: Bool = true) -> Int {
        func fits(_ B: Int) -> Bool {
            MemoryPlan(config: config, batchSize: B, sequenceLength: sequenceLength, recompute: recompute, device: device,
                       training: training).fits
        }
        let limit = min(sequencesPerStep ?? .max, maximum ?? .max, Layout.maximumBatchSize)
        guard limit >= 1, fits(1) else { return 0 }
        var low = 1, high = 2   // fits(low); high unknown
        while high <= limit && fits(high) { (low, high) = (high, high * 2) }
        high = min(high, limit + 1)   // !fits(high) or beyond the limit
        while high - low > 1 {
            let middle = (low + high) / 2
            if fits(middle) { low = middle } else { high = middle }
        }
        guard let step = sequencesPerStep else { return low }
        var B = low
        while B > 0 && !(step % B == 0 && step / B <= Layout.maximumBatchSize) { B -= 1 }
        return B
    }

    // MARK: - Rows

    private static func bufferRows(_ layout: Layout) -> [MemoryComponent] {
        let mixed = layout.precision == .mixedBFloat16
        let low = mixed ? "bf16" : "fp32"
        func row(_ label: String, _ key: String, _ bytes: Int) -> MemoryComponent {
            MemoryComponent(label: label, key: key, bytes: bytes, isBuffer: true)
        }
        var rows = [row(mixed ? "parameters (fp32 master)" : "parameters (fp32)", "parameters", layout.bytes(of: .parameters))]
        if mixed { rows.append(row("parameters (bf16 copy)", "parameter_copy", layout.bytes(of: .parameterCopy))) }
        rows += [
            row("gradients (fp32)", "gradients", layout.bytes(of: .gradients)),
            row("AdamW m (fp32)", "adam_m", layout.bytes(of: .adamM)),
            row("AdamW v (fp32)", "adam_v", layout.bytes(of: .adamV)),
        ]
        for kind in ActivationKind.allCases {
            let dtype = kind.buffer == .activationStatistics ? "fp32" : low
            let note: String
            switch kind {
            case .logits:
                let (R, N) = (layout.classifierChunkRows, layout.batchSize * layout.sequenceLength)
                note = R < N ? " (R = \(R) of \(N) rows per chunk)" : " (R = B·T: one chunk)"
            case .attStats: note = " (no T×T matrix kept)"
            default: note = ""
            }
            rows.append(row("activation \(kind.tableName) \(kind.shapeText(layout)) \(dtype)\(note)",
                            "activation.\(kind.tableName)", layout.bytes(of: kind)))
        }
        for kind in ActivationGradientKind.allCases {
            rows.append(row("activation gradient \(kind.tableName) \(kind.shapeText) \(low)",
                            "activation_gradient.\(kind.tableName)", layout.bytes(of: kind)))
        }
        rows.append(row("token ids (2,B,T) int32", "tokens", layout.bytes(of: .tokens)))
        if mixed { rows.append(row("cuBLASLt workspace", "cublaslt_workspace", layout.bytes(of: .workspace))) }
        return rows
    }

    private static func overheadRows(_ layout: Layout, _ device: PlanDevice) -> [MemoryComponent] {
        switch device {
        case .cpu(_, let threads):
            let scratch = CPUScratch.peakBytes(config: layout.config, batchSize: layout.batchSize,
                                               sequenceLength: layout.sequenceLength, threads: threads)
            return [
                MemoryComponent(label: "op scratch (transient)", key: "cpu_op_scratch", bytes: scratch, isBuffer: false),
                MemoryComponent(label: "program, libraries, OpenBLAS buffers (estimate)", key: Self.cpuProcessKey,
                                bytes: Self.cpuProcessEstimate, isBuffer: false),
            ]
        case .gpu(_, _, let overhead):
            let scratch = GPUScratchLayout(layout)
            let buffers = BufferKind.allCases.map { layout.bytes(of: $0) }.filter { $0 > 0 } + scratch.allocationBytes
            let page = cudaAllocationGranularity
            let rounding = buffers.reduce(0) { $0 + ($1 + page - 1) / page * page - $1 }
            return [
                MemoryComponent(label: "backend scratch (norm, column sums, attention delta, token buckets, AdamW table)",
                                key: "gpu_scratch", bytes: scratch.bytes, isBuffer: false),
                MemoryComponent(label: "allocation rounding (2 MiB pages)", key: "allocation_rounding", bytes: rounding, isBuffer: false),
                MemoryComponent(label: overhead.label, key: DeviceOverhead.key, bytes: overhead.bytes, isBuffer: false),
            ]
        }
    }
}

extension ActivationKind {
    /// The name in the table and the JSON keys.
    var tableName: String { String(describing: self) }

    /// The shape as stored (`layerSlices`): per-layer tensors have a leading L unless every layer shares one slice
    /// (with recompute, or without training).
    func shapeText(_ layout: Layout) -> String {
        let slices = layerSlices(layout.config, recompute: layout.recompute, training: layout.training)
        let perLayer = layerSlices(layout.config, recompute: false, training: true) > 1
        let shared = perLayer && slices == 1
        let layered = perLayer && !shared ? "L," : ""
        let inner: String
        switch self {
        case .encoded, .ln1, .atty, .attproj, .residual2, .ln2, .fcproj, .residual3, .lnf: inner = "B,T,C"
        case .ln1Mean, .ln1Rstd, .ln2Mean, .ln2Rstd, .lnfMean, .lnfRstd, .losses: inner = "B,T"
        case .qkv: inner = "B,T,3C"
        case .attStats: inner = "B,NH,T"
        case .fch, .fchGelu: inner = "B,T,4C"
        case .logits: inner = "R,Vp"
        }
        return "(\(layered)\(inner))" + (shared ? " shared" : "")
    }
}

extension ActivationGradientKind {
    var tableName: String { String(describing: self) }
    var shapeText: String {
        switch self {
        case .residual, .lnOut, .atty: return "(B,T,C)"
        case .qkv: return "(B,T,3C)"
        case .fch: return "(B,T,4C)"
        }
    }
}
