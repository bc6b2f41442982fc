/// Finding and loading CUDA, on the CUDA emulator: the variables that name the driver, NVRTC, cuBLASLt and the
/// CUDA headers, and what each says when it is wrong; prebuilt kernel images and the kernel cache, whole, damaged or
/// cut short; and the diagnostic and emulator settings, refused when misspelled.

import CUDAKernels
import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite(.enabled(if: EmulatedCUDA.available, "needs libCUDAEmulator.so and NVRTC (NVRTC_LIB, CUDA_INCLUDE)"))
struct CUDALibrarySetupTests {
    /// One training step of the tiny model on the (emulated) GPU: the shortest run that loads every kernel.
    private static let oneStepBench = ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16",
                                       "--steps", "1", "--warmup", "0", "--no-record", "--peak-flops", "1e12"]

    /// Writes every kernel file's image for each of `architectures` with `gpt2 kernels --out`, into a folder of the
    /// architecture's name under `root`.
    private static func writeKernelImages(for architectures: [String], into root: String) throws {
        for architecture in architectures {
            let made = try runGPT2(arguments: ["kernels", "--arch", architecture, "--out", root + "/" + architecture])
            try #require(made.status == 0, "\(made.stderrText)")
        }
    }

    /// Without a driver, a command that takes --device says to run with --device cpu, and those that have no such
    /// option (kernels, selftest cuda) do not offer it.
    @Test func onlyCommandsWithADeviceOptionOfferTheCPU() throws {
        let noDriver = EmulatedCUDA.environment.merging(["CUDA_DRIVER_LIB": "/nonexistent/libcuda.so.1"]) { $1 }
        let bench = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--no-record"], environment: noDriver)
        expectOneLineError(bench, mentioning: "CUDA_DRIVER_LIB names it: point CUDA_DRIVER_LIB at the driver's libcuda.so.1, or unset it "
                                              + "to let gpt2 search for one; or run on the CPU with --device cpu")
        for arguments in [["kernels"], ["selftest", "cuda"]] {
            let result = try runGPT2(arguments: arguments, environment: noDriver)
            expectOneLineError(result, mentioning: "CUDA_DRIVER_LIB names it")
            #expect(!result.stderrText.contains("--device"), "\(arguments): \(result.stderrText)")
        }
    }

    /// Where pip puts NVRTC, cuBLASLt and NVRTC's headers below `site-packages/nvidia`, and the sonames there: CUDA 13's
    /// wheels share one folder, CUDA 12's (the -cu12 packages) have one each.
    struct WheelLayout: Sendable, CustomTestStringConvertible {
        let nvrtc: String, cublasLt: String, include: String, soname: String
        var testDescription: String { "CUDA \(soname)" }

        static let cuda13 = WheelLayout(nvrtc: "cu13/lib", cublasLt: "cu13/lib", include: "cu13/include", soname: "13")
        static let cuda12 = WheelLayout(nvrtc: "cuda_nvrtc/lib", cublasLt: "cublas/lib", include: "cuda_runtime/include", soname: "12")
    }

    /// With no variable naming them and no toolkit, NVRTC, its headers and cuBLASLt are found in the CUDA 13 or CUDA 12
    /// wheels of the active Python environment (here a VIRTUAL_ENV laid out as pip lays it out, its files links to this
    /// machine's NVRTC and headers and to the emulator as cuBLASLt): info names them and a run compiles its kernels with
    /// them. Without such an environment, the message says how to make one. (HOME is the test's folder, as ~/.local counts too,
    /// and PATH holds no python3, whose installation counts as well.)
    @Test(arguments: [WheelLayout.cuda13, .cuda12])
    func theCUDAWheelsOfTheActivePythonEnvironmentAreFound(layout: WheelLayout) throws {
        let root = try TestPaths.temporaryDirectory("cli-cuda-wheels").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let wheels = root + "/venv/lib/python3.12/site-packages/nvidia/"
        let process = ProcessInfo.processInfo.environment, manager = FileManager.default
        let nvrtc = try #require(process["NVRTC_LIB"]), include = try #require(process["CUDA_INCLUDE"])
        for folder in [layout.nvrtc, layout.cublasLt, layout.include] {
            try manager.createDirectory(atPath: wheels + folder, withIntermediateDirectories: true)
        }
        try manager.removeItem(atPath: wheels + layout.include)   // (a link, below)
        let nvrtcFolder = (nvrtc as NSString).deletingLastPathComponent
        for name in try manager.contentsOfDirectory(atPath: nvrtcFolder) where name.hasPrefix("libnvrtc-builtins") {   // (beside NVRTC)
            try manager.createSymbolicLink(atPath: wheels + layout.nvrtc + "/" + name, withDestinationPath: nvrtcFolder + "/" + name)
        }
        let nvrtcPath = wheels + layout.nvrtc + "/libnvrtc.so." + layout.soname, cublasLtPath = wheels + layout.cublasLt + "/libcublasLt.so." + layout.soname
        try manager.createSymbolicLink(atPath: nvrtcPath, withDestinationPath: nvrtc)
        try manager.createSymbolicLink(atPath: cublasLtPath, withDestinationPath: EmulatedCUDA.library)
        try manager.createSymbolicLink(atPath: wheels + layout.include, withDestinationPath: include)
        let unset = ["NVRTC_LIB": "", "CUDA_INCLUDE": "", "CUBLASLT_LIB": "", "CUDA_HOME": root + "/no-toolkit", "CONDA_PREFIX": "",
                     "HOME": root, "PATH": root + "/no-python", "GPT2_KERNEL_CACHE": "~/cache"]   // (~: HOME, as a shell would have it)
        let environment = EmulatedCUDA.environment.merging(unset.merging(["VIRTUAL_ENV": "~/venv"]) { $1 }) { $1 }
        let info = try runGPT2(arguments: ["info"], environment: environment)
        for found in [nvrtcPath, "headers \(wheels + layout.include)", "cublasLt  13.0.0 from \(cublasLtPath)", "kernels   cache \(root)/cache"] {
            #expect(info.stdoutText.contains(found), "\(found): \(info.stdoutText)")
        }
        let bench = try runGPT2(arguments: Self.oneStepBench, environment: environment)
        #expect(bench.status == 0 && bench.stderrText.contains("compiled in"), "\(bench.stderrText)")

        let none = try runGPT2(arguments: Self.oneStepBench,
                               environment: EmulatedCUDA.environment.merging(unset.merging(["VIRTUAL_ENV": root + "/empty"]) { $1 }) { $1 })
        expectOneLineError(none, mentioning: "run `pip install nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cublas` (CUDA 13) in the active "
                                             + "Python environment or with --user, where gpt2 finds them (with a driver older than CUDA 13's: "
                                             + "`pip install nvidia-cuda-nvrtc-cu12 nvidia-cuda-runtime-cu12 nvidia-cublas-cu12`)")
    }

    /// A CUDA 12 NVRTC: the one .ci/run unpacks into .build (scripts/ci-cuda-kernels.sh), when it is there.
    static let cuda12NVRTC = FileSystem.paths(matching: TestPaths.repositoryRoot.path + "/.build/vendor-cuda-12*/nvidia/cuda_nvrtc/lib/libnvrtc.so.12").first

    /// Where CUDA 13's and CUDA 12's NVRTC are both found, a driver of CUDA 12.x gets CUDA 12's (found second) and a
    /// driver of CUDA 13 CUDA 13's (found first), as info shows, naming the one passed over (the emulator as a driver of
    /// CUDA 12.4 or 13.0).
    @Test(.enabled(if: cuda12NVRTC != nil, "needs CUDA 12's NVRTC in .build/vendor-cuda-12*, which .ci/run unpacks"))
    func theNVRTCOfADriversCUDAIsPreferred() throws {
        let root = try TestPaths.temporaryDirectory("cli-nvrtc-choice").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let wheels = root + "/venv/lib/python3.12/site-packages/nvidia/", manager = FileManager.default
        let nvrtc13 = try #require(ProcessInfo.processInfo.environment["NVRTC_LIB"]), nvrtc12 = try #require(Self.cuda12NVRTC)
        for (folder, nvrtc) in [("cu13/lib", nvrtc13), ("cuda_nvrtc/lib", nvrtc12)] {
            try manager.createDirectory(atPath: wheels + folder, withIntermediateDirectories: true)
            let source = (nvrtc as NSString).deletingLastPathComponent
            for name in try manager.contentsOfDirectory(atPath: source) where name.hasPrefix("libnvrtc") {
                try manager.createSymbolicLink(atPath: wheels + folder + "/" + name, withDestinationPath: source + "/" + name)
            }
        }
        func info(driver: String) throws -> String {
            let environment = EmulatedCUDA.environment.merging(["NVRTC_LIB": "", "CUDA_HOME": root + "/no-toolkit", "CONDA_PREFIX": "",
                                                                "HOME": root, "PATH": root + "/no-python", "VIRTUAL_ENV": root + "/venv",
                                                                "GPT2_CUDA_EMULATOR_DRIVER_VERSION": driver]) { $1 }
            return try runGPT2(arguments: ["info"], environment: environment).stdoutText
        }
        let old = try info(driver: "12040"), new = try info(driver: "13000")
        #expect(old.contains("nvrtc     12.") && old.contains(" from \(wheels)cuda_nvrtc/lib/libnvrtc.so.12"), "\(old)")
        #expect(old.contains("passed over \(wheels)cu13/lib/libnvrtc.so.13: its CUDA is newer than this driver's 12.4\n"), "\(old)")
        #expect(new.contains("nvrtc     13.") && new.contains(" from \(wheels)cu13/lib/libnvrtc.so.13"), "\(new)")
        #expect(!new.contains("passed over"), "\(new)")
    }

    /// A driver older than cuBLASLt's CUDA (the emulator as a driver of CUDA 12.4, its cuBLASLt 13.0's) is named as the
    /// problem, with the driver that runs it, by a run (before its kernels compile) and by info; on a real GPU,
    /// cublasLtCreate said only CUBLAS_STATUS_NOT_INITIALIZED. A later minor version of the same CUDA runs it.
    @Test func aDriverOlderThanTheLibrariesIsNamed() throws {
        let cache = try TestPaths.temporaryDirectory("cli-old-driver").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        func environment(_ version: String) -> [String: String] {
            EmulatedCUDA.environment.merging(["GPT2_CUDA_EMULATOR_DRIVER_VERSION": version, "GPT2_KERNEL_CACHE": cache]) { $1 }
        }
        // (CUBLASLT_LIB names the emulator, and a named library is the only one tried: the advice is the variable's, where
        // it said to install CUDA 12's, which gpt2 would not have looked for)
        let expected = "cuBLASLt \(EmulatedCUDA.library) is CUDA 13's, and this NVIDIA driver runs CUDA up to 12.4: update the driver "
            + "to one for CUDA 13 (580.65 or later), or point CUBLASLT_LIB at CUDA 12's cuBLASLt (`pip install nvidia-cuda-nvrtc-cu12 "
            + "nvidia-cuda-runtime-cu12 nvidia-cublas-cu12` installs one), or unset it, and gpt2 looks for one this driver runs"
        expectOneLineError(try runGPT2(arguments: Self.oneStepBench, environment: environment("12040")), mentioning: expected)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).isEmpty, "no kernel was compiled")
        let info = try runGPT2(arguments: ["info"], environment: environment("12040"))
        #expect(info.stdoutText.contains("cuda      driver 12.4\n") && info.stdoutText.contains("unusable: " + expected), "\(info.stdoutText)")
        let older = try runGPT2(arguments: Self.oneStepBench, environment: environment("11080"))   // no CUDA gpt2 looks for runs there
        expectOneLineError(older, mentioning: "runs CUDA up to 11.8: update the driver to one for CUDA 13 (580.65 or later)")
        #expect(!older.stderrText.contains("CUDA 12's libraries"), "\(older.stderrText)")
        let later = try runGPT2(arguments: Self.oneStepBench, environment: environment("13020"))
        #expect(later.status == 0, "\(later.stderrText)")
    }

    /// A driver that refuses kernels NVRTC of a newer CUDA compiled (the emulator as a driver of CUDA 12.4 with a cuBLASLt
    /// of 12.4, refusing CUDA 13's cubins as NVIDIA's compatibility rules allow) is named as the cause, with an NVRTC of
    /// the driver's CUDA to install, rather than the driver's bare "unsupported toolchain"; the second run, whose images
    /// come from the kernel cache, says the same without compiling them again, and info flags that NVRTC beforehand.
    /// With CUDA 12.4's NVRTC, they load and run.
    @Test func kernelsADriverRefusesFromANewerNVRTCAreExplained() throws {
        let cache = try TestPaths.temporaryDirectory("cli-newer-nvrtc").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let environment = EmulatedCUDA.environment.merging(["GPT2_CUDA_EMULATOR_DRIVER_VERSION": "12040", "GPT2_KERNEL_CACHE": cache,
                                                            "GPT2_CUDA_EMULATOR_CUBLASLT_VERSION": "120402"]) { $1 }
        let nvrtc = try #require(ProcessInfo.processInfo.environment["NVRTC_LIB"])
        let expected = "the NVIDIA driver refused the kernels of adamw.cu (CUDA driver call cuModuleLoadData(adamw.cu) failed: the provided "
            + "PTX was compiled with an unsupported toolchain."
        let advice = "NVRTC 13.0 (\(nvrtc)) compiled them, and this driver runs CUDA up to 12.4: update the driver to one for CUDA 13.0 "
            + "or later, or give gpt2 an NVRTC of CUDA 12.4 or older: `pip install --target DIR nvidia-cuda-nvrtc-cu12==12.4.* "
            + "nvidia-cuda-runtime-cu12==12.4.*`, then NVRTC_LIB=DIR/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 and "
            + "CUDA_INCLUDE=DIR/nvidia/cuda_runtime/include\n"
        let first = try runGPT2(arguments: Self.oneStepBench, environment: environment)
        #expect(first.status == 1 && first.stderrText.contains("Error: --device cuda: " + expected) && first.stderrText.hasSuffix(advice),
                "\(first.stderrText)")
        let cached = try runGPT2(arguments: Self.oneStepBench, environment: environment)
        expectOneLineError(cached, mentioning: expected)
        #expect(cached.stderrText.hasSuffix(advice), "\(cached.stderrText)")
        let info = try runGPT2(arguments: ["info"], environment: environment).stdoutText
        #expect(info.contains("its CUDA 13 is newer than this driver's 12.4, whose loading its kernels NVIDIA does not promise\n"), "\(info)")
        if let nvrtc12 = Self.cuda12NVRTC {
            let include = (nvrtc12 as NSString).deletingLastPathComponent + "/../../cuda_runtime/include"
            let run = try runGPT2(arguments: Self.oneStepBench, environment: environment.merging(["NVRTC_LIB": nvrtc12, "CUDA_INCLUDE": include]) { $1 })
            #expect(run.status == 0, "\(run.stderrText)")
        }
    }

    /// A CUDA_INCLUDE without cuda_bf16.h is named as the problem by info, kernels and a run, instead of NVRTC's
    /// "cannot open source file" flattened onto one line for every kernel.
    @Test func aCUDAIncludeWithoutTheHeadersIsNamed() throws {
        let environment = EmulatedCUDA.environment.merging(["CUDA_INCLUDE": "/nonexistent"]) { $1 }
        let problem = "CUDA_INCLUDE=/nonexistent holds no cuda_bf16.h"
        let info = try runGPT2(arguments: ["info"], environment: environment)
        #expect(info.stdoutText.contains(problem), "\(info.stdoutText)")
        expectOneLineError(try runGPT2(arguments: ["kernels", "--arch", "sm_90"], environment: environment), mentioning: problem)
        let cache = try TestPaths.temporaryDirectory("cli-no-headers").path   // (an empty cache: the kernels must compile)
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let bench = try runGPT2(arguments: Self.oneStepBench, environment: environment.merging(["GPT2_KERNEL_CACHE": cache]) { $1 })
        expectOneLineError(bench, mentioning: problem)
    }

    /// A machine without NVRTC runs on images `gpt2 kernels --out` made elsewhere (what a GPU session falls back to):
    /// info says whether they serve the device, a run loads them, and images for another architecture are refused
    /// with the command that makes the right ones.
    @Test func prebuiltKernelImagesServeAMachineWithoutNVRTC() throws {
        let root = try TestPaths.temporaryDirectory("cli-kernel-images").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.writeKernelImages(for: ["sm_90", "sm_89"], into: root)
        func environment(_ images: String) -> [String: String] {
            EmulatedCUDA.environment.merging(["GPT2_KERNEL_IMAGES": root + "/" + images, "NVRTC_LIB": "/nonexistent/libnvrtc.so.13",
                                              "GPT2_KERNEL_CACHE": root + "/empty-cache"]) { $1 }
        }
        let files = CUDAKernelSources.all.count
        let info = try runGPT2(arguments: ["info"], environment: environment("sm_90"))
        #expect(info.stdoutText.contains("\(files) of \(files) kernel files for this device's sm_90 are there"), "\(info.stdoutText)")
        let run = try runGPT2(arguments: Self.oneStepBench, environment: environment("sm_90"))
        #expect(run.status == 0 && run.stderrText.contains("kernels   \(files) of \(files) files prebuilt in \(root)/sm_90 for sm_90"),
                "\(run.stderrText)")
        let wrong = try runGPT2(arguments: Self.oneStepBench, environment: environment("sm_89"))
        expectOneLineError(wrong, mentioning: "gpt2 kernels --arch sm_90 --out")
        #expect(try runGPT2(arguments: ["info"], environment: environment("sm_89")).stdoutText.contains("0 of \(files) kernel files"))
        // a file, or nothing, where the folder should be is named as that (the advice was `--out FILE`, which kernels refuses)
        try Data().write(to: URL(fileURLWithPath: root + "/a-file"))
        for (name, what) in [("a-file", "a file"), ("missing", "not there")] {
            let problem = "GPT2_KERNEL_IMAGES=\(root)/\(name) is \(what), not a folder of kernel images: write one with "
                + "`gpt2 kernels --arch sm_90 --out FOLDER` and point it there"
            expectOneLineError(try runGPT2(arguments: Self.oneStepBench, environment: environment(name)), mentioning: problem)
            #expect(try runGPT2(arguments: ["info"], environment: environment(name)).stdoutText.contains(problem + "\n"))
        }
        // images a driver refuses (CUDA 13's NVRTC made them; the driver runs CUDA 12.4) are named, with how to write them anew
        let older = environment("sm_90").merging(["GPT2_CUDA_EMULATOR_DRIVER_VERSION": "12040", "GPT2_CUDA_EMULATOR_CUBLASLT_VERSION": "120402"]) { $1 }
        let refused = try runGPT2(arguments: Self.oneStepBench, environment: older)
        expectOneLineError(refused, mentioning: "the driver refused \(root)/sm_90/adamw-sm_90-")
        #expect(refused.stderrText.contains("the provided PTX was compiled with an unsupported toolchain.")
                && refused.stderrText.hasSuffix("write the images again with `gpt2 kernels --arch sm_90 --out \(root)/sm_90`, with an NVRTC of "
                                                + "CUDA 12.4 or older (what this driver runs) and from this same binary\n"), "\(refused.stderrText)")
    }

    /// Without NVRTC, a run names both ways to its kernels: an NVRTC to compile them, or images made elsewhere.
    @Test func aRunWithoutNVRTCOffersPrebuiltImages() throws {
        let run = try runGPT2(arguments: Self.oneStepBench,
                              environment: EmulatedCUDA.environment.merging(["NVRTC_LIB": "/nonexistent/libnvrtc.so.13"]) { $1 })
        expectOneLineError(run, mentioning: "NVRTC_LIB names it")
        #expect(run.stderrText.contains("or set GPT2_KERNEL_IMAGES to a folder written by `gpt2 kernels --out`"), "\(run.stderrText)")
    }

    /// A missing cuBLASLt is reported before the kernels compile (seconds on a GPU machine, wasted on a run that cannot start).
    @Test func aMissingCuBLASLtIsReportedBeforeTheKernelsCompile() throws {
        let cache = try TestPaths.temporaryDirectory("cli-no-cublaslt").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let run = try runGPT2(arguments: Self.oneStepBench,
                              environment: EmulatedCUDA.environment.merging(["CUBLASLT_LIB": "/nonexistent/libcublasLt.so.13",
                                                                             "GPT2_KERNEL_CACHE": cache]) { $1 })
        expectOneLineError(run, mentioning: "cuBLASLt (libcublasLt) not found")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).isEmpty, "no kernel was compiled")
    }

    /// A cubin runs on its own major architecture at the same or a later minor one, as on a GPU: sm_80 images serve an
    /// sm_89 device, and sm_89 images are refused by an sm_80 one (the emulator checks the cubin's architecture as the
    /// driver does). The images are given under the device's file names, as a mislabelled folder would hold them.
    @Test func cubinsRunOnTheSameOrALaterMinorArchitectureOnly() throws {
        let root = try TestPaths.temporaryDirectory("cli-kernel-minor").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.writeKernelImages(for: ["sm_80", "sm_89"], into: root)
        /// A folder holding `content`'s images under the file names of `names`' (matched by the kernel file's stem).
        func relabelled(_ content: String, as names: String) throws -> String {
            let folder = root + "/\(content)-as-\(names)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let images = try FileManager.default.contentsOfDirectory(atPath: root + "/" + content)
            for name in try FileManager.default.contentsOfDirectory(atPath: root + "/" + names) {
                let stem = String(name[..<name.range(of: "-\(names)-")!.lowerBound])
                let image = try #require(images.first { $0.hasPrefix(stem + "-\(content)-") })
                try FileManager.default.copyItem(atPath: root + "/\(content)/" + image, toPath: folder + "/" + name)
            }
            return folder
        }
        func bench(_ images: String, on architecture: String) throws -> CommandResult {
            try runGPT2(arguments: Self.oneStepBench,
                        environment: EmulatedCUDA.environment.merging(["GPT2_KERNEL_IMAGES": images, "GPT2_CUDA_EMULATOR_ARCH": architecture,
                                                                       "GPT2_KERNEL_CACHE": root + "/empty-cache"]) { $1 })
        }
        let older = try bench(try relabelled("sm_80", as: "sm_89"), on: "sm_89")
        #expect(older.status == 0, "\(older.stderrText)")
        let newer = try bench(try relabelled("sm_89", as: "sm_80"), on: "sm_80")
        #expect(newer.status == 1 && newer.stderrText.contains("no kernel image is available for execution on the device")
                && newer.stderrText.contains("built for sm_89, which does not run on sm_80"), "\(newer.stderrText)")
    }

    /// A library variable pointing at another CUDA library says so ("it is probably too old" sent users after a
    /// newer driver).
    @Test func aLibraryVariablePointingElsewhereSaysSo() throws {
        let nvrtc = try #require(ProcessInfo.processInfo.environment["NVRTC_LIB"])
        let info = try runGPT2(arguments: ["info"], environment: EmulatedCUDA.environment.merging(["CUDA_DRIVER_LIB": nvrtc]) { $1 })
        #expect(info.stdoutText.contains("opened as the CUDA driver (libcuda), has no function cuGetErrorString: it is another library"),
                "\(info.stdoutText)")
    }

    /// A library variable naming no library (a mistyped path, a folder) says that the variable is what to fix, not that the
    /// NVIDIA driver or a toolkit is to be installed.
    @Test func aLibraryVariableNamingNoLibrarySaysSo() throws {
        let info = try runGPT2(arguments: ["info"], environment: EmulatedCUDA.environment.merging(
            ["CUDA_DRIVER_LIB": "/nonexistent/libcuda.so.1", "NVRTC_LIB": "/nonexistent/libnvrtc.so.13", "CUBLASLT_LIB": "/tmp"]) { $1 })
        for (label, variable) in [("cuda", "CUDA_DRIVER_LIB"), ("nvrtc", "NVRTC_LIB"), ("cublasLt", "CUBLASLT_LIB")] {
            let line = try #require(info.stdoutText.split(separator: "\n").first { $0.hasPrefix(label + " ") }, "\(info.stdoutText)")
            #expect(line.contains("unavailable") && line.contains("\(variable) names it: point \(variable) at ")
                    && !line.contains("Install the NVIDIA driver") && !line.contains("Set \(variable)"), "\(line)")
        }
    }

    /// A damaged image in the kernel cache is compiled again rather than failing every run ("device kernel image is
    /// invalid", naming neither the file nor the cache) or loading changed machine code: one overwritten with other bytes
    /// or cut short (a copy that stopped part-way) does not match the checksum its entry carries, and is compiled again
    /// without reaching the driver (which, taking no length, read a cut cubin past its end); one whose checksum matches
    /// but that the driver refuses is compiled again too.
    @Test(arguments: ["other bytes", "cut short", "refused"]) func aDamagedCachedKernelIsCompiledAgain(damage: String) throws {
        let cache = try TestPaths.temporaryDirectory("cli-kernel-cache").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let environment = EmulatedCUDA.environment.merging(["GPT2_KERNEL_CACHE": cache]) { $1 }
        try #require(try runGPT2(arguments: Self.oneStepBench, environment: environment).status == 0)
        let adamw = cache + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: cache).first { $0.hasPrefix("adamw-") }))
        let other = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let damaged = switch damage {
        case "cut short": Data(try Data(contentsOf: URL(fileURLWithPath: adamw)).prefix(100))
        case "refused": Data(other + withUnsafeBytes(of: XXHash64.digest(of: other).littleEndian) { Array($0) })
        default: Data(other)
        }
        try damaged.write(to: URL(fileURLWithPath: adamw))
        let again = try runGPT2(arguments: Self.oneStepBench, environment: environment)
        let said = damage == "refused" ? "adamw.cu: the cached image was refused" : "(the cached image did not match its checksum)"
        #expect(again.status == 0 && again.stderrText.contains(said), "\(again.stderrText)")
        // the other files, loaded from the cache as they were, are one line; the refused one is not among them
        let files = CUDAKernelSources.all.count
        #expect(again.stderrText.contains("kernels   \(files - 1) of \(files) files from the cache \(cache) for sm_90"), "\(again.stderrText)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: adamw)).count > 100, "the entry was replaced")
    }

    /// A prebuilt image cut short is refused naming the file and the command that writes it, before the driver reads it.
    @Test func aPrebuiltKernelCutShortIsRefused() throws {
        let root = try TestPaths.temporaryDirectory("cli-kernel-images-cut").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.writeKernelImages(for: ["sm_90"], into: root)
        let images = root + "/sm_90"
        let adamw = images + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: images).first { $0.hasPrefix("adamw-") }))
        try Data(try Data(contentsOf: URL(fileURLWithPath: adamw)).prefix(100)).write(to: URL(fileURLWithPath: adamw))
        let run = try runGPT2(arguments: Self.oneStepBench,
                              environment: EmulatedCUDA.environment.merging(["GPT2_KERNEL_IMAGES": images, "NVRTC_LIB": "/nonexistent/libnvrtc.so.13"]) { $1 })
        expectOneLineError(run, mentioning: "\(adamw) is not whole (it is cut short")
        #expect(run.stderrText.contains("gpt2 kernels --arch sm_90 --out \(images)"), "\(run.stderrText)")
    }

    /// A kernel cache that cannot be written says so, where every run then compiled every kernel again without a word.
    @Test func aKernelCacheThatCannotBeWrittenSaysSo() throws {
        let root = try TestPaths.temporaryDirectory("cli-kernel-cache-file").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cache = root + "/file"
        try Data("not a folder".utf8).write(to: URL(fileURLWithPath: cache))
        let environment = EmulatedCUDA.environment.merging(["GPT2_KERNEL_CACHE": cache]) { $1 }
        let expected = "not cached: cannot create the kernel cache \(cache) (GPT2_KERNEL_CACHE): Not a directory"
        let kernels = try runGPT2(arguments: ["kernels", "--arch", "sm_90", "--only", "gelu", "--cache"], environment: environment)
        #expect(kernels.status == 0 && kernels.stderrText.contains("warning: gelu.cu (sm_90) \(expected)"), "\(kernels.stderrText)")
        let bench = try runGPT2(arguments: Self.oneStepBench, environment: environment)
        #expect(bench.status == 0 && bench.stderrText.contains("kernels   adamw.cu: compiled in ") && bench.stderrText.contains(expected),
                "\(bench.stderrText)")
    }

    /// A misspelled diagnostic setting is refused, naming what it takes: `cuda_cores` ran the tensor-core kernels, and
    /// `GPT2_CUDA_GELU_KERNEL=true` the epilogue, while the user believed them switched off.
    @Test(arguments: [("GPT2_CUDA_ATTENTION", "cuda_cores", "use tensor-cores or cuda-cores"),
                      ("GPT2_CUDA_GELU_KERNEL", "true", "use 1 (on) or 0 (off)"), ("GPT2_CUDA_SYNC", "yes", "use 1 (on) or 0 (off)")])
    func aMisspelledDiagnosticSettingIsRefused(_ variable: String, _ value: String, _ expected: String) throws {
        let result = try runGPT2(arguments: Self.oneStepBench, environment: EmulatedCUDA.environment.merging([variable: value]) { $1 })
        expectOneLineError(result, mentioning: "\(variable)=\(value) is not a setting it takes: \(expected)")
    }

    /// A misspelled emulator setting stops the emulator's cuInit, naming the setting and what it takes, as a misspelled
    /// diagnostic setting stops the backend: `GPT2_CUDA_EMULATOR_ORDER=reversed` ran the default schedule.
    @Test(arguments: [("GPT2_CUDA_EMULATOR_ORDER", "reversed", "the emulator's other schedule is reverse"),
                      ("GPT2_CUDA_EMULATOR_ARCH", "sm_70", "the emulator presents sm_80, sm_86, sm_89 or sm_90"),
                      ("GPT2_CUDA_EMULATOR_MEMORY_MIB", "1e3", "the device's memory in MiB must be a positive whole number"),
                      ("GPT2_CUDA_EMULATOR_DRIVER_VERSION", "12.4", "the CUDA version the driver runs is 1000·major + 10·minor"),
                      ("GPT2_CUDA_EMULATOR_CUBLASLT_VERSION", "12.4", "cuBLASLt's version is 10000·major + 100·minor + patch")])
    func aMisspelledEmulatorSettingIsRefused(_ variable: String, _ value: String, _ expected: String) throws {
        let info = try runGPT2(arguments: ["info"], environment: EmulatedCUDA.environment.merging([variable: value]) { $1 })
        #expect(info.stdoutText.contains("cuda      unavailable: ") && info.stdoutText.contains("\(variable)=\(value): \(expected)"),
                "\(info.stdoutText)")
        // a plan on the device present says why it planned for the CPU instead (it did so without a word)
        let plan = try runGPT2(arguments: ["plan", "--model", "tiny", "--steps", "1"], environment: EmulatedCUDA.environment.merging([variable: value]) { $1 })
        #expect(plan.status == 0 && plan.stderrText.contains("note: the GPU could not be opened (")
                && plan.stderrText.contains("so this plans for the CPU"), "\(plan.stderrText)")
    }
}
