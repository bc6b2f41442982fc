/// The CUDA backend against the CPU reference, through the shared checks of CUDAParity (the same ones
/// `gpt2 selftest cuda` runs): every op, attention over T and head sizes, the whole model, training, resume.
/// On a machine without a GPU they run on the CUDA emulator: the same kernels and host code, on the CPU.

import CCUDA
import Foundation
@testable import CPUBackend
@testable import CUDABackend
@testable import CUDAParity
import GPT2
import GPT2TestSupport
import Testing

/// One backend per process: loading the kernels costs a second, the device's context lives on.
enum ParityBackends {
    static let gpu: CUDABackend? = try? CUDABackend(paths: CUDATestEnvironment.paths)
    static let cpu = CPUBackend()
}

/// Fails the test once per failed check, naming it with its measured errors.
func expectAllPass(_ results: [ParityResult], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(!results.isEmpty, "no checks ran", sourceLocation: sourceLocation)
    for result in results where !result.passed {
        Issue.record("\(result)", sourceLocation: sourceLocation)
    }
}

@Suite(.enabled(if: CUDATestEnvironment.hasDevice, CUDATestEnvironment.deviceSkipReason), .serialized)
struct CUDAParityTests {
    @Test func backendStarts() throws {
        #expect(ParityBackends.gpu != nil, "CUDABackend() failed: \(String(describing: Result { try CUDABackend(paths: CUDATestEnvironment.paths) }))")
    }

    @Test func everyOpMatchesTheCPU() throws {
        let gpu = try #require(ParityBackends.gpu)
        expectAllPass(try CUDAParity.ops(cpu: ParityBackends.cpu, gpu: gpu))
    }

    @Test(arguments: AttentionKernels.allCases, CUDAParity.attentionShapes.map { [$0.T, $0.HS] })
    func attentionMatchesTheCPU(kernels: AttentionKernels, shape: [Int]) throws {
        let gpu = try #require(ParityBackends.gpu)
        expectAllPass(try CUDAParity.attention(T: shape[0], HS: shape[1], kernels: kernels, cpu: ParityBackends.cpu, gpu: gpu))
    }

    /// Both attention kernel families launch for the largest micro-batch any command accepts: they put the batch in the
    /// grid's z, which CUDA caps at 65,535 blocks (`bench --micro-batch auto` picked 65,536 for the tiny model at a short
    /// --seq, and the forward stopped on the launch). With one key per query, of score 0, the log-sum-exp is 0.
    @Test(arguments: AttentionKernels.allCases)
    func attentionLaunchesForTheLargestMicroBatch(kernels: AttentionKernels) throws {
        let gpu = try #require(ParityBackends.gpu)
        let chosen = gpu.attentionKernels
        gpu.attentionKernels = kernels
        defer { gpu.attentionKernels = chosen }
        let (B, T, NH, C) = (Layout.maximumBatchSize, 1, 1, 16)
        let model = try GPT2Model(config: ModelConfig(maxSequenceLength: T, vocabularySize: 64, layers: 1, heads: NH, channels: C),
                                  backend: gpu, batchSize: B, sequenceLength: T)
        let layout = model.layout
        let qkv = layout.activation(.qkv), out = layout.activation(.atty), stats = layout.activation(.attStats)
        let zeros = [Float](repeating: 0, count: qkv.count)
        zeros.withUnsafeBytes { gpu.upload($0, to: qkv) }
        gpu.attentionForward(out: out, stats: stats, qkv: qkv, B: B, T: T, C: C, NH: NH)
        gpu.synchronize()
        var lse = [Float](repeating: .nan, count: stats.count)
        lse.withUnsafeMutableBytes { gpu.download(stats, into: $0) }
        #expect(lse.allSatisfy { $0 == 0 }, "\(lse.first { $0 != 0 } ?? 0)")
    }

    /// Where cuBLASLt has no GEMM with an epilogue (the emulator refuses one on request: the bias, the GELU forward's,
    /// the GELU gradient's or the weight gradient's BGRADB), the backend carries out that part with its own kernels
    /// from then on, and every op still matches.
    @Test(.enabled(if: CUDATestEnvironment.isEmulated, "only the emulator can be made to refuse an epilogue"),
          arguments: [CCUBLASLT_EPILOGUE_BIAS, CCUBLASLT_EPILOGUE_GELU_AUX_BIAS, CCUBLASLT_EPILOGUE_DGELU, CCUBLASLT_EPILOGUE_BGRADB])
    func aRefusedEpilogueFallsBackToKernels(epilogue: Int) throws {
        let gpu = try CUDABackend(paths: CUDATestEnvironment.paths)   // its own GEMM plans and fallback state
        try CUDATestEnvironment.refuseEmulatedEpilogue(UInt32(epilogue))
        defer { try? CUDATestEnvironment.refuseEmulatedEpilogue(0) }
        let switches = { [gpu.separateBiasKernel, gpu.separateGeluKernels, gpu.separateBiasGradientKernels] }
        #expect(switches() == [false, false, false], "the epilogues are the default")
        let results = try CUDAParity.ops(cpu: ParityBackends.cpu, gpu: gpu)
        expectAllPass(results)
        let expected = switch epilogue {
        case CCUBLASLT_EPILOGUE_BIAS: [true, false, false]
        case CCUBLASLT_EPILOGUE_BGRADB: [false, false, true]
        default: [false, true, false]   // either GELU epilogue: the GELU kernels, forward and backward
        }
        #expect(switches() == expected, "the backend fell back to the kernels of the refused epilogue, and no others")
        if epilogue == CCUBLASLT_EPILOGUE_BGRADB {
            #expect(!results.contains { $0.name.contains("GEMM epilogue") }, "no check claims the epilogue ran")
        }
    }

    /// The heuristic may say it has no algorithm in three ways (cublasLt.h): CUBLAS_STATUS_NOT_SUPPORTED, success with
    /// no result, or success with results whose `state` is not success, which are no algorithms to run. Each makes the
    /// backend add the bias with its kernel, and the product still matches the CPU's.
    @Test(.enabled(if: CUDATestEnvironment.isEmulated, "only the emulator can be made to refuse an epilogue"), arguments: [0, 1, 2])
    func everyWayOfFindingNoAlgorithmFallsBack(form: Int32) throws {
        let gpu = try CUDABackend(paths: CUDATestEnvironment.paths)
        try CUDATestEnvironment.refuseEmulatedEpilogue(UInt32(CCUBLASLT_EPILOGUE_BIAS))
        try CUDATestEnvironment.setEmulatedRefusalForm(form)
        defer {
            try? CUDATestEnvironment.refuseEmulatedEpilogue(0)
            try? CUDATestEnvironment.setEmulatedRefusalForm(0)
        }
        let config = ModelConfig(maxSequenceLength: 16, vocabularySize: 64, layers: 1, heads: 2, channels: 32)
        let twins = try TwinModels(config: config, cpu: ParityBackends.cpu, gpu: gpu, B: 2, T: 16)
        let (layout, B, T, C) = twins.shape
        let (ln, qkv, qkvw, qkvb) = (layout.activation(.ln1), layout.activation(.qkv), layout.parameter(.qkvw), layout.parameter(.qkvb))
        twins.fillRandom(ln)
        twins.fillRandom(qkvw, std: 0.05)
        twins.fillRandom(qkvb, std: 0.5)
        twins.cpu.backend.matmulForward(out: qkv, inp: ln, weight: qkvw, bias: qkvb, B: B, T: T, C: C, OC: 3 * C)
        try gpu.attemptMatmulForward(out: qkv, inp: ln, weight: qkvw, bias: qkvb, B: B, T: T, C: C, OC: 3 * C)   // throws, not stops
        #expect(gpu.separateBiasKernel, "form \(form): taken for no algorithm, the bias added by the kernel")
        let comparison = twins.compare(qkv)
        #expect(comparison.relativeL2 <= Tolerance.twoRoundings, "form \(form): \(comparison.summary)")
    }

    /// A GEMM that fails for any other reason (the emulator fails the next matmul on request, as a GPU's cuBLASLt does
    /// after a fault) is reported as it is: the backend does not take it for a missing epilogue algorithm and switch to
    /// its kernels, whose launch would then be blamed for the fault.
    @Test(.enabled(if: CUDATestEnvironment.isEmulated, "only the emulator can be made to fail a GEMM"))
    func aFailingGEMMIsReportedNotTakenForAMissingEpilogue() throws {
        let gpu = try CUDABackend(paths: CUDATestEnvironment.paths)
        let config = ModelConfig(maxSequenceLength: 16, vocabularySize: 64, layers: 1, heads: 2, channels: 32)
        let (B, T, C) = (2, 16, 32)
        let layout = try GPT2Model(config: config, backend: gpu, batchSize: B, sequenceLength: T).layout
        func gradient(_ kind: ParameterKind) -> TensorRef { layout.parameter(kind, in: .gradients) }
        let fusedGEMMs: [(name: String, run: () throws -> Void)] = [
            ("bias epilogue", {
                try gpu.attemptMatmulForward(out: layout.activation(.qkv), inp: layout.activation(.ln1), weight: layout.parameter(.qkvw),
                                             bias: layout.parameter(.qkvb), B: B, T: T, C: C, OC: 3 * C)
            }),
            ("GELU forward epilogue", {
                try gpu.attemptMatmulGeluForward(out: layout.activation(.fchGelu), preActivation: layout.activation(.fch),
                                                 inp: layout.activation(.ln2), weight: layout.parameter(.fcw), bias: layout.parameter(.fcb),
                                                 B: B, T: T, C: C, OC: 4 * C)
            }),
            ("GELU gradient epilogue", {
                try gpu.attemptMatmulBackwardGelu(dinp: layout.activationGradient(.fch), dweight: gradient(.fcprojw), dbias: gradient(.fcprojb),
                                                  dout: layout.activationGradient(.residual), inp: layout.activation(.fchGelu),
                                                  weight: layout.parameter(.fcprojw), geluInput: layout.activation(.fch),
                                                  B: B, T: T, C: 4 * C, OC: C)
            }),
            ("bias-gradient epilogue", {
                try gpu.attemptWeightAndBiasGradients(dweight: gradient(.qkvw), dbias: gradient(.qkvb), dout: layout.activationGradient(.qkv),
                                                      inp: layout.activation(.ln1), B: B, T: T, C: C, OC: 3 * C)
            }),
        ]
        for gemm in fusedGEMMs {
            try CUDATestEnvironment.failNextEmulatedMatmul(status: Int32(CCUBLAS_STATUS_EXECUTION_FAILED))
            defer { try? CUDATestEnvironment.failNextEmulatedMatmul(status: 0) }
            let error = #expect(throws: CUDAError.self, "the GEMM with the \(gemm.name) reports the matmul's failure") { try gemm.run() }
            if let error {
                guard case .library(let call, let message) = error else {
                    Issue.record("the \(gemm.name)'s GEMM threw \(error)")
                    continue
                }
                #expect(call.hasPrefix("cublasLtMatmul(") && message.contains("CUBLAS_STATUS_EXECUTION_FAILED"), "\(error)")
            }
            let switches = [gpu.separateBiasKernel, gpu.separateGeluKernels, gpu.separateBiasGradientKernels]
            #expect(switches == [false, false, false], "the \(gemm.name)'s failure switched on no fallback")
            (gpu.separateBiasKernel, gpu.separateGeluKernels, gpu.separateBiasGradientKernels) = (false, false, false)   // (for the next)
        }
    }

    /// The twins hold the same values on both backends (rounded to bf16 on the CPU too, where the GPU stores bf16), and
    /// `compare` sets the GPU's values against the CPU's: identical after `fill`, and off by exactly 2 in relative L2
    /// error once the GPU's are negated (|−c − c| = 2|c| in every element).
    @Test func twinsCompareTheGPUWithTheCPU() throws {
        let gpu = try #require(ParityBackends.gpu)
        let config = ModelConfig(maxSequenceLength: 16, vocabularySize: 64, layers: 1, heads: 2, channels: 32)
        let twins = try TwinModels(config: config, cpu: ParityBackends.cpu, gpu: gpu, B: 2, T: 16)
        let tensor = twins.layout.activation(.ln1)   // bf16 on the GPU
        let values = (0..<tensor.count).map { Float($0) * 0.001 + 0.0003 }   // most of them not bf16 numbers
        twins.fill(tensor, values)
        #expect(twins.compare(tensor).maxAbsolute == 0, "the CPU holds the values the GPU stores")
        twins.gpu.upload(twins.cpu.download(tensor).map { -$0 }, to: tensor)
        #expect(abs(twins.compare(tensor).relativeL2 - 2) < 1e-12, "\(twins.compare(tensor).summary)")
    }

    @Test func wholeModelStepMatchesTheCPU() throws {
        let gpu = try #require(ParityBackends.gpu)
        expectAllPass(try CUDAParity.model(cpu: ParityBackends.cpu, gpu: gpu))
    }

    /// The emulated cuBLASLt runs on the CPU beside the CPU backend, which sets OpenBLAS's thread count (one setting
    /// for the process) for each of its own ops, and OpenBLAS's GEMMs give other last bits on 1 and 2 threads (on Intel
    /// CPUs for k > ~384, on AMD Zen for k as short as 8): a GPU run must not change by a bit with what the CPU backend
    /// beside it last did (the exact-resume check depends on it). B·T = 500 makes every weight-gradient GEMM's k 500.
    @Test(.enabled(if: CUDATestEnvironment.isEmulated, "only the emulator's GEMMs run on the CPU, beside OpenBLAS's"))
    func emulatedGradientsDoNotDependOnOpenBLASThreads() throws {
        let gpu = try #require(ParityBackends.gpu)
        let config = ModelConfig(maxSequenceLength: 64, vocabularySize: 1000, layers: 1, heads: 4, channels: 128)
        let (B, T) = (10, 50)
        let model = try GPT2Model(config: config, backend: gpu, batchSize: B, sequenceLength: T)
        model.initializeParameters(seed: 11)
        var random = SeededRandom(seed: 12)
        let inputs = (0..<(B * T)).map { _ in Int32(random.nextInt(below: config.vocabularySize)) }
        let targets = (0..<(B * T)).map { _ in Int32(random.nextInt(below: config.vocabularySize)) }
        func gradients(blasThreads: Int) -> [Float] {
            BLASThreads.shared.using(blasThreads) {
                model.zeroGradients()
                _ = model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, lossScale: 1 / Float(B * T))
                model.backward(batchSize: B, sequenceLength: T)
                return model.download(model.layout.whole(.gradients))
            }
        }
        let (one, two) = (gradients(blasThreads: 1), gradients(blasThreads: 2))
        let differing = zip(one, two).filter { $0.0.bitPattern != $0.1.bitPattern }.count
        #expect(differing == 0, "\(differing) of \(one.count) gradients differ between 1 and 2 OpenBLAS threads")
    }

    @Test func shapesTheKernelsCannotRunAreRefusedWithTheReason() throws {
        let gpu = try #require(ParityBackends.gpu)
        // (8200 channels: the embedding kernel's block would need 1056 threads, which allocate refuses itself rather
        // than leave to the LayerNorm backward's shared-memory check, which happens to refuse it too on every GPU.)
        for (channels, heads, vocabulary, cause) in [(36, 2, 64, "multiples of 8"), (8200, 82, 64, "at most 8192"), (32, 2, 64, "")] {
            var config = ModelConfig(maxSequenceLength: 16, vocabularySize: vocabulary, layers: 1, heads: heads, channels: channels)
            config.paddedVocabularySize = vocabulary
            do {
                _ = try GPT2Model(config: config, backend: gpu, batchSize: 1, sequenceLength: 16)
                #expect(cause.isEmpty, "C=\(channels) was accepted")
            } catch {
                #expect(!cause.isEmpty && "\(error)".contains(cause), "C=\(channels): \(error)")
            }
        }
        var oddVocabulary = ModelConfig(maxSequenceLength: 16, vocabularySize: 61, layers: 1, heads: 2, channels: 32)
        oddVocabulary.paddedVocabularySize = 61
        #expect(throws: (any Error).self, "padded vocabulary 61") {
            _ = try GPT2Model(config: oddVocabulary, backend: gpu, batchSize: 1, sequenceLength: 16)
        }
    }

    @Test func trainingTracksTheCPULossCurve() throws {
        let gpu = try #require(ParityBackends.gpu)
        let work = try TestPaths.temporaryDirectory("cuda-training").path
        expectAllPass(try CUDAParity.training(dataDirectory: try ShakespeareShards.directory(), workDirectory: work,
                                              cpu: ParityBackends.cpu, gpu: gpu))
    }

    /// On the emulator, a block's threads run one after another between barriers, and cp.async copies land at
    /// the wait; run last-to-first with copies landing at issue instead, every kernel must give the same bits.
    /// One that does not reads what another thread writes without a barrier between them, or refills a buffer
    /// still being read: a race a GPU would show only sometimes. At T = 256 every attention kernel refills
    /// both of its tile buffers.
    @Test(.enabled(if: CUDATestEnvironment.isEmulated, "thread order is the emulator's to choose"),
          arguments: AttentionKernels.allCases)
    func resultsDoNotDependOnThreadOrder(kernels: AttentionKernels) throws {
        let gpu = try #require(ParityBackends.gpu)
        let chosen = gpu.attentionKernels
        gpu.attentionKernels = kernels
        defer { gpu.attentionKernels = chosen }
        func oneStep(reverse: Bool) throws -> (gradients: [Float], parameters: [Float]) {
            try CUDATestEnvironment.withEmulatedThreadOrder(reverse: reverse) { try oneStep() }
        }
        func oneStep() throws -> (gradients: [Float], parameters: [Float]) {
            let config = ModelConfig(maxSequenceLength: 256, vocabularySize: 1000, layers: 2, heads: 2, channels: 64)
            let (B, T) = (2, 256)
            let model = try GPT2Model(config: config, backend: gpu, batchSize: B, sequenceLength: T)
            model.initializeParameters(seed: 3)
            var random = SeededRandom(seed: 5)
            let tokens = (0..<(B * T + 1)).map { _ in Int32(random.nextInt(below: config.vocabularySize)) }
            model.zeroGradients()
            _ = model.forward(inputs: Array(tokens.dropLast()), targets: Array(tokens.dropFirst()), batchSize: B,
                              sequenceLength: T, lossScale: 1 / Float(B * T))
            model.backward(batchSize: B, sequenceLength: T)
            let gradients = model.download(model.layout.whole(.gradients))
            _ = model.optimizerStep(hyperparameters: AdamWHyperparameters(learningRate: 1e-3), step: 1, clipNorm: 1)
            return (gradients, model.parameters())
        }
        let forward = try oneStep(reverse: false), reverse = try oneStep(reverse: true)
        func mismatches(_ a: [Float], _ b: [Float]) -> Int { a.count == b.count ? zip(a, b).filter { $0.0 != $0.1 }.count : -1 }
        #expect(forward.gradients.contains { $0 != 0 }, "the step computed gradients")
        #expect(mismatches(forward.gradients, reverse.gradients) == 0, "gradients that differ between thread orders")
        #expect(mismatches(forward.parameters, reverse.parameters) == 0, "updated weights that differ between thread orders")
    }

    @Test func resumeIsExactOnTheGPUAndCrossesDevices() throws {
        let gpu = try #require(ParityBackends.gpu)
        let work = try TestPaths.temporaryDirectory("cuda-resume").path
        expectAllPass(try CUDAParity.resume(dataDirectory: try ShakespeareShards.directory(), workDirectory: work,
                                            cpu: ParityBackends.cpu, gpu: gpu))
    }
}

/// What runs without a GPU: the pieces of the backend that are plain host logic.
struct CUDABackendHostTests {
    @Test func prebuiltKernelNamesKeyOnTheSource() {
        // Must work without NVRTC or a device: the GPU machine may have neither compiler nor toolkit.
        let architecture = GPUArchitecture(major: 9, minor: 0)
        let name = CUDABackend.prebuiltKernelName(file: "attention.cu", source: "x", architecture: architecture)
        #expect(name.hasPrefix("attention-sm_90-") && name.hasSuffix(".cubin"))
        #expect(name != CUDABackend.prebuiltKernelName(file: "attention.cu", source: "y", architecture: architecture))
    }

    /// A library variable that is set names the one file to open: nothing else is tried, so that a wrong path fails
    /// with its own reason rather than quietly opening another copy of the library found elsewhere.
    @Test func aLibraryVariableIsTheOnlyCandidate() {
        let paths = CUDALibraryPaths(environment: ["CUBLASLT_LIB": "/opt/mine/libcublasLt.so", "NVRTC_LIB": "/opt/mine/libnvrtc.so",
                                                   "CUDA_DRIVER_LIB": "/opt/mine/libcuda.so", "CUDA_HOME": "/usr/local/cuda-13"])
        #expect(paths.cublasLt == ["/opt/mine/libcublasLt.so"] && paths.nvrtc == ["/opt/mine/libnvrtc.so"]
                && paths.driver == ["/opt/mine/libcuda.so"])
        #expect(CUDALibraryPaths(environment: ["CUDA_HOME": "/usr/local/cuda-13"]).cublasLt.first == "/usr/local/cuda-13/lib64/libcublasLt.so.13")
    }

    /// Without a variable, a library is looked for in the toolkit first, then in the wheels of the active Python
    /// environment (VIRTUAL_ENV, then CONDA_PREFIX, then ~/.local, then the installation of each python3 on PATH, once
    /// each; in each, CUDA 13's `cu13` folder before the CUDA 12 packages' own folders), then by soname: a toolkit the user installed wins over wheels, and both over whatever the
    /// loader would find. Only wheel folders that exist count, and each library only in its own package's folder.
    @Test func wheelsAreSearchedAfterTheToolkitAndBeforeTheLoader() throws {
        let root = try TestPaths.temporaryDirectory("cuda-wheel-order").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func wheels(_ environment: String) -> String { root + "/\(environment)/lib/python3.11/site-packages/nvidia/" }
        let venv = wheels("venv"), conda = wheels("conda"), home = wheels("home/.local")
        let onPath = root + "/base/lib/python3.12/dist-packages/nvidia/"   // (a Debian-style Python, found by its python3 on PATH)
        let made = [venv + "cu13/lib", venv + "cu13/include", venv + "cuda_nvrtc/lib", venv + "cublas/lib", venv + "cuda_runtime/include",
                    conda + "cuda_nvrtc/lib", home + "cu13/lib", home + "cu13/include", onPath + "cu13/lib", root + "/base/bin",
                    root + "/venv/bin", root + "/no-python/bin"]
        for folder in made { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        for python in [root + "/base/bin/python3", root + "/venv/bin/python3"] {
            try FileManager.default.createSymbolicLink(atPath: python, withDestinationPath: "/nonexistent/python3")
        }
        let path = [root + "/no-python/bin", "relative/bin", root + "/venv/bin", root + "/base/bin/"].joined(separator: ":")
        let paths = CUDALibraryPaths(environment: ["VIRTUAL_ENV": root + "/venv", "CONDA_PREFIX": root + "/conda", "HOME": root + "/home",
                                                   "CUDA_HOME": "/opt/cuda-13", "PATH": path])
        #expect(paths.pythonRoots == [root + "/venv", root + "/conda", root + "/home/.local", root + "/base"])
        if FileSystem.exists("/usr/bin/python3") {   // Debian's pip, as root, installs into /usr/local
            #expect(CUDALibraryPaths(environment: ["PATH": "/usr/bin:/bin"]).pythonRoots == ["/usr", "/usr/local"])
        }
        let nvrtcFolders = [venv + "cu13/lib", venv + "cuda_nvrtc/lib", conda + "cuda_nvrtc/lib", home + "cu13/lib", onPath + "cu13/lib"]
        #expect(paths.wheelFolders(.nvrtc) == nvrtcFolders)
        #expect(paths.wheelFolders(.cublasLt) == [venv + "cu13/lib", venv + "cublas/lib", home + "cu13/lib", onPath + "cu13/lib"])
        #expect(paths.wheelFolders(.headers) == [venv + "cu13/include", venv + "cuda_runtime/include", home + "cu13/include"])
        #expect(Array(paths.includeFolders.suffix(3)) == paths.wheelFolders(.headers))
        let expected = ["/opt/cuda-13/lib64", "/usr/local/cuda/lib64"] + nvrtcFolders
        let sonames = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]
        #expect(paths.nvrtc == expected.flatMap { folder in sonames.map { folder + "/" + $0 } } + sonames, "\(paths.nvrtc)")
        #expect(CUDALibraryPaths(environment: ["VIRTUAL_ENV": root + "/nothing-here"]).wheelFolders(.nvrtc).isEmpty)
        // pyenv's versions come last, from PYENV_ROOT or ~/.pyenv (its python3 on PATH is a shim, in no installation's bin)
        let pyenvWheels = root + "/home/.pyenv/versions/3.11.7/lib/python3.11/site-packages/nvidia/cu13/lib"
        try FileManager.default.createDirectory(atPath: pyenvWheels, withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: root + "/home/.pyenv/versions/.DS_Store"))
        let pyenv = CUDALibraryPaths(environment: ["HOME": root + "/home", "PATH": root + "/home/.pyenv/shims"])
        #expect(pyenv.pythonRoots == [root + "/home/.local", root + "/home/.pyenv/versions/3.11.7"])
        #expect(pyenv.wheelFolders(.nvrtc) == [home + "cu13/lib", pyenvWheels])
        #expect(CUDALibraryPaths(environment: ["PYENV_ROOT": root + "/home/.pyenv"]).pythonRoots == [root + "/home/.pyenv/versions/3.11.7"])
    }

    /// A library is taken from the first candidate that opens and is preferred (for NVRTC and cuBLASLt: of a CUDA the
    /// driver runs), else from the first that opens: a CUDA 13 library found first does not stop a 12.x driver from
    /// using CUDA 12's found after it, and with no CUDA 12 one the CUDA 13 one is still opened, for its error to name.
    @Test func aPreferredLibraryIsTakenOverOneFoundFirst() throws {
        let candidates = ["/nonexistent/libfirst.so", "libm.so.6", "libc.so.6"]
        let preferred = try SharedLibrary.open("test", variable: "TEST_LIB", candidates: candidates, hint: "") { $0.path == "libc.so.6" }
        #expect(preferred.path == "libc.so.6" && preferred.passedOver == ["libm.so.6"])
        let fallback = try SharedLibrary.open("test", variable: "TEST_LIB", candidates: candidates, hint: "") { _ in false }
        #expect(fallback.path == "libm.so.6" && fallback.passedOver.isEmpty)
        #expect(throws: CUDAError.self) { try SharedLibrary.open("test", variable: "TEST_LIB", candidates: ["/nonexistent/lib.so"], hint: "") { _ in true } }

        #expect(SharedLibrary.runs(major: 12, onDriver: 12040) && SharedLibrary.runs(major: 12, onDriver: 13000))
        #expect(!SharedLibrary.runs(major: 13, onDriver: 12090) && SharedLibrary.runs(major: 13, onDriver: 13020))
        #expect(SharedLibrary.runs(major: 13, onDriver: nil), "without a driver (gpt2 kernels) any")
    }

    /// An ELF64 file header (64 bytes, little-endian) with no program headers and `sections` section headers of
    /// `entryBytes` each at offset 64, followed by them, zero-filled (section type 0, offset 0, size 0).
    private func elf(sections: Int, entryBytes: Int, appended: Int? = nil) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 64)
        bytes[0...5] = [0x7F, 0x45, 0x4C, 0x46, 2, 1]   // magic, ELFCLASS64, ELFDATA2LSB
        bytes[0x28] = 64                                 // e_shoff: the section headers follow the file header
        bytes[0x3A] = UInt8(entryBytes)                  // e_shentsize
        bytes[0x3C] = UInt8(sections)                    // e_shnum
        return bytes + [UInt8](repeating: 0, count: appended ?? sections * entryBytes)
    }

    /// What `KernelImage.problem` accepts and refuses, on images built by hand from the ELF64 layout (file header 64
    /// bytes, section headers of at least 64 bytes each).
    @Test func kernelImagesAreCheckedWhole() {
        #expect(KernelImage.problem(elf(sections: 2, entryBytes: 64)) == nil)
        #expect(KernelImage.problem(elf(sections: 2, entryBytes: 64, appended: 100))?.contains("cut short") == true,
                "two section headers of 64 bytes past the file header need 192 bytes, and 164 are there")
        #expect(KernelImage.problem(elf(sections: 2, entryBytes: 16))?.contains("damaged") == true,
                "section headers of 16 bytes are shorter than ELF64's 64")
        #expect(KernelImage.problem(Array("// PTX\n".utf8) + [0]) == nil)
        #expect(KernelImage.problem(Array("// PTX\n".utf8)) != nil, "PTX without its NUL")
    }

    /// A device of compute capability `major`.0 whose blocks may have `sharedBytes` of shared memory once opted in.
    private func device(major: Int, sharedBytes: Int) -> CUDADeviceProperties {
        CUDADeviceProperties(ordinal: 0, name: "test", computeCapability: (major, 0), totalMemory: 1 << 34, multiprocessors: 1,
                             l2CacheBytes: 0, maxSharedMemoryPerBlockOptIn: sharedBytes)
    }

    /// Static and dynamic shared memory together may reach the opt-in limit exactly: the 1 KiB per block the system
    /// reserves is outside that limit already (228 KiB per SM on an H100, 227 KiB per block), not to be added again.
    @Test func sharedMemoryFitsUpToTheOptInLimitExactly() {
        let ada = device(major: 8, sharedBytes: 99 * 1024)
        #expect(ada.fitsDynamicSharedMemory(99 * 1024) && !ada.fitsDynamicSharedMemory(99 * 1024 + 1))
        #expect(ada.fitsDynamicSharedMemory(99 * 1024 - 256, staticBytes: 256))
        #expect(!ada.fitsDynamicSharedMemory(99 * 1024 - 255, staticBytes: 256))
        // The tensor-core kernels follow the same rule: head size 128 runs where the largest kernel's bytes just fit.
        let largest = max(TensorCoreAttention.forwardBytes(HS: 128), TensorCoreAttention.dkvBytes(HS: 128),
                          TensorCoreAttention.dqBytes(HS: 128))
        #expect(TensorCoreAttention.supports(HS: 128, on: device(major: 8, sharedBytes: largest)))
        #expect(!TensorCoreAttention.supports(HS: 128, on: device(major: 8, sharedBytes: largest - 1)))
    }

    @Test func tensorCoreAttentionRunsWhereTheSharedMemoryFits() {
        func device(major: Int, sharedKiB: Int) -> CUDADeviceProperties { self.device(major: major, sharedBytes: sharedKiB * 1024) }
        let ada = device(major: 8, sharedKiB: 99), small = device(major: 8, sharedKiB: 48), turing = device(major: 7, sharedKiB: 64)
        let hopper = device(major: 9, sharedKiB: 227)
        // GPT-2's head size 64: a Q tile and two buffers of K and V tiles, 64 rows each at a padded stride of 72
        // elements (45 KiB), and so on.
        #expect(TensorCoreAttention.forwardBytes(HS: 64) == 5 * 64 * 72 * 2)
        #expect(TensorCoreAttention.dkvBytes(HS: 64) == 2 * 64 * 72 * 2 + 2 * 2 * 32 * 72 * 2 + 2 * 2 * 32 * 4)
        #expect(TensorCoreAttention.dqBytes(HS: 64) == 2 * 64 * 72 * 2 + 2 * 2 * 32 * 72 * 2)
        #expect(TensorCoreAttention.supports(HS: 64, on: ada) && TensorCoreAttention.supports(HS: 128, on: ada))
        #expect(TensorCoreAttention.supports(HS: 64, on: small) && !TensorCoreAttention.supports(HS: 128, on: small),
                "head size 128's forward needs 85 KiB")
        #expect(!TensorCoreAttention.supports(HS: 64, on: turing), "bf16 mma.sync needs sm_80")
        #expect(!TensorCoreAttention.supports(HS: 48, on: hopper), "only head sizes with kernels of their own")
        #expect(!TensorCoreAttention.supports(HS: 144, on: hopper), "at most 128")
    }

    /// A result off by a relative error e in every element has relative L2 error e: each bf16 tolerance passes the
    /// error it allows for (one rounding, u = 2⁻⁸; two, 2u) and fails 4u, more than either allows with its margin; an
    /// absolute floor passes noise below it around a zero reference, and no more.
    @Test func parityTolerancesPassTheirBoundAndFailBeyondIt() {
        let reference = (1...100).map { Float($0) / 7 }
        func expectation(_ error: Double, _ tolerance: Double) -> Bool {
            let log = ResultLog(log: { _ in })
            let off = reference.map { Float(Double($0) * (1 + error)) }
            log.expect("check", Comparison(off, reference), relativeL2: tolerance)
            return log.results[0].passed
        }
        let u = Tolerance.u
        #expect(expectation(u, Tolerance.oneRounding) && expectation(2 * u, Tolerance.twoRoundings))
        #expect(!expectation(4 * u, Tolerance.oneRounding) && !expectation(4 * u, Tolerance.twoRoundings))
        let log = ResultLog(log: { _ in })
        let zeros = [Float](repeating: 0, count: 4)
        log.expect("noise", Comparison([1e-6, 0, 0, 0], zeros), relativeL2: Tolerance.twoRoundings, absoluteFloor: 1e-5)
        log.expect("error", Comparison([1, 0, 0, 0], zeros), relativeL2: Tolerance.twoRoundings, absoluteFloor: 1e-5)
        #expect(log.results.map(\.passed) == [true, false])
    }

    @Test func parityComparisonMeasuresRelativeL2() {
        let comparison = Comparison([1, 2, 2], [1, 2, 3])
        #expect(abs(comparison.relativeL2 - 1 / 14.0.squareRoot()) < 1e-12)
        #expect(comparison.maxAbsolute == 1)
        #expect(Tolerance.oneRounding == 2.0 / 256)
    }
}
