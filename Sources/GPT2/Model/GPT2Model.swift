/// GPT-2 as a fixed sequence of backend ops over flat buffers laid out by `Layout`: the model's buffers and the
/// forward pass here, the loss and the lm head in GPT2Model+Classifier.swift, the hand-written backward pass in
/// GPT2Model+Backward.swift. Generic over the backend so op calls dispatch statically.

public final class GPT2Model<Ops: Backend> {
    public let config: ModelConfig
    public let backend: Ops
    public let layout: Layout

    /// Allocates every buffer for micro-batches of `batchSize` × `sequenceLength` tokens (zero weights),
    /// stored in `precision` (default: what the backend prefers), with the classifier's logits in chunks of
    /// `classifierChunkRows` rows (default: `Layout.defaultClassifierChunkRows`).
    public init(config: ModelConfig, backend: Ops, batchSize: Int, sequenceLength: Int,
                recompute: Bool = false, training: Bool = true, precision: Precision? = nil,
                classifierChunkRows: Int? = nil) throws {
        try config.validate()
        guard batchSize > 0, sequenceLength > 0 else {
            throw ConfigError("batch size (\(batchSize)) and sequence length (\(sequenceLength)) must be positive")
        }
        guard batchSize <= Layout.maximumBatchSize else {
            throw ConfigError("batch size \(batchSize) is above the largest supported, \(Layout.maximumBatchSize)")
        }
        guard sequenceLength <= config.maxSequenceLength else {
            throw ConfigError("sequence length \(sequenceLength) is longer than the model's context (\(config.maxSequenceLength))")
        }
        if let classifierChunkRows, classifierChunkRows <= 0 {
            throw ConfigError("the classifier's chunk (\(classifierChunkRows) rows) must be positive")
        }
        self.config = config
        self.backend = backend
        self.layout = Layout(config: config, batchSize: batchSize, sequenceLength: sequenceLength,
                             recompute: recompute, training: training,
                             precision: precision ?? backend.preferredPrecision, classifierChunkRows: classifierChunkRows)
        try backend.allocate(layout)
    }

    // MARK: - Parameters

    /// GPT-2's initialisation: weights N(0, 0.02), residual projections N(0, 0.02/√(2L)), LayerNorm
    /// weights 1, biases 0, padded vocabulary rows 0. Deterministic in `seed`.
    public func initializeParameters(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        for kind in ParameterKind.allCases {
            let tensor = layout.parameter(kind)
            switch kind {
            case .ln1w, .ln2w, .lnfw:
                upload([Float](repeating: 1, count: tensor.count), to: tensor)
            case .wte, .wpe, .qkvw, .attprojw, .fcw, .fcprojw:
                let std: Float = kind.isResidualProjection ? 0.02 / (2 * Float(config.layers)).squareRoot() : 0.02
                let drawn = kind == .wte ? config.vocabularySize * config.channels : tensor.count
                // Drawn a bounded piece at a time, not a copy of the whole tensor; the pieces are even-sized, so
                // they hold the same Box–Muller pairs as one draw of the whole would.
                for start in stride(from: 0, to: drawn, by: floatStreamPiece) {
                    var values = [Float](repeating: 0, count: min(floatStreamPiece, drawn - start))
                    random.fillNormal(&values, std: std)
                    upload(values, to: tensor.slice(start, values.count))
                }
                backend.zero(tensor.slice(drawn, tensor.count - drawn))   // wte's padded vocabulary rows
            default:
                backend.zero(tensor)
            }
        }
    }

    /// Every parameter, flat, in llm.c's order.
    public func parameters() -> [Float] { download(layout.whole(.parameters)) }

    /// Replaces every parameter; `values` must hold `config.parameterCount` floats in llm.c's order.
    public func setParameters(_ values: [Float]) {
        precondition(values.count == config.parameterCount, "parameter count mismatch")
        upload(values, to: layout.whole(.parameters))
    }

    /// Reads a whole tensor back to the host.
    public func download(_ tensor: TensorRef) -> [Float] {
        var values = [Float](repeating: 0, count: tensor.count)
        values.withUnsafeMutableBytes { backend.download(tensor, into: $0) }
        return values
    }

    /// Writes a host array into a tensor.
    public func upload(_ values: [Float], to tensor: TensorRef) {
        values.withUnsafeBytes { backend.upload($0, to: tensor) }
    }

    // MARK: - Forward

    /// Runs the model on `inputs` (B,T) and returns the mean loss against `targets` when given.
    ///
    /// With `lossScale` set (a training layout only), the lm head's backward runs here too, chunk by chunk while
    /// each chunk's dlogits are at hand: it adds wte's share of the gradient (+=) and leaves dloss/dlnf for
    /// `backward()`. So zero the gradients before the forward pass of a step's first micro-batch, not after it.
    /// Pass 1/(B·T·accumulationSteps) so accumulated gradients are those of the mean loss.
    ///
    /// Without targets, the logits of every row stay in the logits buffer, so B·T must fit in one classifier
    /// chunk (`layout.classifierChunkRows`).
    @discardableResult
    public func forward(inputs: [Int32], targets: [Int32]?, batchSize B: Int, sequenceLength T: Int,
                        lossScale: Float? = nil) -> Float? {
        forwardThroughFinalNorm(inputs: inputs, batchSize: B, sequenceLength: T)
        guard let targets else {
            precondition(B * T <= layout.classifierChunkRows,
                         "logits of \(B * T) rows need a layout whose classifier chunk holds them all (\(layout.classifierChunkRows))")
            lmHeadForward(rows: 0..<(B * T))   // logits (B,T,Vp)
            return nil
        }
        precondition(targets.count == B * T, "targets shape mismatch")
        precondition(lossScale == nil || layout.training, "a loss scale (gradients) needs a training layout")
        targets.withUnsafeBytes { backend.upload($0, to: layout.targets.slice(0, B * T)) }
        let chunk = layout.classifierChunkRows
        for start in stride(from: 0, to: B * T, by: chunk) {
            classifierChunk(rows: start..<min(start + chunk, B * T), lossScale: lossScale)
        }
        let losses = download(layout.activation(.losses).slice(0, B * T))
        var total = 0.0
        for loss in losses { total += Double(loss) }
        return Float(total / Double(B * T))
    }

    /// Embeddings, every block and the final LayerNorm over `inputs` (B,T): everything before the lm head,
    /// leaving lnf (B,T,C).
    func forwardThroughFinalNorm(inputs: [Int32], batchSize B: Int, sequenceLength T: Int) {
        precondition(B <= layout.batchSize && T <= layout.sequenceLength && inputs.count == B * T, "batch shape mismatch")
        let (C, L) = (config.channels, config.layers)
        inputs.withUnsafeBytes { backend.upload($0, to: layout.inputs.slice(0, B * T)) }

        // encoded (B,T,C) = wte[inputs] + wpe[0..<T]
        backend.encoderForward(out: layout.activation(.encoded), inp: layout.inputs, wte: layout.parameter(.wte),
                               wpe: layout.parameter(.wpe), B: B, T: T, C: C)
        for l in 0..<L { blockForward(layer: l, B: B, T: T) }
        // residual3[L-1] = residual2 + fcproj of the last block; lnf (B,T,C) = layernorm(residual3[L-1])
        backend.residualLayerNormForward(
            residualOut: layout.activation(.residual3, layer: L - 1), out: layout.activation(.lnf),
            mean: layout.activation(.lnfMean), rstd: layout.activation(.lnfRstd),
            residual: layout.activation(.residual2, layer: L - 1), x: layout.activation(.fcproj, layer: L - 1),
            weight: layout.parameter(.lnfw), bias: layout.parameter(.lnfb), B: B, T: T, C: C)
    }

    /// One transformer block: pre-LN attention and pre-LN MLP, each added to the residual stream. The MLP's
    /// residual add, residual3 = residual2 + fcproj, is fused into the LayerNorm that follows it: the next
    /// block's ln1, or lnf after the last block. (Sampling's `decode`, in GPT2Model+Sampling.swift, computes the
    /// same on one row with the unfused ops: a separate residual add and LayerNorm, a matmul then GELU. A change
    /// here belongs there too; TextGeneratorTests fail when the two disagree.)
    private func blockForward(layer l: Int, B: Int, T: Int) {
        let (C, NH) = (config.channels, config.heads)
        let input = l == 0 ? layout.activation(.encoded) : layout.activation(.residual3, layer: l - 1)
        let ln1 = layout.activation(.ln1, layer: l), qkv = layout.activation(.qkv, layer: l)
        let atty = layout.activation(.atty, layer: l), attproj = layout.activation(.attproj, layer: l)
        let residual2 = layout.activation(.residual2, layer: l), ln2 = layout.activation(.ln2, layer: l)
        let fch = layout.activation(.fch, layer: l), fchGelu = layout.activation(.fchGelu, layer: l)
        let fcproj = layout.activation(.fcproj, layer: l)

        // input = encoded, or residual3[l-1] = residual2 + fcproj of the previous block; ln1 (B,T,C) = layernorm(input)
        let (ln1Mean, ln1Rstd) = (layout.activation(.ln1Mean, layer: l), layout.activation(.ln1Rstd, layer: l))
        let (ln1w, ln1b) = (layout.parameter(.ln1w, layer: l), layout.parameter(.ln1b, layer: l))
        if l == 0 {
            backend.layerNormForward(out: ln1, mean: ln1Mean, rstd: ln1Rstd, inp: input, weight: ln1w, bias: ln1b, B: B, T: T, C: C)
        } else {
            backend.residualLayerNormForward(residualOut: input, out: ln1, mean: ln1Mean, rstd: ln1Rstd,
                                             residual: layout.activation(.residual2, layer: l - 1),
                                             x: layout.activation(.fcproj, layer: l - 1), weight: ln1w, bias: ln1b, B: B, T: T, C: C)
        }
        // qkv (B,T,3C) = ln1 · qkvwᵀ + qkvb
        backend.matmulForward(out: qkv, inp: ln1, weight: layout.parameter(.qkvw, layer: l),
                              bias: layout.parameter(.qkvb, layer: l), B: B, T: T, C: C, OC: 3 * C)
        // atty (B,T,C) = attention(qkv); attproj (B,T,C) = atty · attprojwᵀ + attprojb
        backend.attentionForward(out: atty, stats: layout.activation(.attStats, layer: l), qkv: qkv, B: B, T: T, C: C, NH: NH)
        backend.matmulForward(out: attproj, inp: atty, weight: layout.parameter(.attprojw, layer: l),
                              bias: layout.parameter(.attprojb, layer: l), B: B, T: T, C: C, OC: C)
        // residual2 = input + attproj; ln2 (B,T,C) = layernorm(residual2)
        backend.residualLayerNormForward(residualOut: residual2, out: ln2, mean: layout.activation(.ln2Mean, layer: l),
                                         rstd: layout.activation(.ln2Rstd, layer: l), residual: input, x: attproj,
                                         weight: layout.parameter(.ln2w, layer: l), bias: layout.parameter(.ln2b, layer: l),
                                         B: B, T: T, C: C)
        // fch (B,T,4C) = ln2 · fcwᵀ + fcb; fchGelu = gelu(fch). With --recompute the backward rebuilds fchGelu
        // from the stored fch with geluForward, so the forward computes it the same way (a fused epilogue
        // takes the GELU of the unrounded product, which would differ from the rebuilt one in the last bit).
        let (fcw, fcb) = (layout.parameter(.fcw, layer: l), layout.parameter(.fcb, layer: l))
        if layout.recompute {
            backend.unfusedMatmulGeluForward(out: fchGelu, preActivation: fch, inp: ln2, weight: fcw, bias: fcb, B: B, T: T, C: C, OC: 4 * C)
        } else {
            backend.matmulGeluForward(out: fchGelu, preActivation: fch, inp: ln2, weight: fcw, bias: fcb, B: B, T: T, C: C, OC: 4 * C)
        }
        // fcproj (B,T,C) = fchGelu · fcprojwᵀ + fcprojb (residual3 = residual2 + fcproj comes with the next LayerNorm)
        backend.matmulForward(out: fcproj, inp: fchGelu, weight: layout.parameter(.fcprojw, layer: l),
                              bias: layout.parameter(.fcprojb, layer: l), B: B, T: T, C: 4 * C, OC: C)
    }
}
