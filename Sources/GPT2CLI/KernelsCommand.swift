/// `gpt2 kernels`: compiles every embedded CUDA kernel file with NVRTC for the given architectures, one line
/// per file and architecture, with no GPU needed; CI runs it so that a kernel which does not compile fails the build.

import ArgumentParser
import CUDABackend
import CUDAKernels
import GPT2

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Compile the CUDA kernels with NVRTC (no GPU needed).",
        discussion: """
            NVRTC is found through NVRTC_LIB (a path to libnvrtc.so.*), CUDA_HOME, /usr/local/cuda, NVIDIA's \
            PyPI wheels (nvidia-cuda-nvrtc) in the Python installations gpt2 can see (the README lists them) or \
            the loader's search path; its headers (cuda_bf16.h) through CUDA_INCLUDE, the toolkit's include \
            folder or the wheels (nvidia-cuda-runtime).

            Examples:
              gpt2 kernels --arch sm_80 --arch sm_89 --arch sm_90
              gpt2 kernels --arch sm_90 --ptx          # PTX (compute_90), not a cubin
              gpt2 kernels --arch sm_90 --out kernels  # for GPT2_KERNEL_IMAGES=kernels
              gpt2 kernels --arch sm_89 --resources --only attention
                                      # registers, spills, shared memory per kernel
            """)

    @Option(name: .customLong("arch"), help: "Target architecture, sm_XY (repeatable; default: this machine's GPU).")
    var architectures: [String] = []

    @Flag(help: "Emit PTX for compute_XY instead of a cubin for sm_XY.")
    var ptx = false

    @Flag(help: "Go through the on-disk kernel cache (GPT2_KERNEL_CACHE), as training does.")
    var cache = false

    @Option(help: "Compile only the kernel files whose name contains this text (repeatable: any of them).")
    var only: [String] = []

    @Flag(help: "Under each file, every kernel's registers per thread, spilled bytes, stack frame and static shared memory, as ptxas reports them (cubins only; compiles afresh).")
    var resources = false

    @Option(help: "Write each image into this folder under the name the CUDA backend looks for when GPT2_KERNEL_IMAGES names the folder (for a GPU machine without NVRTC).")
    var out: String?

    func validate() throws {
        // (PTX comes of --ptx, or of a compute_XY architecture)
        let virtual = architectures.first { GPUArchitecture($0)?.isVirtual == true }
        let drop = ptx ? "drop --ptx" : virtual.map { "give sm_\($0.dropFirst("compute_".count)), not \($0)" } ?? ""
        if resources && (ptx || virtual != nil) { throw ValidationError("--resources reports what ptxas made of a cubin: \(drop)") }
        if resources && cache { throw ValidationError("--resources compiles afresh (the cache keeps no report): drop --cache") }
        // (GPT2_KERNEL_IMAGES loads cubins only; a folder of PTX would be written and never read)
        if out != nil && (ptx || virtual != nil) { throw ValidationError("--out writes the cubins GPT2_KERNEL_IMAGES loads: \(drop)") }
        if let out, FileSystem.exists(out) && !FileSystem.isDirectory(out) {
            throw ValidationError("--out \(out) is not a folder (a file is there)")
        }
        // (a mistyped filter compiled nothing and passed: a script checking its kernels would check none)
        if let unmatched = only.first(where: { text in !CUDAKernelSources.all.contains { $0.name.contains(text) } }) {
            throw ValidationError("--only \(unmatched) matches no kernel file; the files are \(CUDAKernelSources.all.map(\.name).joined(separator: ", "))")
        }
    }

    func run() throws {
        if let out, !FileSystem.makeDirectories(out) { throw ValidationError("cannot create --out \(out): \(FileSystem.lastErrorMessage)") }
        let targets = try resolvedArchitectures()
        let paths = CUDALibraryPaths()
        if let problem = paths.includeProblem { throw ValidationError(problem) }   // (every kernel would fail on it)
        let compiler = try NVRTCCompiler(paths: paths)
        for architecture in targets { try compiler.requireSupport(for: architecture) }   // one error, not one per file
        Console.log("NVRTC \(compiler.version) from \(compiler.library.path)")
        let kernelCache = KernelCache()
        var failures: [String] = []
        var spilling: [String] = []
        let fileColumn = (CUDAKernelSources.all.map(\.name.count).max() ?? 0) + 2
        for (file, source) in CUDAKernelSources.all where only.isEmpty || only.contains(where: file.contains) {
            for architecture in targets {
                do {
                    let compiled = cache
                        ? try kernelCache.image(file: file, source: source, compiler: compiler, architecture: architecture)
                        : try compiler.compile(file: file, source: source, for: architecture, reportingResources: resources)
                    if let out {
                        let path = FileSystem.join(out, CUDABackend.prebuiltKernelName(file: file, source: source, architecture: architecture))
                        try AtomicFile.write(path) { try $0.write(compiled.image) }
                    }
                    let timing = compiled.fromCache ? "cached" : formatFixed(compiled.seconds, digits: 2) + " s"
                    print(pad(file, fileColumn) + pad(architecture.description, 12) + pad(architecture.outputKind, 6)
                          + leftPad(String((compiled.image.count + 1023) / 1024) + " KiB", 10) + "  " + timing)
                    for usage in compiled.resources {
                        print("  " + pad(usage.kernel, 34) + leftPad("\(usage.registers) registers", 15)
                              + leftPad("\(usage.spillStoreBytes + usage.spillLoadBytes) B spilled", 14)
                              + leftPad("\(usage.stackFrameBytes) B stack", 12)
                              + leftPad("\(usage.staticSharedBytes) B static shared", 23)
                              + (usage.spills ? "  SPILLS" : ""))
                    }
                    spilling += compiled.resources.filter(\.spills).map { "\($0.kernel) (\(architecture))" }
                    if let problem = compiled.notCached { Console.log("warning: \(file) (\(architecture)) not cached: \(problem)") }
                } catch {
                    print(pad(file, fileColumn) + pad(architecture.description, 12) + "FAILED")
                    Console.log("\(error)")
                    failures.append("\(file) (\(architecture))")
                }
            }
        }
        if !spilling.isEmpty {
            Console.log("warning: \(spilling.count) kernel(s) spill registers to local memory: \(spilling.joined(separator: ", "))")
        }
        if !failures.isEmpty {
            Console.log("\(failures.count) kernel compilation(s) failed: \(failures.joined(separator: ", "))")
            throw ExitCode.failure
        }
    }

    /// The --arch values (switched to compute_XY by --ptx), or the local GPU's architecture.
    private func resolvedArchitectures() throws -> [GPUArchitecture] {
        var names = architectures
        if names.isEmpty {
            switch CUDAAvailability.firstDevice() {
            case .success(let device): names = [device.properties.architecture.description]
            case .failure(let error): throw ValidationError("give --arch sm_XY: there is no GPU to take it from (\(error))")
            }
        }
        return try names.map { name in
            guard var architecture = GPUArchitecture(name) else {
                throw ValidationError("--arch \(name): expected sm_XY (e.g. sm_89) or compute_XY")
            }
            if ptx { architecture.isVirtual = true }
            return architecture
        }
    }
}
