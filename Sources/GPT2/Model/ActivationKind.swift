/// The forward activations GPT-2 keeps for its backward pass, and the activation-gradient scratch
/// tensors its backward pass reuses layer after layer. Shapes use B batch, T time, C channels.

public enum ActivationKind: Int, CaseIterable, Sendable {
    case encoded      // (B,T,C) token + position embedding
    case ln1          // (L,B,T,C); one (B,T,C) shared slice with recompute
    case ln1Mean      // (L,B,T)
    case ln1Rstd      // (L,B,T)
    case qkv          // (L,B,T,3C)
    case atty         // (L,B,T,C) attention output before the projection
    case attStats     // (L,B,NH,T) log-sum-exp of each attention row
    case attproj      // (L,B,T,C)
    case residual2    // (L,B,T,C)
    case ln2          // (L,B,T,C); shared with recompute
    case ln2Mean      // (L,B,T)
    case ln2Rstd      // (L,B,T)
    case fch          // (L,B,T,4C) MLP pre-activation
    case fchGelu      // (L,B,T,4C); shared with recompute
    case fcproj       // (L,B,T,C)
    case residual3    // (L,B,T,C) output of each block
    case lnf          // (B,T,C)
    case lnfMean      // (B,T)
    case lnfRstd      // (B,T)
    case logits       // (R,Vp), R = Layout.classifierChunkRows of the B·T rows at a time; holds dlogits after the fused classifier
    case losses       // (B,T)

    /// The buffer holding it: per-row statistics stay fp32 in `.activationStatistics`.
    public var buffer: BufferKind {
        switch self {
        case .ln1Mean, .ln1Rstd, .ln2Mean, .ln2Rstd, .attStats, .lnfMean, .lnfRstd, .losses: return .activationStatistics
        default: return .activations
        }
    }

    /// Elements per layer slice (or in the whole tensor for the global kinds); the logits hold `logitsRows` rows.
    func sliceCount(_ c: ModelConfig, B: Int, T: Int, logitsRows: Int) -> Int {
        let (C, Vp, NH) = (c.channels, c.paddedVocabularySize, c.heads)
        switch self {
        case .encoded, .ln1, .atty, .attproj, .residual2, .ln2, .fcproj, .residual3, .lnf: return B * T * C
        case .ln1Mean, .ln1Rstd, .ln2Mean, .ln2Rstd, .lnfMean, .lnfRstd, .losses: return B * T
        case .qkv: return B * T * 3 * C
        case .attStats: return B * NH * T
        case .fch, .fchGelu: return B * T * 4 * C
        case .logits: return logitsRows * Vp
        }
    }

    /// How many layer slices the tensor holds: L, or 1 for global and (with recompute) shared kinds. Without
    /// training, nothing is kept for a backward pass, so every layer shares one slice of each kind but qkv, whose
    /// keys and values are the cache that sampling attends to; a layer's input, residual3 of the layer before, is
    /// then overwritten in place by its own output once both of its reads are done.
    func layerSlices(_ c: ModelConfig, recompute: Bool, training: Bool) -> Int {
        switch self {
        case .encoded, .lnf, .lnfMean, .lnfRstd, .logits, .losses: return 1
        case .qkv: return c.layers
        case _ where !training: return 1
        case .ln1, .ln2, .fchGelu: return recompute ? 1 : c.layers
        default: return c.layers
        }
    }

    func elementCount(_ c: ModelConfig, B: Int, T: Int, recompute: Bool, training: Bool, logitsRows: Int) -> Int {
        sliceCount(c, B: B, T: T, logitsRows: logitsRows) * layerSlices(c, recompute: recompute, training: training)
    }
}

/// Scratch tensors for activation gradients, each (B,T,·), reused by every layer in backward.
public enum ActivationGradientKind: Int, CaseIterable, Sendable {
    case residual   // (B,T,C) gradient flowing down the residual stream
    case lnOut      // (B,T,C) gradient w.r.t. a LayerNorm output
    case qkv        // (B,T,3C)
    case atty       // (B,T,C)
    // (B,T,4C) gradient w.r.t. the MLP pre-activation; without the fused GELU epilogue, the GELU output's
    // gradient is formed here first and turned into it in place.
    case fch

    func elementCount(_ c: ModelConfig, B: Int, T: Int) -> Int {
        let C = c.channels
        switch self {
        case .residual, .lnOut, .atty: return B * T * C
        case .qkv: return B * T * 3 * C
        case .fch: return B * T * 4 * C
        }
    }
}
