/// `gpt2 info`: what this machine offers gpt2 — CPU cores and the OpenBLAS kernel in use, and for CUDA the
/// driver, device, compute capability, memory and library versions, or for each missing piece why.

import ArgumentParser
import COpenBLAS
import CUDABackend
import CUDAKernels
import GPT2

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the CPU and CUDA devices and libraries gpt2 can use.",
        discussion: """
            One line per piece: CPU cores and OpenBLAS kernel; the CUDA driver, device, compute \
            capability and memory; NVRTC and cuBLASLt versions; the kernel cache; the data mirror and \
            download cache; the calibration file plans read. A piece that \
            is missing says why and what to set (NVRTC_LIB, CUBLASLT_LIB, CUDA_HOME).

            Examples:
              gpt2 info
              NVRTC_LIB=/opt/cuda/lib64/libnvrtc.so.13 gpt2 info
            """)

    func run() throws {
        print("build     \(BuildInfo.version)")
        let online = WorkerThreads.cores
        let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        print("cpu       \(online) logical cores; OpenBLAS kernel \(core), \(openblas_get_num_threads()) threads")

        let paths = CUDALibraryPaths()
        var architecture: GPUArchitecture?
        var openedDriver: CUDADriver?
        switch CUDAAvailability.firstDevice(paths: paths) {
        case .success(let opened):
            let (driver, device) = (opened.driver, opened.properties)
            (architecture, openedDriver) = (device.architecture, driver)
            print("cuda      driver \(driver.versionString)")
            print("device    \(device.ordinal): \(device.name), compute capability \(device.computeCapability.major).\(device.computeCapability.minor) (\(device.architecture)), "
                  + "\(gibibytes(device.totalMemory)) GiB, \(device.multiprocessors) SMs, L2 \(device.l2CacheBytes / 1024 / 1024) MiB, "
                  + "shared memory per block up to \(device.maxSharedMemoryPerBlockOptIn / 1024) KiB")
            if let count = try? driver.deviceCount(), count > 1 { print("          (\(count) devices in all)") }
            // With this process's context open: on an otherwise idle GPU, the context's own overhead.
            print("memory    \(formatBytes(opened.memoryInUseAtOpen)) in use with this process's CUDA context open "
                  + "(other processes included), \(formatBytes(device.totalMemory - opened.memoryInUseAtOpen)) free")
        case .failure(let error):
            print("cuda      unavailable: \(error)")
        }
        do {
            let nvrtc = try NVRTCLibrary(paths: paths, driverVersion: openedDriver?.version)
            let headers = paths.includeProblem ?? "headers \(paths.includeFolders.first { FileSystem.isFile($0 + "/cuda_bf16.h") } ?? "")"
            print("nvrtc     \(nvrtc.version.major).\(nvrtc.version.minor) from \(nvrtc.path); \(headers)")
            if let names = nvrtc.supportedArchitectureNames { print("          compiles for \(names)") }
            printPassedOver(nvrtc.passedOver, driver: openedDriver)
            if let driver = openedDriver, !nvrtc.runs(on: driver) {
                // (tried all the same: a run that the driver refuses says what to install)
                print("          its CUDA \(nvrtc.version.major) is newer than this driver's \(driver.versionString), whose loading its kernels "
                      + "NVIDIA does not promise")
            }
        } catch {
            print("nvrtc     unavailable: \(error)")
        }
        do {
            let cublasLt = try CUBLASLtLibrary(paths: paths, driverVersion: openedDriver?.version)
            print("cublasLt  \(cublasLt.versionString) from \(cublasLt.path)")
            printPassedOver(cublasLt.passedOver, driver: openedDriver)
            if let driver = openedDriver, let problem = cublasLt.incompatibility(with: driver) {
                print("          unusable: \(problem)")
            }
        } catch {
            print("cublasLt  unavailable: \(error)")
        }
        print("kernels   cache \(KernelCache(paths: paths).folder)")
        if let images = FileSystem.environmentPath("GPT2_KERNEL_IMAGES") {
            // (used instead of NVRTC: say whether they serve this device, before a run finds out)
            let present = architecture.map { architecture in
                CUDAKernelSources.all.filter { file, source in
                    FileSystem.isFile(FileSystem.join(images, CUDABackend.prebuiltKernelName(file: file, source: source, architecture: architecture)))
                }.count
            }
            print("          prebuilt images from \(images) (GPT2_KERNEL_IMAGES, used instead of NVRTC)"
                  + (present.map { "; \($0) of \(CUDAKernelSources.all.count) kernel files for this device's \(architecture!) are there" } ?? ""))
            if let problem = CUDABackend.prebuiltKernelFolderProblem(images, architecture: architecture) { print("          " + problem) }
        }
        // (where the data and the plan's measurements come from: the kernel cache above is not where downloads go)
        let downloads = Downloader.fromEnvironment()
        print("data      " + (downloads.mirror.map { "mirror \($0) (GPT2_DATA_MIRROR)" } ?? "no mirror (GPT2_DATA_MIRROR)")
              + "; downloads cached in \(downloads.cacheDirectory) (GPT2_CACHE_DIR)")
        print("plan      calibration \(CalibrationFile.defaultPath()) (GPT2_CALIBRATION)")
    }

    /// The libraries found before the one in use that are of a CUDA newer than `driver` runs, one line each.
    private func printPassedOver(_ paths: [String], driver: CUDADriver?) {
        guard let driver else { return }   // (nothing is passed over without one: only its version rules a library out)
        for path in paths {
            print("          passed over \(path): its CUDA is newer than this driver's \(driver.versionString)")
        }
    }

    private func gibibytes(_ bytes: Int) -> String { formatFixed(Double(bytes) / Double(1 << 30), digits: 1) }
}
