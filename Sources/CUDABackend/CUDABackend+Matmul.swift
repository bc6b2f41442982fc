/// The GEMMs through cuBLASLt: bf16 A and B, fp32 accumulation; bf16 output with the bias (and for the MLP's
/// first layer the GELU, keeping its input as the epilogue's aux output) fused as an epilogue in the forward;
/// the GELU's gradient fused into the MLP's second layer's dinp; fp32 output accumulated (β = 1) into the
/// weight gradient in the backward, whose BGRADB epilogue also sums dout's columns for the bias gradient.
/// Where cuBLASLt offers no algorithm with an epilogue, the backend falls back to its own bias, GELU and
/// column-sum kernels for the rest of the run.
///
/// Row-major tensors are handed to cuBLASLt (column-major) as their transposes:
///   forward   out (N,OC) = inp (N,C) · W (OC,C)ᵀ   ⇔  outᵀ (OC×N) = op_T(W: C×OC) · inpᵀ (C×N)
///   dinp      dinp (N,C) = dout (N,OC) · W (OC,C)  ⇔  dinpᵀ (C×N) = Wᵀ (C×OC) · doutᵀ (OC×N)
///   dweight   dW (OC,C) += doutᵀ · inp             ⇔  dWᵀ (C×OC) += inpᵀ (C×N) · op_T(doutᵀ: OC×N)
/// dbias (OC) += column sums of dout: written by the dweight GEMM's BGRADB epilogue into fp32 scratch (it reads
/// dout anyway), then added; or, without the epilogue, by the deterministic two-stage kernels of elementwise.cu.

import CCUDA
import GPT2

extension CUDABackend {
    /// out (B,T,OC) bf16 = inp (B,T,C) bf16 · weight (OC,C)ᵀ bf16 + bias (OC) bf16
    public func matmulForward(out: TensorRef, inp: TensorRef, weight: TensorRef, bias: TensorRef?,
                              B: Int, T: Int, C: Int, OC: Int) {
        orDie { try attemptMatmulForward(out: out, inp: inp, weight: weight, bias: bias, B: B, T: T, C: C, OC: OC) }
    }

    /// preActivation (B,T,OC) bf16 = inp (B,T,C) bf16 · weight (OC,C)ᵀ bf16 + bias (OC) bf16; out (B,T,OC) bf16 = gelu(preActivation)
    public func matmulGeluForward(out: TensorRef, preActivation: TensorRef, inp: TensorRef, weight: TensorRef, bias: TensorRef?,
                                  B: Int, T: Int, C: Int, OC: Int) {
        orDie {
            try attemptMatmulGeluForward(out: out, preActivation: preActivation, inp: inp, weight: weight, bias: bias,
                                         B: B, T: T, C: C, OC: OC)
        }
    }

    /// dinp (B,T,C) bf16 =, dweight (OC,C) fp32 +=, dbias (OC) fp32 +=  from dout (B,T,OC) bf16, dinp times gelu'(geluInput (B,T,C) bf16)
    public func matmulBackwardGelu(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef?, dout: TensorRef, inp: TensorRef,
                                   weight: TensorRef, geluInput: TensorRef, B: Int, T: Int, C: Int, OC: Int) {
        orDie {
            try attemptMatmulBackwardGelu(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: inp, weight: weight,
                                          geluInput: geluInput, B: B, T: T, C: C, OC: OC)
        }
    }

    /// dinp (B,T,C) bf16 =, dweight (OC,C) fp32 +=, dbias (OC) fp32 +=  from dout (B,T,OC) bf16
    public func matmulBackward(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef?, dout: TensorRef, inp: TensorRef,
                               weight: TensorRef, B: Int, T: Int, C: Int, OC: Int) {
        orDie {
            // dinp (N,C) = dout · W
            try gemm(m: C, n: B * T, k: OC, a: bf16(weight), transposeA: false, b: bf16(dout), transposeB: false,
                     d: bf16(dinp), outputFloat: false, accumulate: false, epilogue: .none)
            try attemptWeightAndBiasGradients(dweight: dweight, dbias: dbias, dout: dout, inp: inp, B: B, T: T, C: C, OC: OC)
        }
    }

    // The ops above, throwing what fails instead of stopping the process (so that tests can see it). Each falls
    // back to the backend's own kernels where cuBLASLt has no algorithm with its epilogue (`noMatmulAlgorithm`),
    // and only then: any other failure of the GEMM (the matmul itself, or the stream synchronisation after it
    // under GPT2_CUDA_SYNC=1) is a fault to report as it is, not a reason to switch kernels.

    func attemptMatmulForward(out: TensorRef, inp: TensorRef, weight: TensorRef, bias: TensorRef?,
                              B: Int, T: Int, C: Int, OC: Int) throws {
        let N = B * T
        let fuseBias = bias != nil && !separateBiasKernel
        do {
            try gemm(m: OC, n: N, k: C, a: bf16(weight), transposeA: true, b: bf16(inp), transposeB: false,
                     d: bf16(out), outputFloat: false, accumulate: false, epilogue: fuseBias ? .bias(bf16(bias!)) : .none)
        } catch let error as CUDAError where fuseBias && error.isMissingMatmulAlgorithm {
            // No algorithm with the bias epilogue for this shape: use the separate bias kernel from now on.
            Console.log("warning: \(error); adding biases with a kernel from now on")
            separateBiasKernel = true
            try attemptMatmulForward(out: out, inp: inp, weight: weight, bias: bias, B: B, T: T, C: C, OC: OC)
            return
        }
        if let bias, !fuseBias {
            // out (N,OC) += bias (OC): grid-stride over N*OC, block 256
            launch("bias_forward", grid: Dim3(strideBlocks(N * OC)), block: Dim3(256), work: .bytes(4 * N * OC + 2 * OC),
                   [.pointer(bf16(out)), .pointer(bf16(bias)), .size(N), .int(OC)])
        }
    }

    func attemptMatmulGeluForward(out: TensorRef, preActivation: TensorRef, inp: TensorRef, weight: TensorRef, bias: TensorRef?,
                                  B: Int, T: Int, C: Int, OC: Int) throws {
        guard let bias, !separateGeluKernels, !separateBiasKernel else {
            unfusedMatmulGeluForward(out: out, preActivation: preActivation, inp: inp, weight: weight, bias: bias, B: B, T: T, C: C, OC: OC)
            return
        }
        do {
            // out (N,OC) = gelu(inp · Wᵀ + bias), preActivation (N,OC) = inp · Wᵀ + bias, as the epilogue's aux
            try gemm(m: OC, n: B * T, k: C, a: bf16(weight), transposeA: true, b: bf16(inp), transposeB: false,
                     d: bf16(out), outputFloat: false, accumulate: false,
                     epilogue: .geluWithBias(bias: bf16(bias), preActivation: bf16(preActivation)))
        } catch let error as CUDAError where error.isMissingMatmulAlgorithm {
            fallBackToGeluKernels(error)
            try attemptMatmulGeluForward(out: out, preActivation: preActivation, inp: inp, weight: weight, bias: bias,
                                         B: B, T: T, C: C, OC: OC)
        }
    }

    func attemptMatmulBackwardGelu(dinp: TensorRef, dweight: TensorRef, dbias: TensorRef?, dout: TensorRef, inp: TensorRef,
                                   weight: TensorRef, geluInput: TensorRef, B: Int, T: Int, C: Int, OC: Int) throws {
        guard !separateGeluKernels else {
            unfusedMatmulBackwardGelu(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: inp, weight: weight,
                                      geluInput: geluInput, B: B, T: T, C: C, OC: OC)
            return
        }
        do {
            // dinp (N,C) = gelu'(geluInput) · (dout · W)
            try gemm(m: C, n: B * T, k: OC, a: bf16(weight), transposeA: false, b: bf16(dout), transposeB: false,
                     d: bf16(dinp), outputFloat: false, accumulate: false, epilogue: .geluGradient(preActivation: bf16(geluInput)))
        } catch let error as CUDAError where error.isMissingMatmulAlgorithm {
            fallBackToGeluKernels(error)
            try attemptMatmulBackwardGelu(dinp: dinp, dweight: dweight, dbias: dbias, dout: dout, inp: inp, weight: weight,
                                          geluInput: geluInput, B: B, T: T, C: C, OC: OC)
            return
        }
        try attemptWeightAndBiasGradients(dweight: dweight, dbias: dbias, dout: dout, inp: inp, B: B, T: T, C: C, OC: OC)
    }

    private func fallBackToGeluKernels(_ error: CUDAError) {
        Console.log("warning: \(error); using the GELU kernels from now on")
        separateGeluKernels = true
    }

    /// dweight (OC,C) += doutᵀ · inp in fp32, and dbias (OC) += column sums of dout.
    func attemptWeightAndBiasGradients(dweight: TensorRef, dbias: TensorRef?, dout: TensorRef, inp: TensorRef,
                                       B: Int, T: Int, C: Int, OC: Int) throws {
        let N = B * T
        let fuseBiasGradient = dbias != nil && !separateBiasGradientKernels
        do {
            // dWᵀ (C×OC) += inpᵀ · op_T(doutᵀ); with BGRADB, columnPartials[0..<OC] = Σ over the N rows of dout
            try gemm(m: C, n: OC, k: N, a: bf16(inp), transposeA: false, b: bf16(dout), transposeB: true,
                     d: f32(dweight), outputFloat: true, accumulate: true,
                     epilogue: fuseBiasGradient ? .biasGradient(scratch.columnPartials) : .none)
        } catch let error as CUDAError where fuseBiasGradient && error.isMissingMatmulAlgorithm {
            // No algorithm with the epilogue for this shape (the GEMM did not run): column-sum kernels from now on.
            Console.log("warning: \(error); summing bias gradients with kernels from now on")
            separateBiasGradientKernels = true
            try attemptWeightAndBiasGradients(dweight: dweight, dbias: dbias, dout: dout, inp: inp, B: B, T: T, C: C, OC: OC)
            return
        }
        guard let dbias else { return }
        // Without the epilogue, partials (R, OC): grid (ceil(OC/32), R), block (32, 8); either way added into dbias
        let groups = fuseBiasGradient ? 1 : columnGroups(rows: N)
        if !fuseBiasGradient {
            launch("bias_backward_partial", grid: Dim3(ceilDiv(OC, 32), groups), block: Dim3(32, 8),
                   work: .bytes(2 * N * OC + 4 * groups * OC),
                   [.pointer(scratch.columnPartials), .pointer(bf16(dout)), .int(N), .int(OC)])
        }
        accumulatePartials(into: f32(dbias), from: scratch.columnPartials, groups: groups, count: OC, stride: OC)
    }

    /// D (m×n, column-major, ld m) = op(A)·op(B) (+ D when `accumulate`), then `epilogue`, where A is
    /// stored k×m (ld k) when `transposeA` else m×k (ld m), and B is stored n×k (ld n) when `transposeB`
    /// else k×n (ld k). A and B bf16, D bf16 or fp32 (`outputFloat`), fp32 compute and scale.
    func gemm(m: Int, n: Int, k: Int, a: CUdeviceptr, transposeA: Bool, b: CUdeviceptr, transposeB: Bool,
              d: CUdeviceptr, outputFloat: Bool, accumulate: Bool, epilogue: GemmEpilogue) throws {
        guard m > 0, n > 0, k > 0 else { return }
        ensureContext()
        let key = MatmulKey(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, outputFloat: outputFloat,
                            epilogue: epilogue.code,
                            alignments: [a, b, d, epilogue.bias ?? 0, epilogue.preActivation ?? 0].map(MatmulKey.alignment))
        let plan: MatmulPlan
        if let cached = matmulPlans[key] {
            plan = cached
        } else {
            plan = try MatmulPlan(key: key, blas: blas, handle: blasHandle, epilogue: epilogue,
                                  workspaceBytes: bufferBytes[.workspace] ?? 0)
            matmulPlans[key] = plan
        }
        try plan.setPointers(of: epilogue, blas: blas)
        var alpha: Float = 1, beta: Float = accumulate ? 1 : 0
        var algorithm = plan.algorithm
        let workspace = buffers[.workspace] ?? 0
        try profiled(key.profileName, work: key.work(epilogue, accumulate: accumulate)) {
            let status = blas.matmul(blasHandle, plan.operation, &alpha,
                                     UnsafeRawPointer(bitPattern: UInt(a)), plan.aLayout,
                                     UnsafeRawPointer(bitPattern: UInt(b)), plan.bLayout, &beta,
                                     UnsafeRawPointer(bitPattern: UInt(d)), plan.dLayout,
                                     UnsafeMutableRawPointer(bitPattern: UInt(d)), plan.dLayout,
                                     &algorithm, UnsafeMutableRawPointer(bitPattern: UInt(workspace)),
                                     bufferBytes[.workspace] ?? 0, stream)
            try blas.check(status, "cublasLtMatmul(\(key))")
        }
        if synchronousLaunches { try checked(driver.streamSynchronize(stream), "cublasLtMatmul(\(key))") }
    }
}

/// What a GEMM does after the product, with the device pointers it needs.
enum GemmEpilogue {
    case none
    /// + bias (one value per row of D, D's type)
    case bias(CUdeviceptr)
    /// D = gelu(product + bias), and preActivation (D's shape and type) = product + bias
    case geluWithBias(bias: CUdeviceptr, preActivation: CUdeviceptr)
    /// D = product · gelu'(preActivation)
    case geluGradient(preActivation: CUdeviceptr)
    /// D as without an epilogue, and biasGradient (fp32, one value per column of D) = op(B)'s column sums over k
    case biasGradient(CUdeviceptr)

    /// cublasLtEpilogue_t's value.
    var code: UInt32 {
        switch self {
        case .none: UInt32(CCUBLASLT_EPILOGUE_DEFAULT)
        case .bias: UInt32(CCUBLASLT_EPILOGUE_BIAS)
        case .geluWithBias: UInt32(CCUBLASLT_EPILOGUE_GELU_AUX_BIAS)
        case .geluGradient: UInt32(CCUBLASLT_EPILOGUE_DGELU)
        case .biasGradient: UInt32(CCUBLASLT_EPILOGUE_BGRADB)
        }
    }

    /// What cuBLASLt's BIAS_POINTER takes: the bias the epilogue adds, or for BGRADB the bias gradient it writes.
    var bias: CUdeviceptr? {
        switch self {
        case .bias(let bias), .geluWithBias(let bias, _), .biasGradient(let bias): bias
        default: nil
        }
    }

    /// The epilogue's aux matrix: the GELU's input.
    var preActivation: CUdeviceptr? {
        switch self {
        case .geluWithBias(_, let preActivation), .geluGradient(let preActivation): preActivation
        default: nil
        }
    }
}

/// What selects a GEMM algorithm: the shape, the transposes, the output type, the epilogue, and the
/// alignment of each pointer (the heuristic assumes 256-byte alignment unless told otherwise).
struct MatmulKey: Hashable, CustomStringConvertible {
    var m: Int, n: Int, k: Int
    var transposeA: Bool, transposeB: Bool
    var outputFloat: Bool
    /// cublasLtEpilogue_t
    var epilogue: UInt32
    /// Alignment in bytes (a power of two ≤ 256) of A, B, D, the bias and the aux matrix.
    var alignments: [Int]

    static func alignment(_ address: CUdeviceptr) -> Int {
        var alignment = 256
        while alignment > 1 && address % CUdeviceptr(alignment) != 0 { alignment /= 2 }
        return alignment
    }

    var description: String {
        "m \(m) n \(n) k \(k) \(transposeA ? "T" : "N")\(transposeB ? "T" : "N") \(outputFloat ? "fp32" : "bf16") out"
            + " epilogue \(epilogue) align \(alignments)"
    }

    /// 2·m·n·k FLOPs, and the bytes of A and B read, D written (and read first when accumulating), and the
    /// epilogue's vectors and aux matrix.
    func work(_ epilogue: GemmEpilogue, accumulate: Bool) -> KernelWork {
        let outputBytes = outputFloat ? 4 : 2
        var bytes = 2 * (m * k + k * n) + m * n * outputBytes * (accumulate ? 2 : 1)
        switch epilogue {
        case .none: break
        case .bias: bytes += 2 * m
        case .geluWithBias: bytes += 2 * m + m * n * outputBytes
        case .geluGradient: bytes += m * n * outputBytes
        case .biasGradient: bytes += 4 * n
        }
        return KernelWork(flops: 2 * Double(m) * Double(n) * Double(k), bytes: Double(bytes))
    }

    /// How the profile names it: `gemm 2304×8192×768 TN bf16 +bias`.
    var profileName: String {
        let epilogueName: [UInt32: String] = [UInt32(CCUBLASLT_EPILOGUE_BIAS): " +bias", UInt32(CCUBLASLT_EPILOGUE_GELU_AUX_BIAS): " +bias+gelu",
                                              UInt32(CCUBLASLT_EPILOGUE_DGELU): " ·gelu'", UInt32(CCUBLASLT_EPILOGUE_BGRADB): " +dbias"]
        return "gemm \(m)×\(n)×\(k) \(transposeA ? "T" : "N")\(transposeB ? "T" : "N") \(outputFloat ? "fp32" : "bf16")"
            + (epilogueName[epilogue] ?? "")
    }
}

/// The cuBLASLt descriptors and chosen algorithm for one `MatmulKey`, created once and reused.
final class MatmulPlan {
    let operation: cublasLtMatmulDesc_t
    let aLayout: cublasLtMatrixLayout_t
    let bLayout: cublasLtMatrixLayout_t
    let dLayout: cublasLtMatrixLayout_t
    let algorithm: cublasLtMatmulAlgo_t

    init(key: MatmulKey, blas: CUBLASLtLibrary, handle: cublasLtHandle_t, epilogue: GemmEpilogue, workspaceBytes: Int) throws {
        var operation: cublasLtMatmulDesc_t? = nil
        try blas.check(blas.matmulDescCreate(&operation, Int32(CCUBLAS_COMPUTE_32F), Int32(CCUDA_R_32F)), "cublasLtMatmulDescCreate")
        self.operation = operation!
        func set<Value: BitwiseCopyable>(_ attribute: Int32, _ value: Value, _ name: String) throws {
            var value = value
            try blas.check(blas.matmulDescSetAttribute(operation, attribute, &value, MemoryLayout<Value>.size),
                           "cublasLtMatmulDescSetAttribute(\(name))")
        }
        try set(Int32(CCUBLASLT_MATMUL_DESC_TRANSA), Int32(key.transposeA ? CCUBLAS_OP_T : CCUBLAS_OP_N), "TRANSA")
        try set(Int32(CCUBLASLT_MATMUL_DESC_TRANSB), Int32(key.transposeB ? CCUBLAS_OP_T : CCUBLAS_OP_N), "TRANSB")
        if epilogue.code != UInt32(CCUBLASLT_EPILOGUE_DEFAULT) {
            try set(Int32(CCUBLASLT_MATMUL_DESC_EPILOGUE), epilogue.code, "EPILOGUE")
        }
        if case .biasGradient = epilogue {   // the bias gradient is summed and stored in fp32, whatever D's type
            try set(Int32(CCUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE), Int32(CCUDA_R_32F), "BIAS_DATA_TYPE")
        }
        if epilogue.preActivation != nil {   // the aux matrix has D's shape: leading dimension m
            try set(Int32(CCUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD), Int64(key.m), "EPILOGUE_AUX_LD")
        }
        try Self.setPointers(of: epilogue, on: operation!, blas: blas)
        func layout(_ type: Int32, rows: Int, columns: Int, name: String) throws -> cublasLtMatrixLayout_t {
            var layout: cublasLtMatrixLayout_t? = nil
            try blas.check(blas.matrixLayoutCreate(&layout, type, UInt64(rows), UInt64(columns), Int64(rows)),
                           "cublasLtMatrixLayoutCreate(\(name) \(rows)×\(columns))")
            return layout!
        }
        let bf16 = Int32(CCUDA_R_16BF)
        aLayout = try key.transposeA ? layout(bf16, rows: key.k, columns: key.m, name: "A") : layout(bf16, rows: key.m, columns: key.k, name: "A")
        bLayout = try key.transposeB ? layout(bf16, rows: key.n, columns: key.k, name: "B") : layout(bf16, rows: key.k, columns: key.n, name: "B")
        dLayout = try layout(key.outputFloat ? Int32(CCUDA_R_32F) : bf16, rows: key.m, columns: key.n, name: "D")

        var preference: cublasLtMatmulPreference_t? = nil
        try blas.check(blas.preferenceCreate(&preference), "cublasLtMatmulPreferenceCreate")
        defer { _ = blas.preferenceDestroy(preference) }
        var workspace = UInt64(workspaceBytes)
        try blas.check(blas.preferenceSetAttribute(preference, Int32(CCUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES), &workspace, 8),
                       "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)")
        let alignments = [("A", CCUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.alignments[0]),
                          ("B", CCUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.alignments[1]),
                          ("C", CCUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.alignments[2]),   // C is D (β reads D)
                          ("D", CCUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.alignments[2])]
        for (matrix, attribute, alignment) in alignments {
            var bytes = UInt32(alignment)
            try blas.check(blas.preferenceSetAttribute(preference, Int32(attribute), &bytes, 4),
                           "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_\(matrix)_BYTES)")
        }
        var result = cublasLtMatmulHeuristicResult_t()
        var returned: Int32 = 0
        let status = blas.algoGetHeuristic(handle, operation, aLayout, bLayout, dLayout, dLayout, preference, 1, &result, &returned)
        // cublasLt.h: CUBLAS_STATUS_NOT_SUPPORTED when no heuristic suits this configuration; on success, the first
        // `returned` results, each valid only if its `state` is CUBLAS_STATUS_SUCCESS. No result, or none valid, says
        // the same as NOT_SUPPORTED. Any other status is a failure of the call.
        if status == Int32(CCUBLAS_STATUS_NOT_SUPPORTED)
            || (status == Int32(CCUBLAS_STATUS_SUCCESS) && (returned == 0 || result.state != Int32(CCUBLAS_STATUS_SUCCESS))) {
            let reason = status != Int32(CCUBLAS_STATUS_SUCCESS) ? "cublasLtMatmulAlgoGetHeuristic: " + blas.statusText(status)
                : returned == 0 ? "the heuristic returned none"
                : "the heuristic's result has state " + blas.statusText(result.state)
            throw CUDAError.noMatmulAlgorithm(gemm: "\(key)", reason: reason)
        }
        try blas.check(status, "cublasLtMatmulAlgoGetHeuristic(\(key))")
        algorithm = result.algo
    }

    /// Points the descriptor at this call's bias and aux matrix (the heuristic saw the first call's, which
    /// matter to it only through their alignment, part of the key).
    func setPointers(of epilogue: GemmEpilogue, blas: CUBLASLtLibrary) throws {
        try Self.setPointers(of: epilogue, on: operation, blas: blas)
    }

    private static func setPointers(of epilogue: GemmEpilogue, on operation: cublasLtMatmulDesc_t, blas: CUBLASLtLibrary) throws {
        if var bias = epilogue.bias {
            try blas.check(blas.matmulDescSetAttribute(operation, Int32(CCUBLASLT_MATMUL_DESC_BIAS_POINTER), &bias, 8),
                           "cublasLtMatmulDescSetAttribute(BIAS_POINTER)")
        }
        if var aux = epilogue.preActivation {
            try blas.check(blas.matmulDescSetAttribute(operation, Int32(CCUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER), &aux, 8),
                           "cublasLtMatmulDescSetAttribute(EPILOGUE_AUX_POINTER)")
        }
    }

    func destroy(_ blas: CUBLASLtLibrary) {
        _ = blas.matrixLayoutDestroy(aLayout)
        _ = blas.matrixLayoutDestroy(bLayout)
        _ = blas.matrixLayoutDestroy(dLayout)
        _ = blas.matmulDescDestroy(operation)
    }
}
