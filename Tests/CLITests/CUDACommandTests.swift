/// The CLI on the CUDA backend: `train`, `eval` and `sample` with `--device cuda`, on the CUDA emulator
/// (no GPU needed): the GPU run's losses track the CPU's, its log and metrics carry GPU memory, a GPU
/// checkpoint resumes on the CPU, and an unlisted device trains without a peak (MFU n/a) instead of refusing.

import CUDAKernels
import Foundation
import GPT2
import GPT2TestSupport
import Testing

enum EmulatedCUDA {
    static let library = buildProductsDirectory.appendingPathComponent("libCUDAEmulator.so").path

    /// The emulator needs NVRTC to compile the kernels it loads (CI exports NVRTC_LIB and CUDA_INCLUDE).
    static let available = FileManager.default.fileExists(atPath: library)
        && ProcessInfo.processInfo.environment["NVRTC_LIB"] != nil && ProcessInfo.processInfo.environment["CUDA_INCLUDE"] != nil

    /// This process's environment with libcuda and libcublasLt replaced by the emulator.
    static var environment: [String: String] {
        ProcessInfo.processInfo.environment.merging(["CUDA_DRIVER_LIB": library, "CUBLASLT_LIB": library]) { $1 }
    }
}

@Suite(.enabled(if: EmulatedCUDA.available, "needs libCUDAEmulator.so and NVRTC (NVRTC_LIB, CUDA_INCLUDE)"))
struct CUDACommandTests {
    @Test func trainEvalAndSampleRunOnTheGPU() throws {
        let root = try TestPaths.temporaryDirectory("cli-cuda").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func onGPU(_ arguments: [String]) -> [String] {
            var arguments = arguments
            arguments[arguments.firstIndex(of: "--device")! + 1] = "cuda"
            return arguments
        }

        let gpu = try runGPT2(arguments: onGPU(try CLIFixtures.trainArguments(out: root + "/gpu", steps: 3)),
                              environment: EmulatedCUDA.environment)
        try #require(gpu.status == 0, "\(gpu.stderrText)")
        #expect(gpu.stderrText.contains("MFU n/a") && gpu.stderrText.contains("not in gpt2's table"), "\(gpu.stderrText)")
        #expect(gpu.stderrText.contains("| GPU ") && gpu.stderrText.contains("peak GPU memory"), "\(gpu.stderrText)")
        let metrics = try String(contentsOfFile: root + "/gpu/metrics.jsonl", encoding: .utf8)
        #expect(metrics.contains("device_memory_bytes") && !metrics.contains("\"mfu\""), "\(metrics)")

        let cpu = try runGPT2(arguments: try CLIFixtures.trainArguments(out: root + "/cpu", steps: 3))
        try #require(cpu.status == 0, "\(cpu.stderrText)")
        let gpuLosses = try CLIFixtures.losses(root + "/gpu"), cpuLosses = try CLIFixtures.losses(root + "/cpu")
        #expect(gpuLosses.count == 3 && cpuLosses.count == 3)
        // bf16 activations move a loss of ~10.8 by a few thousandths (see CUDAParity.model).
        for (g, c) in zip(gpuLosses, cpuLosses) { #expect(abs(g - c) < 0.02, "gpu \(gpuLosses) cpu \(cpuLosses)") }

        // Resumed with no --device, the GPU run stays on the GPU (it went on on the CPU); with --device cpu it continues
        // there, which reports its own MFU again, and a resume after that stays on the CPU.
        let noGPU = try runGPT2(arguments: ["train", "--resume", root + "/gpu", "--steps", "4"],
                                environment: EmulatedCUDA.environment.merging(["CUDA_DRIVER_LIB": "/nonexistent/libcuda.so.1"]) { $1 })
        expectOneLineError(noGPU, mentioning: "this run trained on the GPU, and here ")
        #expect(noGPU.stderrText.contains("continue it on the CPU with --device cpu"), "\(noGPU.stderrText)")
        let stays = try runGPT2(arguments: ["train", "--resume", root + "/gpu", "--steps", "4"], environment: EmulatedCUDA.environment)
        try #require(stays.status == 0, "\(stays.stderrText)")
        #expect(stays.stderrText.contains("resuming on the GPU, where the run trained") && stays.stderrText.contains("| GPU "), "\(stays.stderrText)")
        let resumed = try runGPT2(arguments: ["train", "--resume", root + "/gpu", "--steps", "5", "--device", "cpu", "--threads", "2"])
        try #require(resumed.status == 0, "\(resumed.stderrText)")
        #expect(try CLIFixtures.losses(root + "/gpu").count == 5)
        #expect(try String(contentsOfFile: root + "/gpu/metrics.jsonl", encoding: .utf8).contains("\"mfu\""))
        let onCPU = try runGPT2(arguments: ["train", "--resume", root + "/gpu", "--steps", "6", "--threads", "2"], environment: EmulatedCUDA.environment)
        #expect(onCPU.status == 0 && !onCPU.stderrText.contains("| GPU "), "\(onCPU.stderrText)")

        let gpuEval = try Self.evalLoss(root + "/gpu", device: "cuda"), cpuEval = try Self.evalLoss(root + "/gpu", device: "cpu")
        #expect(abs(gpuEval - cpuEval) < 0.02, "eval on the GPU \(gpuEval), on the CPU \(cpuEval)")

        let sample = try runGPT2(arguments: ["sample", "--checkpoint", root + "/gpu", "--prompt", "ROMEO:", "--tokens", "5",
                                             "--temperature", "0", "--mirror", TestPaths.mirror.path, "--device", "cuda"],
                                 environment: EmulatedCUDA.environment)
        try #require(sample.status == 0, "\(sample.stderrText)")
        #expect(sample.stdoutText.hasPrefix("ROMEO:") && sample.stdoutText.count > "ROMEO:\n".count, "\(sample.stdoutText)")
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

    /// On a GPU not in the table (the emulator is one), the plan still gives its memory table and verdict, and says
    /// the time needs --peak-flops; it refused to plan at all.
    @Test func planOnAnUnlistedGPUGivesTheMemoryWithoutATime() throws {
        let arguments = ["plan", "--device", "cuda", "--model", "tiny", "--micro-batch", "2", "--seq", "32", "--steps", "10"]
        let text = try runGPT2(arguments: arguments, environment: EmulatedCUDA.environment)
        try #require(text.status == 0, "\(text.stderrText)")
        #expect(text.stdoutText.contains("verdict: fits") && text.stdoutText.contains("is not in the GPU table, so its peak is unknown: "
                                                                                        + "pass --peak-flops (dense BF16 FLOP/s) for the time"),
                "\(text.stdoutText)")
        let json = try runGPT2(arguments: arguments + ["--json"], environment: EmulatedCUDA.environment)
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any], "\(json.stdoutText)")
        #expect(object["fits"] as? Bool == true && object["step_seconds"] is NSNull && object["tokens_per_step"] as? Int == 64)
        let timed = try runGPT2(arguments: arguments + ["--json", "--peak-flops", "1e12"], environment: EmulatedCUDA.environment)
        #expect((try JSONSerialization.jsonObject(with: timed.stdout) as? [String: Any])?["step_seconds"] as? Double ?? 0 > 0)
    }

    /// The planner's GPU memory is what the CUDA backend takes from the device: before calibration the plan
    /// carries the context estimate; `gpt2 bench` then measures the overhead beyond the planned allocations
    /// (none on the emulator, which has no context: any unplanned device allocation would show here) and
    /// records it; from then on `gpt2 plan` predicts the driver's bytes in use exactly at other micro-batches.
    @Test func planPredictsTheDeviceMemoryBenchMeasures() throws {
        let calibration = try TestPaths.temporaryDirectory("cli-cuda-plan").path + "/calibration.json"
        let environment = EmulatedCUDA.environment.merging(["GPT2_CALIBRATION": calibration]) { $1 }
        struct Bench: Decodable {
            var device_memory_bytes: Int, device_overhead_bytes: Int, allocated_bytes: Int
        }
        struct Plan: Decodable {
            var total_bytes: Int, buffer_bytes: Int, memory: [String: Int]
        }
        func bench(_ batch: Int, record: Bool, extra: [String] = []) throws -> Bench {
            let result = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "\(batch)",
                                                 "--seq", "32", "--steps", "1", "--warmup", "0", "--peak-flops", "1e12", "--json"]
                                                 + (record ? [] : ["--no-record"]) + extra, environment: environment)
            #expect(result.status == 0, "\(result.stderrText)")
            return try JSONDecoder().decode(Bench.self, from: result.stdout)
        }
        func plan(_ batch: Int) throws -> Plan {
            let result = try runGPT2(arguments: ["plan", "--device", "cuda", "--model", "tiny", "--micro-batch", "\(batch)",
                                                 "--seq", "32", "--steps", "1", "--peak-flops", "1e12", "--json"], environment: environment)
            #expect(result.status == 0, "\(result.stderrText)")
            return try JSONDecoder().decode(Plan.self, from: result.stdout)
        }

        #expect(try plan(2).memory["cuda_context"] == 400 << 20, "uncalibrated: the stated estimate")
        let calibrating = try bench(2, record: true)
        #expect(calibrating.device_overhead_bytes == 0, "the backend allocated beyond the plan: \(calibrating)")
        for batch in [1, 3, 5] {
            let (predicted, measured) = (try plan(batch), try bench(batch, record: false))
            #expect(predicted.memory["cuda_context"] == 0)
            #expect(predicted.total_bytes == measured.device_memory_bytes, "B=\(batch): plan \(predicted.total_bytes), driver \(measured.device_memory_bytes)")
            #expect(predicted.buffer_bytes + predicted.memory["gpu_scratch"]! == measured.allocated_bytes, "B=\(batch)")
        }
        // Logits of 24 rows at a time instead of all 96 (72 rows × 50304 × 2 bytes fewer): the bench's own plan
        // of its allocations must follow, or the rows it no longer allocates would show as a negative overhead.
        let chunked = try bench(3, record: false, extra: ["--classifier-chunk", "24"])
        #expect(chunked.device_overhead_bytes == 0, "\(chunked)")
        #expect(chunked.allocated_bytes < (try bench(3, record: false)).allocated_bytes)
    }

    /// `gpt2 bench --micro-batch auto` measures the largest micro-batch the plan says fits, and on a device the plan
    /// knows exactly (a 128 MiB emulated one, its overhead measured by a first bench) that is the largest the device
    /// holds: one sequence more fails to allocate.
    @Test func benchAutoMeasuresTheLargestMicroBatchTheDeviceHolds() throws {
        let calibration = try TestPaths.temporaryDirectory("cli-cuda-auto").path + "/calibration.json"
        let environment = EmulatedCUDA.environment.merging(["GPT2_CALIBRATION": calibration,
                                                            "GPT2_CUDA_EMULATOR_MEMORY_MIB": "128"]) { $1 }
        struct Bench: Decodable { var micro_batch: Int, micro_batch_auto: Bool, device_memory_bytes: Int }
        func bench(_ batch: String, record: Bool = false) throws -> CommandResult {
            try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", batch, "--seq", "32",
                                    "--steps", "1", "--warmup", "0", "--peak-flops", "1e12", "--json"] + (record ? [] : ["--no-record"]),
                        environment: environment)
        }
        let calibrating = try bench("1", record: true)
        try #require(calibrating.status == 0, "\(calibrating.stderrText)")
        let auto = try bench("auto")
        try #require(auto.status == 0, "\(auto.stderrText)")
        let largest = try JSONDecoder().decode(Bench.self, from: auto.stdout)
        #expect(largest.micro_batch > 1 && largest.device_memory_bytes <= 128 << 20, "\(largest)")
        let fixed = try JSONDecoder().decode(Bench.self, from: calibrating.stdout)
        #expect(largest.micro_batch_auto && !fixed.micro_batch_auto)
        let oneMore = try bench("\(largest.micro_batch + 1)")
        #expect(oneMore.status != 0 && oneMore.stderrText.contains("out of memory"), "\(oneMore.stderrText)")
        #expect(oneMore.stderrText.contains("note: by the plan, micro-batch \(largest.micro_batch + 1) × seq 32 does not fit"),
                "the bench says beforehand that the plan expects this: \(oneMore.stderrText)")
        let chunked = try runGPT2(arguments: ["bench", "--micro-batch", "auto", "--classifier-chunk", "0"], environment: environment)
        #expect(chunked.status != 0 && chunked.stderrText.contains("--micro-batch N"), "\(chunked.stderrText)")
    }

    /// Memory other processes hold on the device (a desktop, another run: 24 of an emulated 128 MiB here) is left to
    /// them: calibrated on the empty device (overhead 0), the plan's overhead row becomes what was in use when gpt2
    /// opened the device, and `--micro-batch auto` picks the largest micro-batch that fits beside them: it runs, and
    /// one sequence more fails to allocate. (Taking only the calibration, auto would pick the empty device's largest.)
    @Test func memoryOtherProcessesHoldIsLeftToThem() throws {
        let calibration = try TestPaths.temporaryDirectory("cli-cuda-busy").path + "/calibration.json"
        let empty = EmulatedCUDA.environment.merging(["GPT2_CALIBRATION": calibration, "GPT2_CUDA_EMULATOR_MEMORY_MIB": "128"]) { $1 }
        let busy = empty.merging(["GPT2_CUDA_EMULATOR_MEMORY_IN_USE_MIB": "24"]) { $1 }
        struct Bench: Decodable { var micro_batch: Int, device_memory_bytes: Int }
        struct Plan: Decodable { var max_micro_batch: Int, memory: [String: Int], device_overhead_source: String }
        let shape = ["--model", "tiny", "--seq", "32", "--peak-flops", "1e12"]
        func bench(_ batch: String, _ environment: [String: String], record: Bool = false) throws -> CommandResult {
            try runGPT2(arguments: ["bench", "--device", "cuda", "--micro-batch", batch, "--steps", "1", "--warmup", "0", "--json"]
                        + shape + (record ? [] : ["--no-record"]), environment: environment)
        }
        func plan(_ environment: [String: String], json: Bool = true) throws -> CommandResult {
            try runGPT2(arguments: ["plan", "--device", "cuda", "--micro-batch", "1", "--steps", "1"] + shape + (json ? ["--json"] : []),
                        environment: environment)
        }
        try #require(try bench("1", empty, record: true).status == 0)
        let onEmpty = try JSONDecoder().decode(Plan.self, from: try plan(empty).stdout)
        let besideOthers = try JSONDecoder().decode(Plan.self, from: try plan(busy).stdout)
        #expect(onEmpty.memory["cuda_context"] == 0 && besideOthers.memory["cuda_context"] == 24 << 20, "\(onEmpty) \(besideOthers)")
        #expect(onEmpty.device_overhead_source == "calibrated" && besideOthers.device_overhead_source == "in_use_at_open")
        #expect(besideOthers.max_micro_batch < onEmpty.max_micro_batch)
        let table = try plan(busy, json: false).stdoutText
        #expect(table.contains("in use on the device when gpt2 opened it (CUDA context, other processes)"), "\(table)")

        let auto = try bench("auto", busy)
        try #require(auto.status == 0, "\(auto.stderrText)")
        let largest = try JSONDecoder().decode(Bench.self, from: auto.stdout)
        #expect(largest.micro_batch == besideOthers.max_micro_batch && largest.device_memory_bytes <= 128 << 20, "\(largest)")
        let oneMore = try bench("\(largest.micro_batch + 1)", busy)
        #expect(oneMore.status != 0 && oneMore.stderrText.contains("out of memory"), "\(oneMore.stderrText)")
        let invalid = try runGPT2(arguments: ["info"], environment: empty.merging(["GPT2_CUDA_EMULATOR_MEMORY_IN_USE_MIB": "128"]) { $1 })
        #expect(invalid.stdoutText.contains("GPT2_CUDA_EMULATOR_MEMORY_IN_USE_MIB=128") || invalid.stderrText.contains("GPT2_CUDA_EMULATOR_MEMORY_IN_USE_MIB=128"),
                "a setting the device cannot hold fails cuInit, naming it: \(invalid.stdoutText) \(invalid.stderrText)")
    }

    /// `gpt2 bench --profile` times one more step kernel by kernel: every kernel a step launches is there, as
    /// often as the model launches it (tiny: 2 layers, head size 16; the classifier once per chunk of 16 of the
    /// 64 rows), beside the GEMMs with their epilogues; GPT2_CUDA_BIAS_GRADIENT_KERNEL=1 reaches the backend.
    @Test func benchProfileListsEveryKernelOfAStep() throws {
        let result = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "2", "--seq", "32",
                                             "--steps", "1", "--warmup", "0", "--json", "--no-record", "--profile",
                                             "--classifier-chunk", "16"],
                                 environment: EmulatedCUDA.environment)
        try #require(result.status == 0, "\(result.stderrText)")
        struct Entry: Decodable { var name: String, calls: Int, ms: Double, flops: Double, bytes: Double }
        struct Bench: Decodable { var profile: [Entry], step_ms: Double }
        let bench = try JSONDecoder().decode(Bench.self, from: result.stdout)
        let calls = Dictionary(uniqueKeysWithValues: bench.profile.map { ($0.name, $0.calls) })
        for (kernel, expected) in [("attention_forward_tc_hs16", 2), ("attention_backward_dkv_tc_hs16", 2),
                                   ("attention_backward_dq_tc_hs16", 2), ("adamw_update", 1), ("classifier_forward_backward", 4),
                                   ("encoder_forward", 1)] {
            #expect(calls[kernel] == expected, "\(kernel): \(calls[kernel] ?? 0) calls")
        }
        #expect(bench.profile.contains { $0.name.hasPrefix("gemm ") && $0.name.hasSuffix("+bias+gelu") && $0.calls == 2 })
        #expect(bench.profile.allSatisfy { $0.ms >= 0 } && bench.profile.reduce(0) { $0 + $1.ms } > 0)
        let sorted = bench.profile.map(\.ms)
        #expect(sorted == sorted.sorted(by: >), "longest first")
        // The GEMMs' FLOPs add up to 6 per weight-matrix element per token (forward, dinp, dweight): 12·C² per layer
        // and the lm head's Vp·C, over the 64 tokens; every other kernel of a step declares the bytes it moves.
        let config = try ModelPreset.named("tiny").config
        let (C, tokens) = (Double(config.channels), 64.0)
        let matrixWeights = Double(config.layers) * 12 * C * C + Double(config.paddedVocabularySize) * C
        let gemmFLOPs = bench.profile.filter { $0.name.hasPrefix("gemm ") }.reduce(0) { $0 + $1.flops }
        #expect(gemmFLOPs == 6 * matrixWeights * tokens, "GEMM FLOPs \(gemmFLOPs)")
        #expect(bench.profile.filter { $0.name.hasPrefix("attention_") && !$0.name.contains("preprocess") }.allSatisfy { $0.flops > 0 })
        let uncounted = bench.profile.filter { $0.bytes == 0 }.map(\.name)
        #expect(uncounted == ["norm_squared_final"], "kernels without their bytes: \(uncounted)")
        // The 4 linear layers × 2 layers' bias gradients: summed by the weight-gradient GEMMs (BGRADB), or with
        // GPT2_CUDA_BIAS_GRADIENT_KERNEL=1 by the column-sum kernel instead (seen here in the printed table, whose
        // last line sums the time and rate by kind of work).
        #expect(bench.profile.filter { $0.name.hasSuffix("+dbias") }.reduce(0) { $0 + $1.calls } == 8)
        #expect(calls["bias_backward_partial"] == nil)
        let kernels = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "2", "--seq", "32",
                                              "--steps", "1", "--warmup", "0", "--no-record", "--profile"],
                                  environment: EmulatedCUDA.environment.merging(["GPT2_CUDA_BIAS_GRADIENT_KERNEL": "1"]) { $1 })
        try #require(kernels.status == 0, "\(kernels.stderrText)")
        let table = kernels.stdoutText.split(separator: "\n").map(String.init)
        let row = table.first { $0.hasPrefix("bias_backward_partial ") }?.split(separator: " ").map(String.init)
        #expect(row?.count ?? 0 > 1 && row?[1] == "8", "\(String(describing: row))")
        #expect(!table.contains { $0.contains("+dbias") })
        let kinds = table.last ?? ""
        #expect(kinds.hasPrefix("by kind: GEMMs ") && kinds.contains("; attention ") && kinds.contains("; the other kernels "), "\(kinds)")
    }

    /// The bench's JSON names the kernels that carried out each fusion that can be switched off, so that a recorded
    /// line says what it measured: all fused by default, and each switch seen there.
    @Test func benchNamesTheFusionsItMeasured() throws {
        #expect(try fusions([:]) == ["attention": "tensor-cores", "bias": "epilogue", "gelu": "epilogue", "bias_gradient": "epilogue"])
        #expect(try fusions(["GPT2_CUDA_ATTENTION": "cuda-cores", "GPT2_CUDA_GELU_KERNEL": "1", "GPT2_CUDA_BIAS_GRADIENT_KERNEL": "1"])
                == ["attention": "cuda-cores", "bias": "epilogue", "gelu": "kernels", "bias_gradient": "kernels"])
        #expect(try fusions(["GPT2_CUDA_BIAS_KERNEL": "1"])
                == ["attention": "tensor-cores", "bias": "kernels", "gelu": "kernel forward, epilogue backward", "bias_gradient": "epilogue"])
    }

    /// `gpt2 --help` lists selftest, which the README and the GPU section tell users to run (it was hidden).
    @Test func helpListsSelftest() throws {
        let result = try runGPT2(arguments: ["--help"])
        #expect(result.status == 0 && result.stdoutText.contains("selftest") && result.stdoutText.contains("Check the CUDA backend"),
                "\(result.stdoutText)")
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
        let bench = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1",
                                            "--no-record"], environment: environment.merging(["GPT2_KERNEL_CACHE": cache]) { $1 })
        expectOneLineError(bench, mentioning: problem)
    }

    /// A machine without NVRTC runs on images `gpt2 kernels --out` made elsewhere (what a GPU session falls back to):
    /// info says whether they serve the device, a run loads them, and images for another architecture are refused
    /// with the command that makes the right ones.
    @Test func prebuiltKernelImagesServeAMachineWithoutNVRTC() throws {
        let root = try TestPaths.temporaryDirectory("cli-kernel-images").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for architecture in ["sm_90", "sm_89"] {
            let made = try runGPT2(arguments: ["kernels", "--arch", architecture, "--out", root + "/" + architecture])
            try #require(made.status == 0, "\(made.stderrText)")
        }
        func environment(_ images: String) -> [String: String] {
            EmulatedCUDA.environment.merging(["GPT2_KERNEL_IMAGES": root + "/" + images, "NVRTC_LIB": "/nonexistent/libnvrtc.so.13",
                                              "GPT2_KERNEL_CACHE": root + "/empty-cache"]) { $1 }
        }
        let files = CUDAKernelSources.all.count
        let info = try runGPT2(arguments: ["info"], environment: environment("sm_90"))
        #expect(info.stdoutText.contains("\(files) of \(files) kernel files for this device's sm_90 are there"), "\(info.stdoutText)")
        let bench = ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1", "--warmup", "0",
                     "--no-record", "--peak-flops", "1e12"]
        let run = try runGPT2(arguments: bench, environment: environment("sm_90"))
        #expect(run.status == 0 && run.stderrText.contains(": prebuilt "), "\(run.stderrText)")
        let wrong = try runGPT2(arguments: bench, environment: environment("sm_89"))
        expectOneLineError(wrong, mentioning: "gpt2 kernels --arch sm_90 --out")
        #expect(try runGPT2(arguments: ["info"], environment: environment("sm_89")).stdoutText.contains("0 of \(files) kernel files"))
    }

    /// Without NVRTC, a run names both ways to its kernels: an NVRTC to compile them, or images made elsewhere.
    @Test func aRunWithoutNVRTCOffersPrebuiltImages() throws {
        let run = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1",
                                          "--warmup", "0", "--no-record"],
                              environment: EmulatedCUDA.environment.merging(["NVRTC_LIB": "/nonexistent/libnvrtc.so.13"]) { $1 })
        expectOneLineError(run, mentioning: "NVRTC_LIB names it")
        #expect(run.stderrText.contains("or set GPT2_KERNEL_IMAGES to a folder written by `gpt2 kernels --out`"), "\(run.stderrText)")
    }

    /// A missing cuBLASLt is reported before the kernels compile (seconds on a GPU machine, wasted on a run that cannot start).
    @Test func aMissingCuBLASLtIsReportedBeforeTheKernelsCompile() throws {
        let cache = try TestPaths.temporaryDirectory("cli-no-cublaslt").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let run = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1",
                                          "--warmup", "0", "--no-record"],
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
        for architecture in ["sm_80", "sm_89"] {
            let made = try runGPT2(arguments: ["kernels", "--arch", architecture, "--out", root + "/" + architecture])
            try #require(made.status == 0, "\(made.stderrText)")
        }
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
            try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1",
                                    "--warmup", "0", "--no-record", "--peak-flops", "1e12"],
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

    /// eval plans its memory before allocating, as train does: on a device too small for the micro-batch it says what to
    /// change instead of passing on the driver's out-of-memory error.
    @Test func evalThatDoesNotFitSaysWhatToChange() throws {
        let result = try runGPT2(arguments: ["eval", "--checkpoint", try CLIFixtures.trainedRun(), "--data", try ShakespeareShards.directory(),
                                             "--batches", "1", "--micro-batch", "8", "--seq", "64", "--device", "cuda"],
                                 environment: EmulatedCUDA.environment.merging(["GPT2_CUDA_EMULATOR_MEMORY_MIB": "40"]) { $1 })
        #expect(result.status == 1 && result.stderrText.contains("Error: evaluating micro-batches of 8 × seq 64 does not fit")
                && result.stderrText.contains("lower --micro-batch or --seq"), "\(result.stderrText)")
    }

    /// sample plans its memory too (the context's keys and values are its cache), and says so when it does not fit.
    @Test func sampleThatDoesNotFitSaysSo() throws {
        let result = try runGPT2(arguments: ["sample", "--checkpoint", try CLIFixtures.trainedRun(), "--tokens", "4", "--device", "cuda"],
                                 environment: EmulatedCUDA.environment.merging(["GPT2_CUDA_EMULATOR_MEMORY_MIB": "8"]) { $1 })
        #expect(result.status == 1 && result.stderrText.contains("Error: sampling from this model (a context of ")
                && result.stderrText.contains("does not fit") && result.stderrText.contains("--device cpu"), "\(result.stderrText)")
    }

    /// A damaged image in the kernel cache is compiled again rather than failing every run ("device kernel image is
    /// invalid", naming neither the file nor the cache).
    @Test func aDamagedCachedKernelIsCompiledAgain() throws {
        let cache = try TestPaths.temporaryDirectory("cli-kernel-cache").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let environment = EmulatedCUDA.environment.merging(["GPT2_KERNEL_CACHE": cache]) { $1 }
        let arguments = ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1",
                         "--warmup", "0", "--no-record", "--peak-flops", "1e12"]
        try #require(try runGPT2(arguments: arguments, environment: environment).status == 0)
        let adamw = try #require(try FileManager.default.contentsOfDirectory(atPath: cache).first { $0.hasPrefix("adamw-") })
        try Data((0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }).write(to: URL(fileURLWithPath: cache + "/" + adamw))
        let again = try runGPT2(arguments: arguments, environment: environment)
        #expect(again.status == 0 && again.stderrText.contains("adamw.cu: the cached image was refused"), "\(again.stderrText)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: cache + "/" + adamw)).count > 100, "the entry was replaced")
    }

    /// A cached image cut short (a copy that stopped part-way) is compiled again too: the driver takes no length and
    /// reads a cubin as far as its ELF headers say, so such an image was read past its end (the emulator died of it).
    @Test func aCachedKernelCutShortIsCompiledAgain() throws {
        let cache = try TestPaths.temporaryDirectory("cli-kernel-cache-cut").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let environment = EmulatedCUDA.environment.merging(["GPT2_KERNEL_CACHE": cache]) { $1 }
        let arguments = ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1",
                         "--warmup", "0", "--no-record", "--peak-flops", "1e12"]
        try #require(try runGPT2(arguments: arguments, environment: environment).status == 0)
        let adamw = cache + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: cache).first { $0.hasPrefix("adamw-") }))
        try Data(try Data(contentsOf: URL(fileURLWithPath: adamw)).prefix(100)).write(to: URL(fileURLWithPath: adamw))
        let again = try runGPT2(arguments: arguments, environment: environment)
        #expect(again.status == 0 && again.stderrText.contains("adamw.cu: the cached image was refused")
                && again.stderrText.contains("cut short"), "\(again.stderrText)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: adamw)).count > 100, "the entry was replaced")
    }

    /// A prebuilt image cut short is refused naming the file and the command that writes it, before the driver reads it.
    @Test func aPrebuiltKernelCutShortIsRefused() throws {
        let images = try TestPaths.temporaryDirectory("cli-kernel-images-cut").path
        defer { try? FileManager.default.removeItem(atPath: images) }
        let made = try runGPT2(arguments: ["kernels", "--arch", "sm_90", "--out", images])
        try #require(made.status == 0, "\(made.stderrText)")
        let adamw = images + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: images).first { $0.hasPrefix("adamw-") }))
        try Data(try Data(contentsOf: URL(fileURLWithPath: adamw)).prefix(100)).write(to: URL(fileURLWithPath: adamw))
        let run = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1",
                                          "--warmup", "0", "--no-record", "--peak-flops", "1e12"],
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
        let bench = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1",
                                            "--warmup", "0", "--no-record", "--peak-flops", "1e12"], environment: environment)
        #expect(bench.status == 0 && bench.stderrText.contains("kernels   adamw.cu: compiled in ") && bench.stderrText.contains(expected),
                "\(bench.stderrText)")
    }

    /// A bench under a diagnostic setting measures a slower backend than users run: it is not recorded for plans.
    @Test func aBenchUnderADiagnosticSettingIsNotRecorded() throws {
        let calibration = try TestPaths.temporaryDirectory("cli-cuda-diagnostic").path + "/calibration.json"
        let result = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16",
                                             "--steps", "1", "--warmup", "0", "--peak-flops", "1e12"],
                                 environment: EmulatedCUDA.environment.merging(["GPT2_CUDA_SYNC": "1", "GPT2_CALIBRATION": calibration]) { $1 })
        #expect(result.status == 0 && result.stderrText.contains("not recorded for gpt2 plan: measured with GPT2_CUDA_SYNC=1"), "\(result.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: calibration))
    }

    /// A misspelled diagnostic setting is refused, naming what it takes: `cuda_cores` ran the tensor-core kernels, and
    /// `GPT2_CUDA_GELU_KERNEL=true` the epilogue, while the user believed them switched off.
    @Test(arguments: [("GPT2_CUDA_ATTENTION", "cuda_cores", "use tensor-cores or cuda-cores"),
                      ("GPT2_CUDA_GELU_KERNEL", "true", "use 1 (on) or 0 (off)"), ("GPT2_CUDA_SYNC", "yes", "use 1 (on) or 0 (off)")])
    func aMisspelledDiagnosticSettingIsRefused(_ variable: String, _ value: String, _ expected: String) throws {
        let result = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16",
                                             "--steps", "1", "--warmup", "0", "--no-record", "--peak-flops", "1e12"],
                                 environment: EmulatedCUDA.environment.merging([variable: value]) { $1 })
        expectOneLineError(result, mentioning: "\(variable)=\(value) is not a setting it takes: \(expected)")
    }

    /// A misspelled emulator setting stops the emulator's cuInit, naming the setting and what it takes, as a misspelled
    /// diagnostic setting stops the backend: `GPT2_CUDA_EMULATOR_ORDER=reversed` ran the default schedule.
    @Test(arguments: [("GPT2_CUDA_EMULATOR_ORDER", "reversed", "the emulator's other schedule is reverse"),
                      ("GPT2_CUDA_EMULATOR_ARCH", "sm_70", "the emulator presents sm_80, sm_86, sm_89 or sm_90"),
                      ("GPT2_CUDA_EMULATOR_MEMORY_MIB", "1e3", "the device's memory in MiB must be a positive whole number")])
    func aMisspelledEmulatorSettingIsRefused(_ variable: String, _ value: String, _ expected: String) throws {
        let info = try runGPT2(arguments: ["info"], environment: EmulatedCUDA.environment.merging([variable: value]) { $1 })
        #expect(info.stdoutText.contains("cuda      unavailable: ") && info.stdoutText.contains("\(variable)=\(value): \(expected)"),
                "\(info.stdoutText)")
    }

    /// The `fusions` of a one-step bench's JSON on the emulator with the environment `switches`.
    private func fusions(_ switches: [String: String]) throws -> [String: String] {
        struct Bench: Decodable { var fusions: [String: String] }
        let result = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "32",
                                             "--steps", "1", "--warmup", "0", "--json", "--no-record", "--peak-flops", "1e12"],
                                 environment: EmulatedCUDA.environment.merging(switches) { $1 })
        try #require(result.status == 0, "\(result.stderrText)")
        return try JSONDecoder().decode(Bench.self, from: result.stdout).fusions
    }

    /// `gpt2 selftest cuda --shape TxHS` checks only the attention shapes named (what a GPU session runs under
    /// compute-sanitizer, where every shape costs minutes), on both kernel families; a malformed shape is refused.
    @Test func selftestChecksOnlyTheAttentionShapesNamed() throws {
        let result = try runGPT2(arguments: ["selftest", "cuda", "--only", "attention", "--shape", "17x32", "--threads", "2"],
                                 environment: EmulatedCUDA.environment)
        #expect(result.status == 0, "\(result.stdoutText)\(result.stderrText)")
        let sections = result.stdoutText.split(separator: "\n").filter { $0.hasPrefix("== ") }
        #expect(sections == ["== attention tensor-cores T=17 HS=32", "== attention cuda-cores T=17 HS=32"], "\(sections)")
        for bad in ["17by32", "64x256", "0x64"] {   // (256: beyond every attention kernel; it ran and reported a failed check)
            let malformed = try runGPT2(arguments: ["selftest", "cuda", "--only", "attention", "--shape", bad],
                                        environment: EmulatedCUDA.environment)
            #expect(malformed.status != 0 && malformed.stderrText.contains("--shape"), "\(bad): \(malformed.stderrText)")
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
    /// behind by every run of it) and kept when a check fails, saying where. Shown here by a failure: a training split too
    /// small for a batch fails at once, where a passing check trains for minutes on the emulator.
    @Test func selftestKeepsTheRunsOfAFailedTrainingCheckOnly() throws {
        let root = try TestPaths.temporaryDirectory("cli-selftest-work").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        try ShardWriter.write(Array(0..<100), to: root + "/data/small_train_000000.bin")
        try ShardWriter.write(Array(0..<100), to: root + "/data/small_val_000000.bin")
        let result = try runGPT2(arguments: ["selftest", "cuda", "--only", "training", "--data", root + "/data", "--work", root + "/work"],
                                 environment: EmulatedCUDA.environment)
        let kept = try #require(try FileManager.default.contentsOfDirectory(atPath: root + "/work").first, "\(result.stdoutText)")
        #expect(result.status == 1 && result.stdoutText.contains("FAIL  training")
                && result.stdoutText.contains("the training check's runs are kept in \(root)/work/\(kept)"), "\(result.stdoutText)")
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

    /// `gpt2 eval --json`'s validation loss for a run on `device`.
    private static func evalLoss(_ run: String, device: String) throws -> Double {
        struct Loss: Decodable { var loss: Double }
        let result = try runGPT2(arguments: ["eval", "--checkpoint", run, "--data", try ShakespeareShards.directory(),
                                             "--micro-batch", "2", "--seq", "32", "--batches", "2", "--json",
                                             "--device", device, "--threads", "2"],
                                 environment: EmulatedCUDA.environment)
        try #require(result.status == 0, "\(result.stderrText)")
        return try JSONDecoder().decode(Loss.self, from: result.stdout).loss
    }
}
