/// The lm head and the loss, over the rows of lnf one chunk of `Layout.classifierChunkRows` at a time: each
/// chunk's logits are made, turned into losses (and dlogits) and, when training, taken back through the lm
/// head into dlnf and dwte before the next chunk overwrites them. So the logits never take (B,T,Vp).

extension GPT2Model {
    /// For `rows` of the B·T: logits (n,Vp) = lnf[rows] · wteᵀ; losses[rows] = cross-entropy at targets[rows].
    /// With `lossScale`, also dlnf[rows] (n,C) = dlogits · wte and dwte (Vp,C) += dlogitsᵀ · lnf[rows].
    func classifierChunk(rows: Range<Int>, lossScale: Float?) {
        let (C, V, Vp) = (config.channels, config.vocabularySize, config.paddedVocabularySize)
        let (first, n) = (rows.lowerBound, rows.count)
        let logits = lmHeadForward(rows: rows)
        backend.fusedClassifier(logits: logits, losses: layout.activation(.losses).slice(first, n),
                                targets: layout.targets.slice(first, n), dlossScale: lossScale, B: 1, T: n, V: V, Vp: Vp)
        guard lossScale != nil else { return }
        // the logits buffer now holds dlogits (n,Vp); dlnOut's rows receive dlnf for the final LayerNorm's backward
        backend.matmulBackward(dinp: layout.activationGradient(.lnOut).slice(first * C, n * C), dweight: grad(.wte),
                               dbias: nil, dout: logits, inp: layout.activation(.lnf).slice(first * C, n * C),
                               weight: layout.parameter(.wte), B: 1, T: n, C: C, OC: Vp)
    }

    /// logits (n,Vp) = lnf[rows] · wteᵀ, into the first n rows of the logits buffer (n ≤ its R rows); returns them.
    @discardableResult
    func lmHeadForward(rows: Range<Int>) -> TensorRef {
        let (C, Vp) = (config.channels, config.paddedVocabularySize)
        let logits = layout.activation(.logits).slice(0, rows.count * Vp)
        backend.matmulForward(out: logits, inp: layout.activation(.lnf).slice(rows.lowerBound * C, rows.count * C),
                              weight: layout.parameter(.wte), bias: nil, B: 1, T: rows.count, C: C, OC: Vp)
        return logits
    }
}
