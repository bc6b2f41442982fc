/// The `--device` and `--threads` options shared by every command that runs the model, the backend they
/// lead to (CPU or CUDA, as `any Backend`: commands open it into a generic function), and its peak FLOP/s.

import ArgumentParser
import CPUBackend
import CUDABackend
import GPT2

enum Device: String, ExpressibleByArgument, CaseIterable {
    case cpu, cuda, auto
}

struct BackendOptions: ParsableArguments {
    @Option(help: "Where to run: cpu, cuda, or auto (the CPU until the CUDA backend is validated on a GPU).")
    var device: Device = .auto

    @Option(help: "CPU worker threads (0 = one per core; the CPU backend only). (default: 0)")
    var threads: Int?

    /// `--threads`, 0 (one per core) when not given.
    private var threadSetting: Int { threads ?? 0 }

    /// Refuses a `--threads` out of range: `makeBackend` does, and a command that reads its files first calls it before them.
    func requireValidThreads() throws { try WorkerThreads.require(threadSetting) }

    /// The backend to run on; fails with a clear message when the device asked for is unusable.
    /// Commands pass it to a generic function (`func run<Ops: Backend>(on: Ops)`), which opens the existential.
    func makeBackend() throws -> any Backend {
        try requireValidThreads()
        switch device {
        case .cpu:
            return CPUBackend(threads: threadSetting)
        case .cuda:
            if let problem = CUDAAvailability.problem() {
                throw ValidationError("--device cuda: \(problem); or run on the CPU with --device cpu")
            }
            do {
                return try makeCUDA()
            } catch {
                throw ValidationError("--device cuda: \(error)")
            }
        case .auto:
            // Until `gpt2 selftest cuda` has passed on a real GPU, auto keeps to the validated CPU backend and
            // says so; the CUDA backend is one flag away.
            if CUDAAvailability.problem() == nil {
                Console.log("note: a CUDA device is present, but the CUDA backend has not been validated on a GPU yet; "
                    + "running on the CPU (pass --device cuda to use the GPU)")
            }
            return CPUBackend(threads: threadSetting)
        }
    }

    /// The CUDA backend, where `CUDAAvailability` found a driver; its errors say what failed, not which option chose it.
    func makeCUDA() throws -> any Backend {
        if threads != nil { Console.log("note: --threads sets the CPU backend's worker threads; it has no effect with --device cuda") }
        return try Self.makeCUDABackend()
    }

    static func makeCUDABackend() throws -> CUDABackend {
        let backend = try CUDABackend(log: { Console.log($0) })
        let properties = backend.properties
        Console.log("cuda      \(properties.name) (\(properties.architecture)), driver \(backend.device.driver.versionString)")
        let diagnostics = CUDABackend.diagnosticSettings
        if !diagnostics.isEmpty {   // (set for a diagnosis, and easily left set: each makes every step slower)
            Console.log("note: diagnostic settings in effect: \(diagnostics.joined(separator: ", ")); every step is slower than without")
        }
        return backend
    }

    /// What the planner plans for on this backend: the machine's available memory for the CPU; for a GPU, the
    /// device's memory, its table entry when listed, and its overhead as `gpt2 bench` last measured it.
    func planDevice(_ backend: any Backend) throws -> PlanDevice {
        guard let cuda = backend as? CUDABackend else {
            let threads = threadCount(backend)
            return .cpu(availableBytes: Self.cpuMemory(threads: threads), threads: threads)
        }
        let spec = Self.specification(cuda)
        return .gpu(spec, totalBytes: cuda.properties.totalMemory, inUseAtOpen: cuda.device.memoryInUseAtOpen,
                    calibration: CalibrationFile.forPlanning())
    }

    /// Throws, before anything is allocated, when a model of `config` scoring `batch` rows of `seq` tokens at a time
    /// (inference: eval, HellaSwag) does not fit the backend's memory: `work` says what it would do, `option` is the
    /// flag that sets the batch, `whenNoneFits` what to say where no batch fits (by default the plan's advice). On a GPU
    /// where none fits, the CPU is offered: the model is the checkpoint's, and the host's memory may hold it.
    func requireInferenceFits(_ config: ModelConfig, batch: Int, seq: Int, on backend: any Backend, work: String,
                              option: String, whenNoneFits: String? = nil) throws {
        let device = try planDevice(backend)
        let memory = MemoryPlan(config: config, batchSize: batch, sequenceLength: seq, recompute: false, device: device, training: false)
        guard !memory.fits else { return }
        let largest = MemoryPlan.largestMicroBatch(config: config, sequenceLength: seq, recompute: false, device: device, training: false)
        let onTheCPU = backend.name == "cpu" ? "" : "; or run it on the CPU with --device cpu, whose memory may hold it"
        let advice = largest > 0 ? "use \(option) \(largest)" : (whenNoneFits ?? memory.advice() ?? "") + onTheCPU
        throw ConfigError("\(work) \(memory.verdict); \(advice)")
    }

    /// What a CPU run on `threads` threads can allocate (`SystemMemory.usable`); where a limit on this process (ulimit,
    /// a cgroup) leaves less than the host has free, a note says so: the plan's "of N GiB on CPU" is then not the
    /// machine's. (Each command plans its device once.)
    static func cpuMemory(threads: Int) -> Int {
        if let note = ProcessMemoryLimits.addressSpaceNote() { Console.log(note) }
        let usable = SystemMemory.usable(threads: threads)
        if let limit = usable.limit {
            Console.log("note: \(formatBytes(usable.bytes)) of memory is left to gpt2 by \(limit), less than the machine has free; "
                        + "the memory plans use that")
        }
        return usable.bytes
    }

    /// The GPU table's row for the backend's device (an unlisted entry, peak 0, when it has none); its `id` is
    /// the device's name in the calibration file.
    static func specification(_ cuda: CUDABackend) -> GPUSpecification {
        GPUSpecification.describing(deviceName: cuda.properties.name, totalMemory: cuda.properties.totalMemory)
    }

    /// Worker threads the backend uses on the CPU (0 for the GPU backend: recorded with the run only).
    func threadCount(_ backend: any Backend) -> Int { (backend as? CPUBackend)?.threads ?? 0 }

    /// Peak FLOP/s for MFU: `override`, else the CPU's measured per-core peak, else the GPU's dense BF16 peak
    /// from the planner's GPU table, else (a GPU not in the table) the peak a `gpt2 bench --peak-flops` recorded for
    /// it in the calibration file; nil when there is none.
    func peakFLOPs(_ backend: any Backend, override: Double?) -> Double? {
        if let override { return override }
        if let cpu = backend as? CPUBackend { return FLOPCount.cpuPeak(threads: cpu.threads) }
        guard let cuda = backend as? CUDABackend else { return nil }
        let spec = Self.specification(cuda)
        return spec.listedBF16Peak ?? CalibrationFile.forPlanning().recordedPeak(device: spec.id)
    }
}

/// Reads `--peak-flops`: a number of FLOP/s in `FLOPCount.plausiblePeaks` (an MFU against 0 would be infinite).
func parsePeakFLOPs(_ text: String) throws -> Double {
    guard let value = DecimalNumber.parse(text), FLOPCount.plausiblePeaks.contains(value) else {
        throw ValidationError("expected a positive number of FLOP/s from 1e6 to 1e21, e.g. 989e12")
    }
    return value
}
