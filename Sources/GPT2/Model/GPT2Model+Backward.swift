/// GPT-2's backward pass and optimizer step: the forward ops in reverse, each backward op
/// accumulating parameter gradients (+=) and overwriting activation gradients (=), except the residual stream's,
/// which LayerNorm backward adds into (+=: two paths meet there), so it starts zeroed.

extension GPT2Model {
    /// Adds the rest of the gradients of the last `forward(…, lossScale:)` to the gradient buffer: the forward
    /// pass already went back through the lm head (dwte's share, dlnf in the lnOut scratch).
    public func backward(batchSize B: Int, sequenceLength T: Int) {
        precondition(layout.training, "backward needs a training layout")
        let (C, L) = (config.channels, config.layers)
        let dresidual = layout.activationGradient(.residual), dlnOut = layout.activationGradient(.lnOut)

        // lnf = layernorm(residual3[L-1]): dresidual (B,T,C) = from dlnf, which the classifier chunks left in dlnOut
        backend.zero(dresidual)
        backend.layerNormBackward(dinp: dresidual, dweight: grad(.lnfw), dbias: grad(.lnfb), dout: dlnOut,
                                  inp: layout.activation(.residual3, layer: L - 1), weight: layout.parameter(.lnfw),
                                  mean: layout.activation(.lnfMean), rstd: layout.activation(.lnfRstd), B: B, T: T, C: C)
        for l in stride(from: L - 1, through: 0, by: -1) { blockBackward(layer: l, B: B, T: T) }
        backend.encoderBackward(dwte: grad(.wte), dwpe: grad(.wpe), dout: dresidual, inp: layout.inputs, B: B, T: T, C: C)
    }

    /// One micro-batch of a step: adds `lossScale` × the gradient of the sum of its B·T token losses to the gradient
    /// buffer (with 1/(B·T·A) for A micro-batches a step, the step's gradients are those of its mean loss), and returns
    /// the micro-batch's mean loss. (With a loss scale, `forward` already runs the lm head's backward; `backward` does
    /// the rest.)
    @discardableResult
    public func accumulateGradients(inputs: [Int32], targets: [Int32], batchSize B: Int, sequenceLength T: Int,
                                    lossScale: Float) -> Float {
        let loss = forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, lossScale: lossScale)!
        backward(batchSize: B, sequenceLength: T)
        return loss
    }

    /// Clears the gradient buffer (call before the forward pass of a step's first micro-batch).
    public func zeroGradients() { backend.zero(layout.whole(.gradients)) }

    /// One AdamW step (step counts from 1) after clipping the global gradient norm to `clipNorm`
    /// (0 disables clipping); weight decay applies to 2-D weights only. Returns the norm before clipping.
    @discardableResult
    public func optimizerStep(hyperparameters hyper: AdamWHyperparameters, step: Int, clipNorm: Float) -> Float {
        let tensors = ParameterKind.allCases.map { kind in
            OptimizerTensor(window: layout.parameter(kind), weightDecay: kind.isDecayed ? hyper.weightDecay : 0)
        }
        return backend.optimizerStep(tensors: tensors, hyperparameters: hyper, step: step, clipNorm: clipNorm)
    }

    // MARK: - Details

    /// A parameter's gradient tensor (one layer's slice when `layer` is given).
    func grad(_ kind: ParameterKind, layer: Int? = nil) -> TensorRef {
        guard let layer else { return layout.parameter(kind, in: .gradients) }
        return layout.parameter(kind, layer: layer, in: .gradients)
    }

    private func blockBackward(layer l: Int, B: Int, T: Int) {
        let (C, NH) = (config.channels, config.heads)
        let dresidual = layout.activationGradient(.residual), dlnOut = layout.activationGradient(.lnOut)
        let dqkv = layout.activationGradient(.qkv), datty = layout.activationGradient(.atty)
        let dfch = layout.activationGradient(.fch)
        let input = l == 0 ? layout.activation(.encoded) : layout.activation(.residual3, layer: l - 1)
        let residual2 = layout.activation(.residual2, layer: l)
        let ln1 = layout.activation(.ln1, layer: l), ln2 = layout.activation(.ln2, layer: l)
        let fch = layout.activation(.fch, layer: l), fchGelu = layout.activation(.fchGelu, layer: l)
        let qkv = layout.activation(.qkv, layer: l), atty = layout.activation(.atty, layer: l)

        if layout.recompute {
            // ln2 and gelu outputs were not kept per layer: rebuild them from what was
            backend.layerNormForward(out: ln2, mean: layout.activation(.ln2Mean, layer: l), rstd: layout.activation(.ln2Rstd, layer: l),
                                     inp: residual2, weight: layout.parameter(.ln2w, layer: l),
                                     bias: layout.parameter(.ln2b, layer: l), B: B, T: T, C: C)
            backend.geluForward(out: fchGelu, inp: fch, count: B * T * 4 * C)
        }
        // residual3 = residual2 + fcproj: dfcproj is dresidual
        // dfch (B,T,4C) = gelu'(fch) · (dresidual · fcprojw), with fcprojw's and fcprojb's gradients
        backend.matmulBackwardGelu(dinp: dfch, dweight: grad(.fcprojw, layer: l), dbias: grad(.fcprojb, layer: l),
                                   dout: dresidual, inp: fchGelu, weight: layout.parameter(.fcprojw, layer: l), geluInput: fch,
                                   B: B, T: T, C: 4 * C, OC: C)
        backend.matmulBackward(dinp: dlnOut, dweight: grad(.fcw, layer: l), dbias: grad(.fcb, layer: l),
                               dout: dfch, inp: ln2, weight: layout.parameter(.fcw, layer: l), B: B, T: T, C: C, OC: 4 * C)
        backend.layerNormBackward(dinp: dresidual, dweight: grad(.ln2w, layer: l), dbias: grad(.ln2b, layer: l),
                                  dout: dlnOut, inp: residual2, weight: layout.parameter(.ln2w, layer: l),
                                  mean: layout.activation(.ln2Mean, layer: l), rstd: layout.activation(.ln2Rstd, layer: l),
                                  B: B, T: T, C: C)
        // residual2 = input + attproj: dattproj is dresidual
        backend.matmulBackward(dinp: datty, dweight: grad(.attprojw, layer: l), dbias: grad(.attprojb, layer: l),
                               dout: dresidual, inp: atty, weight: layout.parameter(.attprojw, layer: l), B: B, T: T, C: C, OC: C)
        backend.attentionBackward(dqkv: dqkv, dout: datty, qkv: qkv, out: atty, stats: layout.activation(.attStats, layer: l),
                                  B: B, T: T, C: C, NH: NH)
        if layout.recompute {
            backend.layerNormForward(out: ln1, mean: layout.activation(.ln1Mean, layer: l), rstd: layout.activation(.ln1Rstd, layer: l),
                                     inp: input, weight: layout.parameter(.ln1w, layer: l),
                                     bias: layout.parameter(.ln1b, layer: l), B: B, T: T, C: C)
        }
        backend.matmulBackward(dinp: dlnOut, dweight: grad(.qkvw, layer: l), dbias: grad(.qkvb, layer: l),
                               dout: dqkv, inp: ln1, weight: layout.parameter(.qkvw, layer: l), B: B, T: T, C: C, OC: 3 * C)
        backend.layerNormBackward(dinp: dresidual, dweight: grad(.ln1w, layer: l), dbias: grad(.ln1b, layer: l),
                                  dout: dlnOut, inp: input, weight: layout.parameter(.ln1w, layer: l),
                                  mean: layout.activation(.ln1Mean, layer: l), rstd: layout.activation(.ln1Rstd, layer: l),
                                  B: B, T: T, C: C)
    }
}
