/// Op-by-op parity of the CUDA backend against the CPU reference on small random shapes: each check feeds
/// both backends identical (bf16-representable) inputs and compares outputs against `Tolerance`.

import CPUBackend
import CUDABackend
import GPT2

public enum CUDAParity {
    /// Every non-attention op: embedding, LayerNorm, matmul (the bias added by the GEMM and by the bias kernel), GELU,
    /// residual, classifier, norm, AdamW (per tensor, the whole clipped optimizer step, and a step over tensors with gaps
    /// between them), the decode-step attention row, `zero`, and the device's rounding to bf16. B=2, T=64, C=128, NH=2,
    /// V=1003 (not a multiple of 8, so the classifier kernel meets a chunk of 8 columns that is partly padding); then the
    /// LayerNorm backward and the bias gradient's column sums again over 4104 rows of 64 channels, the embedding and
    /// LayerNorm over rows of 320 channels, the classifier over GPT-2's vocabulary, the embedding, LayerNorm and matmul
    /// over 3 rows of 40 channels (every grid's last block partial), and the LayerNorm backward at GPT-2 XL's 1600
    /// channels. The checks run in this order on one pair of models (later ones read some tensors earlier ones filled,
    /// such as wte).
    public static func ops(cpu: CPUBackend, gpu: CUDABackend, log: @escaping (String) -> Void = { _ in }) throws -> [ParityResult] {
        let results = ResultLog(log: log)
        let config = ModelConfig(maxSequenceLength: 64, vocabularySize: 1003, layers: 1, heads: 2, channels: 128)
        let twins = try TwinModels(config: config, cpu: cpu, gpu: gpu, B: 2, T: 64)
        checkEmbedding(twins, results)
        checkLayerNorm(twins, results)
        checkLayerNormBackward(twins, B: 2, T: 64, name: "layernorm backward", results: results)
        checkMatmul(twins, results)
        checkMLP(twins, results)
        checkElementwise(twins, results)
        checkClassifier(twins, results)
        checkOptimizer(twins, results)
        checkOptimizerStep(twins, results)
        checkOptimizerStepOverOtherTensors(twins, results)
        checkDecodeAttention(twins, results)
        checkZero(twins, results)
        checkRounding(twins, results)
        // Last (new models take the GPU's buffers): the LayerNorm backward over more rows than its 512 blocks × 4
        // warps, 4104: every warp sums the parameter terms of two rows, eight of them a third.
        let tall = try TwinModels(config: ModelConfig(maxSequenceLength: 1368, vocabularySize: 64, layers: 1, heads: 2, channels: 64),
                                  cpu: cpu, gpu: gpu, B: 3, T: 1368)
        checkLayerNormBackward(tall, B: 3, T: 1368, name: "layernorm backward, 4104 rows", results: results)
        // The bias gradient's column-sum kernels (a fallback on a GPU whose cuBLASLt has no BGRADB epilogue) over those
        // rows: their 32 row groups × 8 rows step down the rows 17 times, where the B·T = 128 rows above take one step.
        checkMatmulBackward(tall, epilogue: false, suffix: ", 4104 rows", results)
        // Rows wider than a warp's pass (8 channels × 32 lanes) and than a block of 256 threads (the embedding's dwte), as
        // every GPT-2's are (768 channels and up): 320 channels, a full pass and a tail.
        let wide = try TwinModels(config: ModelConfig(maxSequenceLength: 8, vocabularySize: 1003, layers: 1, heads: 5, channels: 320),
                                  cpu: cpu, gpu: gpu, B: 2, T: 8)
        checkEmbedding(wide, suffix: ", C=320", results)
        checkLayerNorm(wide, suffix: ", C=320", results)
        checkLayerNormBackward(wide, B: 2, T: 8, name: "layernorm backward, C=320", results: results)
        // GPT-2's vocabulary: 6282 whole chunks of 8 columns, so each of the classifier's 1024 threads folds six or seven
        // into its running max and sum (at V = 1003 one, thread 0 two), and a last chunk of one column, 50256
        // (<|endoftext|>, a common target), and 7 of padding.
        let vocabulary = try TwinModels(config: ModelConfig(maxSequenceLength: 4, vocabularySize: 50257, layers: 1, heads: 2, channels: 32),
                                        cpu: cpu, gpu: gpu, B: 1, T: 4)
        checkClassifier(vocabulary, suffix: ", V=50257", results)
        // Shapes off every kernel's tiles: 3 rows (fewer than a block's 8 LayerNorm rows or 4 backward warps), T·C = 40
        // (less than a block of 256 threads), C = 40 and OC = 120 (not multiples of the column sums' 32 columns). Each
        // grid is a ceil-div whose only or last block is partial: one computed with a floor-div drops rows or columns.
        let ragged = try TwinModels(config: ModelConfig(maxSequenceLength: 1, vocabularySize: 1003, layers: 1, heads: 5, channels: 40),
                                    cpu: cpu, gpu: gpu, B: 3, T: 1)
        checkEmbedding(ragged, suffix: ", 3 rows of C=40", results)
        checkLayerNorm(ragged, suffix: ", 3 rows of C=40", results)
        checkLayerNormBackward(ragged, B: 3, T: 1, name: "layernorm backward, 3 rows of C=40", results: results)
        checkMatmul(ragged, suffix: ", 3 rows of C=40", results)
        // GPT-2 XL's 1600 channels: the LayerNorm backward's 4 warps × 2C sums are 51,200 bytes of shared memory, past the
        // 48 KiB a kernel gets unless the backend raises its limit (GPT-2 up to large, C ≤ 1280, stays under).
        let xl = try TwinModels(config: ModelConfig(maxSequenceLength: 1, vocabularySize: 64, layers: 1, heads: 25, channels: 1600),
                                cpu: cpu, gpu: gpu, B: 3, T: 1)
        checkLayerNormBackward(xl, B: 3, T: 1, name: "layernorm backward, C=1600", results: results)
        return results.results
    }

    /// Embedding: encoded = wte[tokens] + wpe[t]; backward into fp32 dwte, dwpe. The forward is run again for all
    /// sequences but the last, which it must leave as it was: a thread past the row's C channels (the block is rounded up
    /// to whole warps) that stores anyway writes into the next row, a race between blocks on a GPU.
    private static func checkEmbedding(_ twins: TwinModels, suffix: String = "", _ results: ResultLog) {
        let (layout, B, T, C) = twins.shape
        let encoded = layout.activation(.encoded)
        twins.fillRandom(layout.parameter(.wte), std: 0.5)
        twins.fillRandom(layout.parameter(.wpe), std: 0.5)
        // Few distinct tokens, so the bucketed dwte sums many positions per token.
        let tokens = (0..<(B * T)).map { _ in Int32(twins.random.nextInt(below: 7) * 100) }
        tokens.withUnsafeBytes { twins.cpu.backend.upload($0, to: layout.inputs); twins.gpu.backend.upload($0, to: layout.inputs) }
        twins.run(overwriting: [encoded]) { $0.encoderForward(out: encoded, inp: layout.inputs, wte: layout.parameter(.wte),
                                                              wpe: layout.parameter(.wpe), B: B, T: T, C: C) }
        results.expect("encoder forward" + suffix, twins.compare(encoded), relativeL2: Tolerance.oneRounding)
        twins.fillRandom(encoded)
        twins.run { $0.encoderForward(out: encoded, inp: layout.inputs, wte: layout.parameter(.wte), wpe: layout.parameter(.wpe),
                                      B: B - 1, T: T, C: C) }
        results.expect("encoder forward of \(B - 1) of \(B) sequences leaves the last" + suffix, twins.compare(encoded),
                       relativeL2: Tolerance.oneRounding)
        let dresidual = layout.activationGradient(.residual)
        let (dwte, dwpe) = (twins.gradient(.wte), twins.gradient(.wpe))
        twins.fillRandom(dresidual)
        twins.fillRandom(dwte, std: 0.1)   // nonzero: the op must add (+=), not overwrite
        twins.fillRandom(dwpe, std: 0.1)
        twins.run { $0.encoderBackward(dwte: dwte, dwpe: dwpe, dout: dresidual, inp: layout.inputs, B: B, T: T, C: C) }
        results.expect("encoder backward dwte" + suffix, twins.compare(dwte), relativeL2: Tolerance.fp32Reordered)
        results.expect("encoder backward dwpe" + suffix, twins.compare(dwpe), relativeL2: Tolerance.fp32Reordered)
    }

    /// LayerNorm forward, alone and with the residual add before it fused in; at a spread of 1.5, and again at 0.01
    /// (variance 1e-4, the residual stream's scale at GPT-2's initialisation), where the 1e-5 added to the variance is
    /// a tenth of it: a kernel with a wrong or no epsilon is off there by percents in rstd, while at the larger
    /// spread (variance 2.25) the same fault moves rstd by 4e-6, inside every tolerance.
    private static func checkLayerNorm(_ twins: TwinModels, suffix: String = "", _ results: ResultLog) {
        let (layout, B, T, C) = twins.shape
        let inp = layout.activation(.encoded), ln = layout.activation(.ln1)
        let mean = layout.activation(.ln1Mean), rstd = layout.activation(.ln1Rstd)
        let (weight, bias) = (layout.parameter(.ln1w), layout.parameter(.ln1b))
        let residualSum = layout.activation(.residual2), addend = layout.activation(.attproj)
        twins.fillRandom(weight, mean: 1, std: 0.2)
        twins.fillRandom(bias, std: 0.2)
        for (spread, spreadSuffix) in [(Float(1.5), ""), (0.01, " at spread 0.01")] {
            let suffix = spreadSuffix + suffix
            twins.fillRandom(inp, mean: 0.2 * spread, std: spread)
            twins.run(overwriting: [ln, mean, rstd]) {
                $0.layerNormForward(out: ln, mean: mean, rstd: rstd, inp: inp, weight: weight, bias: bias, B: B, T: T, C: C)
            }
            results.expect("layernorm forward out" + suffix, twins.compare(ln), relativeL2: Tolerance.oneRounding)
            results.expect("layernorm forward mean" + suffix, twins.compare(mean), relativeL2: Tolerance.fp32Reordered)
            results.expect("layernorm forward rstd" + suffix, twins.compare(rstd), relativeL2: Tolerance.fp32Reordered)
            // The residual add fused with the LayerNorm after it: residual2 = inp + attproj, ln1 = layernorm(residual2).
            twins.fillRandom(addend, std: 0.5 * spread)
            twins.run(overwriting: [residualSum, ln, mean, rstd]) {
                $0.residualLayerNormForward(residualOut: residualSum, out: ln, mean: mean, rstd: rstd, residual: inp, x: addend,
                                            weight: weight, bias: bias, B: B, T: T, C: C)
            }
            results.expect("residual + layernorm forward sum" + suffix, twins.compare(residualSum), relativeL2: Tolerance.oneRounding)
            results.expect("residual + layernorm forward out" + suffix, twins.compare(ln), relativeL2: Tolerance.twoRoundings)
            results.expect("residual + layernorm forward rstd" + suffix, twins.compare(rstd), relativeL2: Tolerance.oneRounding)
        }
    }

    /// Matmul with bias (qkv = ln1 · qkvwᵀ + qkvb), both ways the GPU adds it: elementwise.cu's bias kernel, then
    /// cuBLASLt's bias epilogue (unless disabled, or cuBLASLt has none here: then the kernel, for good); and without a bias
    /// (logits = lnf · wteᵀ, OC = Vp); and the backward.
    private static func checkMatmul(_ twins: TwinModels, suffix: String = "", _ results: ResultLog) {
        let (layout, B, T, C) = twins.shape
        let gpu = twins.gpu.backend
        let Vp = layout.config.paddedVocabularySize
        let ln = layout.activation(.ln1), qkv = layout.activation(.qkv)
        let (qkvw, qkvb) = (layout.parameter(.qkvw), layout.parameter(.qkvb))
        twins.fillRandom(ln)
        twins.fillRandom(qkvw, std: 0.05)
        twins.fillRandom(qkvb, std: 0.5)
        // (last as chosen, which leaves the backend as it was, or fallen back to the kernel for good)
        for kernel in [true, gpu.separateBiasKernel] {
            gpu.separateBiasKernel = kernel
            twins.run { $0.matmulForward(out: qkv, inp: ln, weight: qkvw, bias: qkvb, B: B, T: T, C: C, OC: 3 * C) }
            let added = gpu.separateBiasKernel ? "bias kernel" : "bias epilogue"
            results.expect("matmul forward +bias (\(added))" + suffix, twins.compare(qkv), relativeL2: Tolerance.twoRoundings)
        }
        let lnf = layout.activation(.lnf), logits = layout.activation(.logits)
        twins.fillRandom(lnf)
        twins.run { $0.matmulForward(out: logits, inp: lnf, weight: layout.parameter(.wte), bias: nil, B: B, T: T, C: C, OC: Vp) }
        results.expect("matmul forward no bias (OC=Vp)" + suffix, twins.compare(logits), relativeL2: Tolerance.oneRounding)
        checkMatmulBackward(twins, epilogue: true, suffix: suffix, results)
    }

    /// The matmul backward of qkv = ln1 · qkvwᵀ + qkvb from random inputs: dinp, and dweight and dbias (+=). With
    /// `epilogue`, both ways the GPU sums dbias: the column-sum kernels, then the dweight GEMM's BGRADB epilogue (unless
    /// disabled, or cuBLASLt has none here: then the backend falls back to the kernels, for good); else the kernels only.
    private static func checkMatmulBackward(_ twins: TwinModels, epilogue: Bool, suffix: String = "", _ results: ResultLog) {
        let (layout, B, T, C) = twins.shape
        let gpu = twins.gpu.backend
        let ln = layout.activation(.ln1), qkvw = layout.parameter(.qkvw)
        let dln = layout.activationGradient(.lnOut), dqkv = layout.activationGradient(.qkv)
        let (dqkvw, dqkvb) = (twins.gradient(.qkvw), twins.gradient(.qkvb))
        twins.fillRandom(ln)
        twins.fillRandom(qkvw, std: 0.05)
        let chosen = gpu.separateBiasGradientKernels
        defer { gpu.separateBiasGradientKernels = chosen }
        for kernels in epilogue ? [true, chosen] : [true] {
            gpu.separateBiasGradientKernels = kernels
            twins.fillRandom(dqkv)
            twins.fillRandom(dqkvw, std: 0.1)
            twins.fillRandom(dqkvb, std: 0.1)
            twins.run { $0.matmulBackward(dinp: dln, dweight: dqkvw, dbias: dqkvb, dout: dqkv, inp: ln, weight: qkvw,
                                          B: B, T: T, C: C, OC: 3 * C) }
            let summed = gpu.separateBiasGradientKernels ? "column-sum kernels" : "GEMM epilogue"
            results.expect("matmul backward dinp" + suffix, twins.compare(dln), relativeL2: Tolerance.oneRounding)
            results.expect("matmul backward dweight (+=)" + suffix, twins.compare(dqkvw), relativeL2: Tolerance.fp32Accumulated)
            results.expect("matmul backward dbias (+=, \(summed))" + suffix, twins.compare(dqkvb), relativeL2: Tolerance.fp32Reordered)
        }
    }

    /// The MLP's GEMMs with the GELU fused (cuBLASLt epilogues on the GPU): fch = ln·fcwᵀ + fcb and
    /// fchGelu = gelu(fch); then dfch = gelu'(fch)·(dresidual·fcprojw), with fcprojw's and fcprojb's gradients.
    private static func checkMLP(_ twins: TwinModels, _ results: ResultLog) {
        let (layout, B, T, C) = twins.shape
        let ln = layout.activation(.ln1), fchPre = layout.activation(.fch), fchOut = layout.activation(.fchGelu)
        twins.fillRandom(ln)
        twins.fillRandom(layout.parameter(.fcw), std: 0.05)
        twins.fillRandom(layout.parameter(.fcb), std: 0.5)
        twins.run { $0.matmulGeluForward(out: fchOut, preActivation: fchPre, inp: ln, weight: layout.parameter(.fcw),
                                         bias: layout.parameter(.fcb), B: B, T: T, C: C, OC: 4 * C) }
        results.expect("matmul + gelu forward preactivation", twins.compare(fchPre), relativeL2: Tolerance.twoRoundings)
        results.expect("matmul + gelu forward out", twins.compare(fchOut), relativeL2: Tolerance.twoRoundings)
        twins.shareCPUResult(fchPre)
        twins.shareCPUResult(fchOut)
        let dresidual = layout.activationGradient(.residual)
        let (dfcprojw, dfcprojb) = (twins.gradient(.fcprojw), twins.gradient(.fcprojb))
        twins.fillRandom(dresidual)
        twins.fillRandom(layout.parameter(.fcprojw), std: 0.05)
        twins.fillRandom(dfcprojw, std: 0.1)
        twins.fillRandom(dfcprojb, std: 0.1)
        let dfch = layout.activationGradient(.fch)
        twins.run { $0.matmulBackwardGelu(dinp: dfch, dweight: dfcprojw, dbias: dfcprojb, dout: dresidual, inp: fchOut,
                                          weight: layout.parameter(.fcprojw), geluInput: fchPre, B: B, T: T, C: 4 * C, OC: C) }
        results.expect("matmul + gelu backward dinp", twins.compare(dfch), relativeL2: Tolerance.twoRoundings)
        results.expect("matmul + gelu backward dweight (+=)", twins.compare(dfcprojw), relativeL2: Tolerance.fp32Accumulated)
        results.expect("matmul + gelu backward dbias (+=)", twins.compare(dfcprojb), relativeL2: Tolerance.fp32Reordered)
    }

    /// GELU forward and backward as kernels, and the residual add.
    private static func checkElementwise(_ twins: TwinModels, _ results: ResultLog) {
        let (layout, B, T, C) = twins.shape
        let N = B * T
        let fch = layout.activation(.fch), fchGelu = layout.activation(.fchGelu)
        twins.fillRandom(fch, std: 2)
        twins.run(overwriting: [fchGelu]) { $0.geluForward(out: fchGelu, inp: fch, count: N * 4 * C) }
        results.expect("gelu forward", twins.compare(fchGelu), relativeL2: Tolerance.oneRounding)
        let dfch = layout.activationGradient(.fch), dout = layout.activation(.fchGelu)   // any (B,T,4C) as dout
        twins.fillRandom(dout)
        twins.run(overwriting: [dfch]) { $0.geluBackward(dinp: dfch, inp: fch, dout: dout, count: N * 4 * C) }
        results.expect("gelu backward", twins.compare(dfch), relativeL2: Tolerance.oneRounding)
        let inp = layout.activation(.encoded), residual2 = layout.activation(.residual2), attproj = layout.activation(.attproj)
        twins.fillRandom(inp)
        twins.fillRandom(attproj)
        twins.run(overwriting: [residual2]) { $0.residualForward(out: residual2, a: inp, b: attproj, count: N * C) }
        results.expect("residual forward", twins.compare(residual2), relativeL2: Tolerance.oneRounding)
    }

    /// Fused classifier: losses only (logits untouched), then with dlogits written in place. The last row's target is
    /// the vocabulary's last token, in the last chunk of 8 columns, which the kernel handles apart from the others.
    private static func checkClassifier(_ twins: TwinModels, suffix: String = "", _ results: ResultLog) {
        let (layout, B, T, _) = twins.shape
        let (V, Vp) = (layout.config.vocabularySize, layout.config.paddedVocabularySize)
        let logits = layout.activation(.logits), losses = layout.activation(.losses)
        twins.fillRandom(logits, std: 2)
        twins.fillTokens(layout.targets, below: V, last: V - 1)
        let logitsBefore = twins.gpu.download(logits)
        twins.run(overwriting: [losses]) {
            $0.fusedClassifier(logits: logits, losses: losses, targets: layout.targets, dlossScale: nil, B: B, T: T, V: V, Vp: Vp)
        }
        results.expect("classifier losses" + suffix, twins.compare(losses), relativeL2: Tolerance.fp32Reordered)
        results.expect("classifier without dloss leaves logits" + suffix, twins.gpu.download(logits) == logitsBefore, "bit-identical")
        twins.run(overwriting: [losses]) {
            $0.fusedClassifier(logits: logits, losses: losses, targets: layout.targets, dlossScale: 1 / Float(B * T), B: B, T: T, V: V, Vp: Vp)
        }
        results.expect("classifier losses (with dlogits)" + suffix, twins.compare(losses), relativeL2: Tolerance.fp32Reordered)
        results.expect("classifier dlogits" + suffix, twins.compare(logits), relativeL2: Tolerance.oneRounding)
        let padding = twins.gpu.download(logits).enumerated().filter { $0.offset % Vp >= V }.map(\.element)
        results.expect("classifier padded columns zero" + suffix, padding.allSatisfy { $0 == 0 }, "\(padding.count) padded values")
    }

    /// `zero` clears a whole fp32 buffer, a bf16 tensor, and a parameter together with its bf16 copy (which the kernels
    /// read), every byte of each: all were nonzero before.
    private static func checkZero(_ twins: TwinModels, _ results: ResultLog) {
        let layout = twins.layout
        let (gradients, dresidual, bias) = (layout.whole(.gradients), layout.activationGradient(.residual), layout.parameter(.qkvb))
        let copy = TensorRef(buffer: .parameterCopy, offset: bias.offset, count: bias.count)
        for tensor in [gradients, dresidual, bias] {
            twins.fillRandom(tensor, mean: 1, std: 0.1)
            twins.gpu.backend.zero(tensor)
        }
        for (name, tensor) in [("the fp32 gradients", gradients), ("a bf16 activation gradient", dresidual), ("parameter qkvb", bias),
                               ("qkvb's bf16 copy", copy)] {
            let left = twins.gpu.download(tensor).filter { $0 != 0 }.count
            results.expect("zero clears \(name)", left == 0, "\(left) of \(tensor.count) values not zero")
        }
    }

    /// The device's rounding to bf16, which every kernel's output goes through (common.cuh's `to_bf16`). The parity
    /// checks see it only within their tolerances (truncating moves a value by less than 2⁻⁸ of itself, inside
    /// `Tolerance.oneRounding`) and in AdamW's bf16 copy at ordinary values; ties, subnormals, overflow and NaN only here.
    /// elementwise.cu's casts take `bfloat16RoundingProbes` from fp32 to bf16 and back; each must come out as the rule
    /// gives it, bit for bit (round to nearest, ties to even: `BFloat16Bits(rounding:)`, which the uploads use), a NaN
    /// as a NaN, and the way back exactly.
    private static func checkRounding(_ twins: TwinModels, _ results: ResultLog) {
        let layout = twins.layout, gpu = twins.gpu
        let probes = bfloat16RoundingProbes, count = bfloat16RoundingProbes.count
        let source = layout.whole(.gradients).slice(0, count), widened = layout.whole(.gradients).slice(count, count)
        let rounded = layout.activation(.fch).slice(0, count)
        gpu.upload(probes, to: source)   // fp32: stored as given
        gpu.upload([Float](repeating: .nan, count: count), to: widened)
        gpu.upload([Float](repeating: .nan, count: count), to: rounded)
        gpu.backend.convertToBFloat16(out: rounded, inp: source, count: count)
        gpu.backend.convertToFloat(out: widened, inp: rounded, count: count)
        func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }
        func hex(_ x: Float) -> String { "0x" + String(x.bitPattern, radix: 16, uppercase: true) }
        let bf16 = gpu.download(rounded)
        let wrong = zip(probes, bf16).filter { !same(BFloat16Bits(rounding: $0.0).float, $0.1) }
        results.expect("fp32 → bf16 rounds to nearest even", wrong.isEmpty,
                       "\(wrong.count) of \(count) wrong" + (wrong.first.map { ": bf16(\(hex($0.0))) = \(hex($0.1))" } ?? ""))
        let back = gpu.download(widened)
        let changed = zip(bf16, back).filter { !same($0.0, $0.1) }.count
        results.expect("bf16 → fp32 is exact", changed == 0, "\(changed) of \(count) changed")
    }

    /// Values whose rounding to bf16 tells the rules apart: exact ties below an even and an odd upper half (positive and
    /// negative, normal and subnormal), the values either side of a tie, ties and values past the largest bf16 that round
    /// to infinity, infinities, zeros and NaNs (two whose payload is only in the low half, which a careless rounding
    /// carries into infinity), and a thousand ordinary values.
    public static let bfloat16RoundingProbes: [Float] = {
        let special: [UInt32] = [
            0x3F80_8000, 0x3F81_8000, 0xBF80_8000, 0xBF81_8000,   // ties: 1 + 2⁻⁸ (even upper half, down), 1 + 3·2⁻⁸ (odd, up); negated
            0x3F80_8001, 0x3F80_7FFF, 0xBF81_7FFF, 0xBF81_8001,   // either side of a tie
            0x0000_8000, 0x0001_8000, 0x8000_8000, 0x8001_8000,   // subnormal ties
            0x7F7F_8000, 0xFF7F_8000, 0x7F7F_FFFF, 0xFF7F_FFFF,   // past the largest bf16 (0x7F7F): to ±infinity
            0x7F7F_7FFF,                                          // just below that tie: the largest bf16
            0x7F80_0000, 0xFF80_0000, 0x0000_0000, 0x8000_0000,   // ±infinity, ±0
            0x7FC0_0000, 0xFFC0_0001, 0x7F80_0001, 0x7F80_8000,   // NaNs, two with the payload only in the low half
        ]
        return special.map { Float(bitPattern: $0) } + (0..<1000).map { Float($0 - 500) * 0.0123 + 1e-3 }
    }()

    /// LayerNorm backward on `twins`' first LayerNorm from random inputs, after a forward on the CPU's statistics:
    /// dinp accumulates (+=) into the residual gradient; dweight and dbias (+=) are compared too.
    private static func checkLayerNormBackward(_ twins: TwinModels, B: Int, T: Int, name: String, results: ResultLog) {
        let layout = twins.layout, C = layout.config.channels
        let inp = layout.activation(.encoded), ln = layout.activation(.ln1)
        let mean = layout.activation(.ln1Mean), rstd = layout.activation(.ln1Rstd)
        let weight = layout.parameter(.ln1w), dweight = layout.parameter(.ln1w, in: .gradients)
        let dbias = layout.parameter(.ln1b, in: .gradients)
        let dresidual = layout.activationGradient(.residual), dln = layout.activationGradient(.lnOut)
        twins.fillRandom(inp, mean: 0.3, std: 1.5)
        twins.fillRandom(weight, mean: 1, std: 0.2)
        twins.fillRandom(layout.parameter(.ln1b), std: 0.2)
        twins.run { $0.layerNormForward(out: ln, mean: mean, rstd: rstd, inp: inp, weight: weight, bias: layout.parameter(.ln1b),
                                        B: B, T: T, C: C) }
        twins.shareCPUResult(mean)
        twins.shareCPUResult(rstd)
        twins.fillRandom(dln)
        twins.fillRandom(dresidual)
        twins.fillRandom(dweight, std: 0.1)
        twins.fillRandom(dbias, std: 0.1)
        twins.run { $0.layerNormBackward(dinp: dresidual, dweight: dweight, dbias: dbias, dout: dln, inp: inp, weight: weight,
                                         mean: mean, rstd: rstd, B: B, T: T, C: C) }
        results.expect("\(name) dinp (+=)", twins.compare(dresidual), relativeL2: Tolerance.oneRounding)
        results.expect("\(name) dweight (+=)", twins.compare(dweight), relativeL2: Tolerance.fp32Reordered)
        results.expect("\(name) dbias (+=)", twins.compare(dbias), relativeL2: Tolerance.fp32Reordered)
    }
}
