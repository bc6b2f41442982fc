/// `gpt2 kernels` (compiling every kernel file with NVRTC, no GPU involved) and `gpt2 selftest cuda` (the kernels
/// against the CPU backend) on the CUDA emulator: their options, their refusals, and the architectures they serve.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite(.enabled(if: EmulatedCUDA.available, "needs libCUDAEmulator.so and NVRTC (NVRTC_LIB, CUDA_INCLUDE)"))
struct KernelsAndSelftestCommandTests {
    /// `gpt2 kernels` for an architecture NVRTC does not know stops with one line naming the ones it does, before it
    /// compiles anything, rather than a FAILED row and NVRTC's bare error for every kernel file; `gpt2 info` lists them.
    @Test func kernelsForAnArchitectureNVRTCDoesNotKnowIsOneError() throws {
        let result = try runGPT2(arguments: ["kernels", "--arch", "sm_90", "--arch", "sm_12"])
        expectOneLineError(result, mentioning: "does not compile for sm_12, only for ")
        #expect(!result.stdoutText.contains("FAILED") && !result.stdoutText.contains("cubin"), "\(result.stdoutText)")
        let listed = try #require(result.stderrText.components(separatedBy: "only for ").last?.components(separatedBy: ";").first)
        let info = try runGPT2(arguments: ["info"])
        #expect(info.stdoutText.contains("          compiles for \(listed)\n") && listed.contains("sm_80, "), "\(info.stdoutText)")
    }

    /// `gpt2 info` gives the CPU after the build: the cores online, as the threads option's 0 (one per core) counts them.
    @Test func infoCountsTheCoresOnline() throws {
        let info = try runGPT2(arguments: ["info"])
        let lines = info.stdoutText.split(separator: "\n")
        #expect(info.status == 0 && lines.count > 1 && lines[0].hasPrefix("build     gpt2-swift ")
                && lines[1].hasPrefix("cpu       \(WorkerThreads.cores) logical cores; OpenBLAS kernel "), "\(info.stdoutText)")
    }

    /// `gpt2 info` ends with where data and the plan's measurements come from, each with the variable that moves it (a
    /// newcomer took the kernel cache it showed for the download cache, which GPT2_CACHE_DIR moves alone).
    @Test func infoNamesTheMirrorTheDownloadCacheAndTheCalibration() throws {
        let root = try TestPaths.temporaryDirectory("cli-info-data").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let environment = ["GPT2_DATA_MIRROR": root + "/mirror", "GPT2_CACHE_DIR": root + "/downloads", "GPT2_CALIBRATION": root + "/cal.json"]
        let lines = try runGPT2(arguments: ["info"], environment: environment).stdoutText.split(separator: "\n").suffix(2)
        #expect(Array(lines) == ["data      mirror \(root)/mirror (GPT2_DATA_MIRROR); downloads cached in \(root)/downloads (GPT2_CACHE_DIR)",
                                 "plan      calibration \(root)/cal.json (GPT2_CALIBRATION)"], "\(lines)")
    }

    /// Each row names the file, the architecture and the kind of image, and its size in KiB rounded up, as the file that
    /// --out writes holds it; --ptx compiles for compute_XY instead, a PTX image. (Three files: three sizes to round.)
    @Test func kernelsRowsGiveEachImagesKindAndSize() throws {
        let folder = try TestPaths.temporaryDirectory("cli-kernels-sizes").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let only = ["--only", "gelu", "--only", "encoder", "--only", "adamw"]
        let result = try runGPT2(arguments: ["kernels", "--arch", "sm_89", "--out", folder] + only)
        try #require(result.status == 0, "\(result.stderrText)")
        let rows = result.stdoutText.split(separator: "\n").map { $0.split(separator: " ") }
        for file in ["gelu", "encoder", "adamw"] {
            let images = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(file) }
            try #require(images.count == 1, "\(file): \(images)")
            let bytes = try #require(try FileManager.default.attributesOfItem(atPath: folder + "/" + images[0])[.size] as? Int)
            let row = rows.first { $0.first == "\(file).cu" } ?? []
            #expect(row.count >= 5 && row[1...4] == ["sm_89", "cubin", "\((bytes + 1023) / 1024)", "KiB"], "\(file), \(bytes) bytes: \(row)")
        }
        let ptx = try runGPT2(arguments: ["kernels", "--arch", "sm_89", "--only", "gelu", "--ptx"])
        let row = ptx.stdoutText.split(separator: "\n").first?.split(separator: " ") ?? []
        #expect(ptx.status == 0 && row.count >= 3 && row[0...2] == ["gelu.cu", "compute_89", "ptx"], "\(ptx.stdoutText)\(ptx.stderrText)")
    }

    /// `gpt2 --help` lists selftest, which the README and the GPU section tell users to run (it was hidden).
    @Test func helpListsSelftest() throws {
        let result = try runGPT2(arguments: ["--help"])
        #expect(result.status == 0 && result.stdoutText.contains("selftest") && result.stdoutText.contains("Check the CUDA backend"),
                "\(result.stdoutText)")
    }

    /// `gpt2 selftest cuda --shape TxHS` checks only the attention shapes named (what a GPU session runs under
    /// compute-sanitizer, where every shape costs minutes), on both kernel families; a malformed shape is refused.
    @Test func selftestChecksOnlyTheAttentionShapesNamed() throws {
        let result = try runGPT2(arguments: ["selftest", "cuda", "--only", "attention", "--shape", "17x32", "--threads", "2"],
                                 environment: EmulatedCUDA.environment)
        #expect(result.status == 0, "\(result.stdoutText)\(result.stderrText)")
        let sections = result.stdoutText.split(separator: "\n").filter { $0.hasPrefix("== ") }
        #expect(sections == ["== attention tensor-cores T=17 HS=32", "== attention cuda-cores T=17 HS=32"], "\(sections)")
        // (256: beyond every attention kernel; it ran and reported a failed check; -1x16 was "Missing value for '--shape'")
        for bad in ["17by32", "64x256", "0x64", "-1x16"] {
            let malformed = try runGPT2(arguments: ["selftest", "cuda", "--only", "attention", "--shape", bad],
                                        environment: EmulatedCUDA.environment)
            #expect(malformed.status != 0 && malformed.stderrText.contains("--shape") && malformed.stderrText.contains(bad),
                    "\(bad): \(malformed.stderrText)")
        }
        // a head size the tensor-core kernels are not built for is skipped with that reason, not a shared-memory one
        let odd = try runGPT2(arguments: ["selftest", "cuda", "--only", "attention", "--shape", "17x48", "--threads", "2"],
                              environment: EmulatedCUDA.environment)
        #expect(odd.status == 0 && odd.stdoutText.contains("SKIP  attention tensor-cores T=17 HS=48: the tensor-core kernels are built for head sizes 16, 32, 64, 128 only"),
                "\(odd.stdoutText)")
        // the training groups need --data: asked for without it, they were skipped and "0/0 checks passed" exited 0
        let noData = try runGPT2(arguments: ["selftest", "cuda", "--only", "training"], environment: EmulatedCUDA.environment)
        expectOneLineError(noData, mentioning: "--only training needs --data")
    }

    /// selftest refuses, before any check runs, what it would otherwise ignore or find only after the other groups: a
    /// --shape or --data for groups that are not run, a --data folder without training shards, a --threads out of range.
    @Test func selftestRefusesOptionsItWouldIgnore() throws {
        let data = try ShakespeareShards.directory()
        for (arguments, expected) in [
            (["--only", "ops", "--shape", "17x32"], "--shape chooses the attention checks' shapes: add --only attention"),
            (["--only", "model", "--data", data], "--data \(data) is for the training and resume checks"),
            (["--data", "/nonexistent"], "--data: no token shards match /nonexistent/*_train_*.bin"),
            (["--only", "model", "--threads", "-1"], "--threads must be 0 (one per core) or between 1 and"),
        ] {
            let result = try runGPT2(arguments: ["selftest", "cuda"] + arguments, environment: EmulatedCUDA.environment)
            expectOneLineError(result, mentioning: expected)
            #expect(!result.stdoutText.contains("=="), "\(arguments): a check ran: \(result.stdoutText)")
        }
    }

    /// The training checks' runs are removed when they pass (the checkpoints of one self-test took 157 MB of /tmp, left
    /// behind by every run of it) and kept when a check fails, as `training-PID-failed`, saying where. Shown here by a
    /// failure: a training split too small for a batch fails at once, where a passing check trains for minutes on the
    /// emulator. The runs of a self-test that did not finish (its process gone, its folder not marked failed) are
    /// removed first, with a line; a failed run's, a running self-test's and anything else in the folder stay (even a
    /// name like theirs, `ops-PID`: no check of that group leaves a folder).
    @Test func selftestKeepsTheRunsOfAFailedTrainingCheckOnly() throws {
        let root = try TestPaths.temporaryDirectory("cli-selftest-work").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        try ShardWriter.write(Array(0..<100), to: root + "/data/small_train_000000.bin")
        try ShardWriter.write(Array(0..<100), to: root + "/data/small_val_000000.bin")
        let (dead, live) = (TestPaths.deadProcessID, ProcessInfo.processInfo.processIdentifier)
        let earlier = ["training-\(dead)", "resume-\(dead)", "training-\(dead)-failed", "resume-\(live)", "ops-\(dead)"]
        for name in earlier {
            try FileManager.default.createDirectory(atPath: "\(root)/work/\(name)/ckpt_1", withIntermediateDirectories: true)
        }
        let result = try runGPT2(arguments: ["selftest", "cuda", "--only", "training", "--data", root + "/data", "--work", root + "/work"],
                                 environment: EmulatedCUDA.environment)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: root + "/work"))
        let kept = try #require(left.subtracting(earlier).first, "\(left) \(result.stdoutText)")
        #expect(kept.hasPrefix("training-") && kept.hasSuffix("-failed") && left.count == 4, "\(left)")
        #expect(result.status == 1 && result.stdoutText.contains("FAIL  training")
                && result.stdoutText.contains("the training check's runs are kept in \(root)/work/\(kept)"), "\(result.stdoutText)")
        #expect(left.isSuperset(of: ["training-\(dead)-failed", "resume-\(live)", "ops-\(dead)"]), "\(left)")
        for name in ["training-\(dead)", "resume-\(dead)"] {
            #expect(!left.contains(name) && result.stdoutText.contains("removed \(root)/work/\(name), the runs of a self-test that did not finish"),
                    "\(name): \(result.stdoutText)")
        }
    }

    /// The kernels as compiled for the RTX 40 series (sm_89: the reference card, 99 KiB of shared memory per block)
    /// and the A100 (sm_80), not only for the H100: with GPT2_CUDA_EMULATOR_ARCH the emulator presents that
    /// architecture, so NVRTC compiles for it and every launch is checked against that cubin's register counts and
    /// that shared memory limit. Every op, a model step and attention at each head size pass there, head size 128
    /// on the tensor-core kernels (85 KiB of shared memory in the forward).
    @Test(arguments: ["sm_89", "sm_80"])
    func selftestPassesWhereTheEmulatorPresentsAnotherArchitecture(architecture: String) throws {
        let shapes = [16, 32, 64, 128].flatMap { ["--shape", "64x\($0)"] }
        let result = try runGPT2(arguments: ["selftest", "cuda", "--only", "ops", "--only", "model", "--only", "attention"]
                                     + shapes + ["--threads", "2"],
                                 environment: EmulatedCUDA.environment.merging(["GPT2_CUDA_EMULATOR_ARCH": architecture]) { $1 })
        #expect(result.status == 0, "\(result.stdoutText)\(result.stderrText)")
        #expect((result.stdoutText + result.stderrText).contains("(\(architecture))"), "the device line names \(architecture)")
        #expect(result.stdoutText.contains("== attention tensor-cores T=64 HS=128"), "head size 128 ran on the tensor-core kernels")
    }

    /// `gpt2 kernels --resources` lists every kernel of a file under it with its registers (no GPU involved), and
    /// refuses what has no ptxas report (PTX, cached images).
    @Test func kernelsReportsEachKernelsResources() throws {
        let result = try runGPT2(arguments: ["kernels", "--arch", "sm_89", "--resources", "--only", "gelu", "--only", "encoder"])
        #expect(result.status == 0, "\(result.stderrText)")
        let lines = result.stdoutText.split(separator: "\n").map(String.init)
        let files = lines.filter { !$0.hasPrefix(" ") }.map { String($0.prefix { $0 != " " }) }
        #expect(Set(files) == ["gelu.cu", "encoder.cu"], "--only twice: either file: \(files)")
        for kernel in ["gelu_forward", "gelu_backward"] {
            let line = lines.first { $0.hasPrefix("  \(kernel) ") }
            #expect(line?.contains(" registers") == true && line?.contains("0 B spilled") == true, "\(kernel): \(String(describing: line))")
        }
        for refused in [["--ptx"], ["--cache"]] {
            let result = try runGPT2(arguments: ["kernels", "--arch", "sm_89", "--resources", "--only", "gelu"] + refused)
            #expect(result.status != 0 && result.stderrText.contains(refused[0]), "\(refused): \(result.stderrText)")
        }
        // a filter that matches no file compiled nothing and passed
        let typo = try runGPT2(arguments: ["kernels", "--arch", "sm_89", "--only", "gelu", "--only", "atention"])
        #expect(typo.status != 0 && typo.stderrText.contains("--only atention matches no kernel file; the files are adamw.cu"),
                "\(typo.stderrText)")
        #expect(typo.stdoutText.isEmpty, "nothing compiled: \(typo.stdoutText)")
        // --out must be a folder, and the images cubins: a file there failed every kernel after compiling it, and PTX was
        // written under names GPT2_KERNEL_IMAGES never loads
        let file = try TestPaths.temporaryDirectory("cli-kernels-out").path + "/file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let intoFile = try runGPT2(arguments: ["kernels", "--arch", "sm_89", "--only", "gelu", "--out", file])
        #expect(intoFile.status != 0 && intoFile.stderrText.contains("a file is there") && intoFile.stdoutText.isEmpty, "\(intoFile.stderrText)")
        let ptx = try runGPT2(arguments: ["kernels", "--arch", "sm_89", "--only", "gelu", "--ptx", "--out", file + "-folder"])
        #expect(ptx.status != 0 && ptx.stderrText.contains("drop --ptx"), "\(ptx.stderrText)")
        // a compute_XY architecture makes PTX as --ptx does: no images for --out, no ptxas report for --resources
        for option in ["--out", "--resources"] {
            let virtual = try runGPT2(arguments: ["kernels", "--arch", "sm_89", "--arch", "compute_90", "--only", "gelu", option]
                                      + (option == "--out" ? [file + "-folder"] : []))
            #expect(virtual.status != 0 && virtual.stderrText.contains("give sm_90, not compute_90") && virtual.stdoutText.isEmpty,
                    "\(option): \(virtual.stdoutText)\(virtual.stderrText)")
        }
    }
}
