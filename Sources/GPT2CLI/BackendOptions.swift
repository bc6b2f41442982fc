/// The `--device` and `--threads` options shared by every command that runs the model, and the
/// choice of backend they lead to.

import ArgumentParser
import CPUBackend
import CUDABackend
import GPT2

enum Device: String, ExpressibleByArgument, CaseIterable {
    case cpu, cuda, auto
}

struct BackendOptions: ParsableArguments {
    @Option(help: "Where to run: cpu, cuda, or auto (the GPU when one is usable, else the CPU).")
    var device: Device = .auto

    @Option(help: "CPU worker threads (0 = one per core).")
    var threads: Int = 0

    /// The backend to run on; fails with a clear message when the device asked for is unusable.
    func makeBackend() throws -> CPUBackend {
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (all cores) or positive") }
        switch device {
        case .cpu, .auto:
            return CPUBackend(threads: threads)
        case .cuda:
            throw ValidationError("--device cuda: \(CUDAAvailability.problem() ?? "this build has no CUDA backend yet"); use --device cpu (or auto)")
        }
    }

    /// Peak FLOP/s for MFU on the CPU backend, unless overridden.
    func cpuPeak(_ backend: CPUBackend, override: Double?) -> Double {
        override ?? FLOPCount.cpuPeak(cores: backend.threads)
    }
}
