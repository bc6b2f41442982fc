/// The CLI on the CUDA backend: `train`, `eval`, `sample`, `plan` and `bench` with `--device cuda`, on the CUDA
/// emulator (no GPU needed): the GPU run's losses track the CPU's, its log and metrics carry GPU memory, a GPU
/// checkpoint resumes on the CPU, an unlisted device trains without a peak (MFU n/a) instead of refusing, and the
/// plan's memory is what bench measures. Finding CUDA is in CUDALibrarySetupTests; kernels and selftest in
/// KernelsAndSelftestCommandTests.

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
        // a GPU there whose backend cannot start (its driver refuses CUDA 13's kernels) names the same way on
        let cache = try TestPaths.temporaryDirectory("cli-resume-refused-kernels").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let refused = try runGPT2(arguments: ["train", "--resume", root + "/gpu", "--steps", "4"],
                                  environment: EmulatedCUDA.environment.merging(["GPT2_CUDA_EMULATOR_DRIVER_VERSION": "12040", "GPT2_KERNEL_CACHE": cache,
                                                                                 "GPT2_CUDA_EMULATOR_CUBLASLT_VERSION": "120402"]) { $1 })
        #expect(refused.status == 1 && refused.stderrText.contains("Error: this run trained on the GPU, and here its CUDA backend cannot start: "
                                                                   + "the NVIDIA driver refused the kernels")
                && refused.stderrText.hasSuffix("; continue it on the CPU with --device cpu\n"), "\(refused.stderrText)")
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
                                             "--temperature", "0", "--mirror", TestPaths.mirror.path, "--device", "cuda", "--threads", "2"],
                                 environment: EmulatedCUDA.environment)
        try #require(sample.status == 0, "\(sample.stderrText)")
        #expect(sample.stderrText.contains("--threads sets the CPU backend's worker threads; it has no effect with --device cuda"),
                "\(sample.stderrText)")
        #expect(sample.stdoutText.hasPrefix("ROMEO:") && sample.stdoutText.count > "ROMEO:\n".count, "\(sample.stdoutText)")
    }

    /// A --peak-flops given to a run on one device is not its MFU's peak on another (a CPU run's 1e11 made a GPU run's MFU
    /// 0.8 %, and the reverse); the device's own is, here none on the emulator (not in the table), which the resume says as a
    /// new run does, and on the CPU the threads'. A peak given at the resume is taken.
    @Test func aPeakGivenOnOneDeviceIsNotTakenOnAnother() throws {
        let root = try TestPaths.temporaryDirectory("cli-cuda-peak").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/run"
        func saved(_ step: Int) throws -> TrainingOptions { try Checkpoint.load(run + "/ckpt_\(step)", as: TrainerState.self).state.options }
        try #require(try runGPT2(arguments: try CLIFixtures.trainArguments(out: run, steps: 5, extra: ["--stop-after", "2", "--peak-flops", "1e11"])).status == 0)
        let onGPU = try runGPT2(arguments: ["train", "--resume", run, "--device", "cuda", "--stop-after", "3"], environment: EmulatedCUDA.environment)
        #expect(onGPU.status == 0 && onGPU.stderrText.contains("note: the --peak-flops the run started with was for cpu: on cuda, MFU is "
                                                               + "against cuda's own peak (--peak-flops gives another)")
                && onGPU.stderrText.contains("note: this GPU is not in gpt2's table, so MFU is not reported") && onGPU.stderrText.contains("MFU n/a"),
                "\(onGPU.stderrText)")
        #expect(try saved(3).peakFLOPs == nil && saved(3).peakFLOPsGiven == false)
        let back = try runGPT2(arguments: ["train", "--resume", run, "--device", "cpu", "--threads", "2", "--stop-after", "4"])
        #expect(back.status == 0 && !back.stderrText.contains("note: the --peak-flops"), "\(back.stderrText)")
        #expect(try saved(4).peakFLOPs == FLOPCount.cpuPeak(threads: 2))
        let given = try runGPT2(arguments: ["train", "--resume", run, "--device", "cuda", "--peak-flops", "2e12"], environment: EmulatedCUDA.environment)
        #expect(given.status == 0 && !given.stderrText.contains("MFU n/a"), "\(given.stderrText)")
        #expect(try saved(5).peakFLOPs == 2e12 && saved(5).peakFLOPsGiven == true)
    }

    /// On a GPU not in the table (the emulator is one), the plan still gives its memory table and verdict, and says
    /// the time needs --peak-flops (it refused to plan at all), as a bench says it for MFU. Once a bench there was given
    /// --peak-flops, the plan takes the peak it recorded (it asked for it again), and its step time is the one that
    /// bench measured; later benches and runs there measure their MFU against it.
    @Test func anUnlistedGPUNeedsItsPeakOnce() throws {
        let folder = try TestPaths.temporaryDirectory("cli-cuda-unlisted").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let calibration = folder + "/calibration.json"
        let environment = EmulatedCUDA.environment.merging(["GPT2_CALIBRATION": calibration]) { $1 }
        let arguments = ["plan", "--device", "cuda", "--model", "tiny", "--micro-batch", "2", "--seq", "32", "--steps", "10"]
        let text = try runGPT2(arguments: arguments, environment: environment)
        try #require(text.status == 0, "\(text.stderrText)")
        #expect(text.stdoutText.contains("verdict: fits") && text.stdoutText.contains("is not in the GPU table, so its peak is unknown: "
                                                                                        + "pass --peak-flops (dense BF16 FLOP/s) for the time"),
                "\(text.stdoutText)")
        let json = try runGPT2(arguments: arguments + ["--json"], environment: environment)
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any], "\(json.stdoutText)")
        #expect(object["fits"] as? Bool == true && object["step_seconds"] is NSNull && object["tokens_per_step"] as? Int == 64)
        // what does not depend on the peak is there all the same (steps, tokens and FLOPs per token were null)
        #expect(object["steps"] as? Int == 10 && object["total_tokens"] as? Int == 640 && object["flops_per_token"] as? Double ?? 0 > 0,
                "\(json.stdoutText)")
        let timed = try runGPT2(arguments: arguments + ["--json", "--peak-flops", "1e12"], environment: environment)
        #expect((try JSONSerialization.jsonObject(with: timed.stdout) as? [String: Any])?["step_seconds"] as? Double ?? 0 > 0)

        let benchArguments = ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "2", "--seq", "32",
                              "--steps", "1", "--warmup", "0"]
        let unknown = try runGPT2(arguments: benchArguments, environment: environment)
        #expect(unknown.status == 0 && unknown.stdoutText.contains("MFU n/a")
                && unknown.stderrText.contains("pass --peak-flops to record it with the MFU and device overhead (plans, benches and runs here then use it)"),
                "\(unknown.stdoutText)\(unknown.stderrText)")
        let bench = try runGPT2(arguments: benchArguments + ["--peak-flops", "2e12", "--json"], environment: environment)
        let measured = try #require(try JSONSerialization.jsonObject(with: bench.stdout) as? [String: Any], "\(bench.stderrText)")
        let recorded = try runGPT2(arguments: arguments + ["--json"], environment: environment)
        let planned = try #require(try JSONSerialization.jsonObject(with: recorded.stdout) as? [String: Any], "\(recorded.stderrText)")
        #expect(planned["peak_flops"] as? Double == 2e12, "\(planned)")
        let (stepSeconds, benchSeconds) = (planned["step_seconds"] as? Double ?? 0, (measured["step_ms"] as? Double ?? 0) / 1000)
        #expect(abs(stepSeconds - benchSeconds) <= 1e-6 * benchSeconds, "plan \(stepSeconds) s, bench \(benchSeconds) s")
        let said = try runGPT2(arguments: arguments, environment: environment).stdoutText
        #expect(said.contains("time: 2.0 TFLOP/s peak (as given to gpt2 bench) × MFU") && said.contains("calibrated by gpt2 bench tiny B=2 T=32"),
                "\(said)")
        // and a later bench (as train) there measures its MFU against that peak without being given it
        let again = try runGPT2(arguments: benchArguments + ["--json", "--no-record"], environment: environment)
        let remeasured = try #require(try JSONSerialization.jsonObject(with: again.stdout) as? [String: Any], "\(again.stderrText)")
        #expect(remeasured["peak_flops"] as? Double == 2e12 && remeasured["mfu"] as? Double ?? 0 > 0, "\(remeasured)")
    }

    /// A diverging run on the GPU stops as on the CPU (TrainCommandTests), its loss read back from the device as it
    /// is: at --lr 1e10 the second step's loss is NaN, and a reduction that passed over NaN rows would leave the
    /// run to the gradient norm's check instead.
    @Test func aDivergingRunStopsOnTheGPUToo() throws {
        try CLIFixtures.expectDivergingRunStops(learningRate: "1e10", saying: "the loss became NaN at step", device: "cuda",
                                                environment: EmulatedCUDA.environment)
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
    /// And the other way round: calibrated beside them, the plan on the device they have left counts none of their
    /// 24 MiB (the bench records what was in use when it opened the device, apart from what it measured beyond that),
    /// and beside 40 MiB of others, those 40.
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
        #expect([onEmpty, besideOthers].allSatisfy { $0.device_overhead_source == "in_use_at_open_and_calibrated" })
        #expect(besideOthers.max_micro_batch < onEmpty.max_micro_batch)
        let table = try plan(busy, json: false).stdoutText
        #expect(table.contains("in use on the device when gpt2 opened it (CUDA context, other processes)"), "\(table)")

        let auto = try bench("auto", busy)
        try #require(auto.status == 0, "\(auto.stderrText)")
        let largest = try JSONDecoder().decode(Bench.self, from: auto.stdout)
        #expect(largest.micro_batch == besideOthers.max_micro_batch && largest.device_memory_bytes <= 128 << 20, "\(largest)")
        let oneMore = try bench("\(largest.micro_batch + 1)", busy)
        #expect(oneMore.status != 0 && oneMore.stderrText.contains("out of memory"), "\(oneMore.stderrText)")

        let calibratedBeside = try bench("1", busy, record: true)
        try #require(calibratedBeside.status == 0, "\(calibratedBeside.stderrText)")
        #expect(calibratedBeside.stderrText.contains("recorded MFU ") && calibratedBeside.stderrText.contains(
            " and device overhead 24.0 MiB (beside 24.0 MiB in use when the bench opened the device) for gpt2 plan in \(calibration)"),
                "with --json too: \(calibratedBeside.stderrText)")
        let busier = empty.merging(["GPT2_CUDA_EMULATOR_MEMORY_IN_USE_MIB": "40"]) { $1 }
        for (environment, others) in [(empty, 0), (busy, 24), (busier, 40)] {
            let counted = try JSONDecoder().decode(Plan.self, from: try plan(environment).stdout)
            #expect(counted.memory["cuda_context"] == others << 20 && counted.device_overhead_source == "in_use_at_open_and_calibrated",
                    "\(others) MiB of others now, 24 during the bench: \(counted)")
        }
        // Where nothing fits, the refusal names what others hold (it said "use a smaller model" once a bench had recorded
        // the overhead), or, uncalibrated, that the context's 400 MiB is an estimate a bench measures.
        let train = ["train", "--device", "cuda", "--micro-batch", "1", "--steps", "1", "--out", calibration + "-run"] + shape
        for (environment, phrase) in [
            (["GPT2_CUDA_EMULATOR_MEMORY_IN_USE_MIB": "110"], "110.0 MiB of the device was in use when gpt2 opened it (its own CUDA context, "
                + "and other programs: a desktop, another run): free what other programs hold, or use a smaller model\n"),
            (["GPT2_CALIBRATION": calibration + "-none"], "and the CUDA context's 400.0 MiB (an estimate: gpt2 bench --device cuda measures it "
                + "on this kind of device, for the plans after it) leave no room for one token: use a smaller model\n"),
        ] {
            let refused = try runGPT2(arguments: train, environment: empty.merging(environment) { $1 })
            #expect(refused.status == 1 && refused.stderrText.hasSuffix(phrase), "\(refused.stderrText)")
        }
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

    /// eval plans its memory before allocating, as train does: on a device too small for the micro-batch it says what to
    /// change instead of passing on the driver's out-of-memory error: a micro-batch that fits (which then runs), and
    /// where none does, not a micro-batch at all (nor training's --grad-accum or --recompute).
    @Test func evalThatDoesNotFitSaysWhatToChange() throws {
        func eval(microBatch: Int, memoryMiB: Int) throws -> CommandResult {
            try runGPT2(arguments: ["eval", "--checkpoint", try CLIFixtures.trainedRun(), "--data", try ShakespeareShards.directory(),
                                    "--batches", "1", "--micro-batch", String(microBatch), "--seq", "64", "--device", "cuda"],
                        environment: EmulatedCUDA.environment.merging(["GPT2_CUDA_EMULATOR_MEMORY_MIB": String(memoryMiB)]) { $1 })
        }
        // (520 MiB: the CUDA context's 400 MiB estimate, the tiny model, and micro-batches of a dozen or so)
        let result = try eval(microBatch: 256, memoryMiB: 520)
        #expect(result.status == 1 && result.stderrText.contains("Error: evaluating micro-batches of 256 × seq 64 does not fit"),
                "\(result.stderrText)")
        let offered = result.stderrText.firstMatch(of: /use --micro-batch (\d+)\n/).flatMap { Int($0.1) }
        let fitting = try #require(offered, "\(result.stderrText)")
        #expect(fitting < 256)
        let smaller = try eval(microBatch: fitting, memoryMiB: 520)
        #expect(smaller.status == 0, "\(smaller.stderrText)")
        let nothing = try eval(microBatch: 1, memoryMiB: 2)
        #expect(nothing.status == 1 && nothing.stderrText.contains("does not fit") && nothing.stderrText.contains("use a smaller model")
                && !nothing.stderrText.contains("--micro-batch") && !nothing.stderrText.contains("--grad-accum")
                && !nothing.stderrText.contains("--recompute") && !nothing.stderrText.contains("gradients")
                && nothing.stderrText.contains("or run it on the CPU with --device cpu"), "\(nothing.stderrText)")
        #expect(!result.stderrText.contains("--device cpu"), "a micro-batch fits there: \(result.stderrText)")
    }

    /// sample plans its memory too (the context's keys and values are its cache), and says so when it does not fit.
    @Test func sampleThatDoesNotFitSaysSo() throws {
        let result = try runGPT2(arguments: ["sample", "--checkpoint", try CLIFixtures.trainedRun(), "--tokens", "4", "--device", "cuda"],
                                 environment: EmulatedCUDA.environment.merging(["GPT2_CUDA_EMULATOR_MEMORY_MIB": "8"]) { $1 })
        #expect(result.status == 1 && result.stderrText.contains("Error: sampling from this model (a context of ")
                && result.stderrText.contains("does not fit") && result.stderrText.contains("--device cpu"), "\(result.stderrText)")
    }

    /// A bench under a diagnostic setting measures a slower backend than users run: it is not recorded for plans; and
    /// every command on the GPU names the settings in effect.
    @Test func aBenchUnderADiagnosticSettingIsNotRecorded() throws {
        let calibration = try TestPaths.temporaryDirectory("cli-cuda-diagnostic").path + "/calibration.json"
        let result = try runGPT2(arguments: ["bench", "--device", "cuda", "--model", "tiny", "--micro-batch", "1", "--seq", "16",
                                             "--steps", "1", "--warmup", "0", "--peak-flops", "1e12"],
                                 environment: EmulatedCUDA.environment.merging(["GPT2_CUDA_SYNC": "1", "GPT2_CALIBRATION": calibration]) { $1 })
        #expect(result.status == 0 && result.stderrText.contains("not recorded for gpt2 plan: measured with GPT2_CUDA_SYNC=1"), "\(result.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: calibration))
        // and every command on the GPU says which are in effect (a run under them, left set after a diagnosis, said nothing)
        let sample = try runGPT2(arguments: ["sample", "--checkpoint", try CLIFixtures.trainedRun(), "--tokens", "2", "--device", "cuda",
                                             "--mirror", TestPaths.mirror.path],
                                 environment: EmulatedCUDA.environment.merging(["GPT2_CUDA_SYNC": "1", "GPT2_CUDA_ATTENTION": "cuda-cores"]) { $1 })
        #expect(sample.status == 0 && sample.stderrText.contains("note: diagnostic settings in effect: GPT2_CUDA_SYNC=1, "
                                                                 + "GPT2_CUDA_ATTENTION=cuda-cores; every step is slower than without"), "\(sample.stderrText)")
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
