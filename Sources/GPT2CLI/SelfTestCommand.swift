/// `gpt2 selftest cuda`: the CUDA backend's parity checks against the CPU reference, run from the
/// static binary on a GPU machine that has no Swift toolchain; the same checks CUDABackendTests run.

import ArgumentParser
import CPUBackend
import CUDABackend
import CUDAParity
import GPT2

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

struct SelfTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check the CUDA backend against the CPU reference on this machine's GPU.",
        discussion: """
            Examples:
              gpt2 selftest cuda            # every check; see gpt2 selftest cuda --help
              gpt2 selftest cuda --only ops
            """,
        subcommands: [SelfTestCUDACommand.self])
}

struct SelfTestCUDACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cuda",
        abstract: "CUDA-vs-CPU parity: every op, attention shapes, the whole model, training, resume.",
        discussion: """
            Prints PASS/FAIL per check with the measured errors and exits non-zero on any failure. \
            The training checks need tokenised tinyshakespeare (--data, a folder of *_train_*.bin and \
            *_val_*.bin shards, e.g. from `gpt2 prepare`); without it they are skipped.

            Examples:
              gpt2 selftest cuda
              GPT2_CUDA_SYNC=1 gpt2 selftest cuda --only ops
              compute-sanitizer --tool racecheck \\
                gpt2 selftest cuda --only attention --shape 256x64
              gpt2 selftest cuda --data data/tinyshakespeare --work /tmp/selftest
            """)

    enum Group: String, ExpressibleByArgument, CaseIterable {
        case ops, attention, model, training, resume

        /// Whether the group trains on --data, in a run folder of its own under --work (`training-PID`).
        var trains: Bool { self == .training || self == .resume }
    }

    @Option(help: "Run only these groups (repeatable): \(Group.allCases.map(\.rawValue).joined(separator: ", ")).")
    var only: [Group] = []

    @Option(help: "Attention shapes to check, as TxHS with HS at most 128 (repeatable; default: T 1, 17, 33, 64, 65, 256, 1024 × HS 16, 32, 64, 128).")
    var shape: [AttentionShape] = []

    @Option(help: "Tokenised tinyshakespeare shards for the training and resume checks.")
    var data: String?

    @Option(help: "Folder for the training checks' runs and checkpoints (removed when the checks pass; kept, as NAME-PID-failed, when one fails).")
    var work = "/tmp/gpt2-selftest"

    @Option(help: "CPU worker threads for the reference (0 = one per core).")
    var threads = 0

    func run() throws {
        // One line at a time even into a pipe or file: a GPU fault ends the process in fatalError, which does
        // not flush stdio, and the PASS/FAIL lines printed before it are the ones that locate the fault.
        setvbuf(stdout, nil, _IOLBF, 0)
        try checkOptions()
        if let problem = CUDAAvailability.problem() { throw ValidationError("no usable CUDA device: \(problem)") }
        let gpu = try BackendOptions.makeCUDABackend()
        let cpu = CPUBackend(threads: threads)
        let groups = only.isEmpty ? Group.allCases : only
        let log: (String) -> Void = { print($0) }
        var results = CheckResults()
        if groups.contains(.ops) { results.section("ops") { try CUDAParity.ops(cpu: cpu, gpu: gpu, log: log) } }
        if groups.contains(.attention) { runAttentionChecks(cpu: cpu, gpu: gpu, log: log, into: &results) }
        if groups.contains(.model) { results.section("model") { try CUDAParity.model(cpu: cpu, gpu: gpu, log: log) } }
        try runTrainingChecks(Group.allCases.filter { $0.trains && groups.contains($0) }, cpu: cpu, gpu: gpu, log: log, into: &results)
        let failures = results.failures
        guard !results.all.isEmpty else { throw ValidationError("no check ran: every group asked for was skipped (see the SKIP lines)") }
        print("\(results.all.count - failures.count)/\(results.all.count) checks passed")
        for failure in failures { print(failure) }
        if !failures.isEmpty { throw ExitCode.failure }
    }

    /// Refuses what would make a check not run: a training group without --data (or a --data that holds no shards, found
    /// before the other groups have run), and an option for a group that does not run (ignored, the check it asks for
    /// would never be made).
    private func checkOptions() throws {
        if data == nil, let group = only.first(where: \.trains) {
            throw ValidationError("--only \(group.rawValue) needs --data, a folder of tinyshakespeare shards (gpt2 prepare writes one)")
        }
        try WorkerThreads.require(threads)
        if !shape.isEmpty && !only.isEmpty && !only.contains(.attention) {
            throw ValidationError("--shape chooses the attention checks' shapes: add --only attention, or drop --shape")
        }
        if let data {
            if !only.isEmpty && !only.contains(where: \.trains) {
                throw ValidationError("--data \(data) is for the training and resume checks: add --only training or --only resume, or drop --data")
            }
            let training = ShardSelection.split(directory: data, split: "train")
            if training.paths().isEmpty { throw ValidationError("--data: \(DataLoaderError.noShards(selection: training.description))") }
        }
    }

    /// Both attention kernel families at each shape (--shape, else `CUDAParity.attentionShapes`); a shape this device runs
    /// on the other family is skipped with the reason.
    private func runAttentionChecks(cpu: CPUBackend, gpu: CUDABackend, log: @escaping (String) -> Void, into results: inout CheckResults) {
        let shapes = shape.isEmpty ? CUDAParity.attentionShapes : shape.map { (T: $0.T, HS: $0.HS) }
        for kernels in AttentionKernels.allCases {
            for (T, HS) in shapes {
                let title = "attention \(kernels.rawValue) T=\(T) HS=\(HS)"
                guard CUDAParity.attentionKernels(kernels, HS: HS, on: gpu) == kernels else {
                    let reason = TensorCoreAttention.headSizes.contains(HS)
                        ? "this device runs head size \(HS) on the CUDA-core kernels (shared memory per block up to "
                            + "\(gpu.properties.maxSharedMemoryPerBlockOptIn / 1024) KiB)"
                        : "the tensor-core kernels are built for head sizes \(TensorCoreAttention.headSizes.map(String.init).joined(separator: ", ")) "
                            + "only; the CUDA-core kernels run \(HS)"
                    print("SKIP  \(title): \(reason)")
                    continue
                }
                results.section(title) { try CUDAParity.attention(T: T, HS: HS, kernels: kernels, cpu: cpu, gpu: gpu, log: log) }
            }
        }
    }

    /// The training and resume checks (`groups`), each in a run folder of its own under --work, removed when it passes and
    /// kept as NAME-PID-failed when it fails; first, the folders of self-tests that did not finish are removed.
    private func runTrainingChecks(_ groups: [Group], cpu: CPUBackend, gpu: CUDABackend, log: @escaping (String) -> Void,
                                   into results: inout CheckResults) throws {
        guard !groups.isEmpty else { return }
        guard let data else {
            for group in groups { print("SKIP  \(group) (no --data folder of tinyshakespeare shards)") }
            return
        }
        for folder in unfinishedRuns() {
            try FileSystem.removeTree(folder)
            print("      removed \(folder), the runs of a self-test that did not finish")
        }
        for group in groups {
            let folder = "\(work)/\(group)-\(FileSystem.processID)"
            let created = FileSystem.missingDirectories(folder)
            guard FileSystem.makeDirectories(folder) else { throw ValidationError("cannot create \(folder)") }
            let failuresBefore = results.failures.count
            results.section(group.rawValue) {
                group == .training
                    ? try CUDAParity.training(dataDirectory: data, workDirectory: folder, cpu: cpu, gpu: gpu, log: log)
                    : try CUDAParity.resume(dataDirectory: data, workDirectory: folder, cpu: cpu, gpu: gpu, log: log)
            }
            // The runs' checkpoints take tens of MB each, every time the self-test runs: kept only to diagnose a failure.
            if results.failures.count > failuresBefore {
                let kept = folder + Self.failedSuffix   // (not taken for an unfinished run's by a later self-test)
                print("      the \(group) check's runs are kept in \(rename(folder, kept) == 0 ? kept : folder)")
            } else {
                try FileSystem.removeTree(folder)
                FileSystem.removeEmptyDirectories(Array(created.dropFirst()))
            }
        }
    }

    /// What a failed check's run folder is renamed with: `training-PID-failed`.
    static let failedSuffix = "-failed"

    /// The run folders in `work` (`training-PID`, `resume-PID`) of self-tests that ended before they could remove them
    /// (Ctrl-C, a kill, a GPU fault): their process is gone, and no failed check kept them. Tens of MB each, in /tmp by
    /// default.
    func unfinishedRuns() -> [String] {
        (FileSystem.contents(of: work) ?? []).compactMap { name in
            let parts = name.split(separator: "-", maxSplits: 1)
            guard parts.count == 2, Group(rawValue: String(parts[0]))?.trains == true, let pid = Int32(parts[1]), pid > 0,
                  !FileSystem.isRunning(pid) else { return nil }
            return FileSystem.join(work, name)
        }
    }
}

/// The self-test's results as the groups run, each group's checks printed under its `== title` line.
struct CheckResults {
    private(set) var all: [ParityResult] = []
    var failures: [ParityResult] { all.filter { !$0.passed } }

    /// Runs one group of checks under a heading; a group that throws counts as one failed check, and the next runs.
    mutating func section(_ title: String, _ body: () throws -> [ParityResult]) {
        print("== \(title)")
        do {
            all += try body()
        } catch {
            let failed = ParityResult(name: title, passed: false, detail: "threw: \(error)")
            print(failed)
            all.append(failed)
        }
    }
}

/// One attention shape for `--shape`: sequence length and head size, written `256x64`.
struct AttentionShape: ExpressibleByArgument {
    var T: Int, HS: Int

    init?(argument: String) {
        let parts = argument.split(separator: "x", omittingEmptySubsequences: false)
        // (head sizes beyond 128 are beyond every attention kernel: refused here, not reported as a failed check)
        guard parts.count == 2, let T = Int(parts[0]), let HS = Int(parts[1]), (1...65536).contains(T), (1...128).contains(HS) else { return nil }
        (self.T, self.HS) = (T, HS)
    }
}
