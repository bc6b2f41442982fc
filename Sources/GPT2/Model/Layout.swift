/// Where every tensor lives: offsets into one flat buffer per kind of state, computed once from the
/// config and the batch shape. Backends allocate from it, the planner sums it, checkpoints serialise it.

/// Offsets and sizes of every tensor for one model config and batch shape.
public struct Layout: Sendable {
    public let config: ModelConfig
    /// Micro-batch size (B).
    public let batchSize: Int
    /// Sequence length (T).
    public let sequenceLength: Int
    /// Whether LayerNorm and GELU outputs are recomputed in backward instead of stored per layer.
    public let recompute: Bool
    /// Whether the gradient, optimizer and activation-gradient buffers exist, and every layer keeps its own
    /// activations for backward (false for eval and sampling: the layers share one slice of each but qkv).
    public let training: Bool
    /// How the buffers are stored.
    public let precision: Precision
    /// Rows of logits held at once (R ≤ B·T): the lm head and the fused classifier run over the B·T rows in
    /// chunks of R, so the logits take (R,Vp) instead of (B,T,Vp).
    public let classifierChunkRows: Int

    /// The largest micro-batch (B) accepted anywhere: small enough that no buffer's element count can overflow
    /// (options beyond it are refused, not wrapped around), and within the 65,535 blocks a CUDA grid holds in y and z,
    /// where the attention kernels put the batch (the tiny model at a short --seq fits more on a 16 GiB GPU).
    public static let maximumBatchSize = (1 << 16) - 1

    /// Refuses a count of sequences or micro-batches outside 1…`maximumBatchSize`, naming its option: "--micro-batch
    /// must be between 1 and 65535 (got 0)"; `orAuto` for an option that also takes `auto`.
    public static func requireBatchCount(_ value: Int, option: String, orAuto: Bool = false) throws {
        guard !(1...maximumBatchSize).contains(value) else { return }
        throw ConfigError("\(option) must be \(orAuto ? "auto or " : "")between 1 and \(maximumBatchSize) (got \(value))")
    }

    /// The default R: 4096 rows of GPT-2's 50304-wide vocabulary are 393 MiB in bf16 (786 MiB in fp32), and
    /// each chunk after the first costs one more pass over wte's fp32 gradient (dwte += per chunk).
    public static let defaultClassifierChunkRows = 4096

    private let parameterOffsets: [Int]
    /// Offset of each `ActivationKind` within its buffer (`.activations` or `.activationStatistics`).
    private let activationOffsets: [Int]
    private let activationGradientOffsets: [Int]

    /// Elements in each buffer kind.
    public let elementCounts: [BufferKind: Int]

    /// `classifierChunkRows` nil: `defaultClassifierChunkRows`; either way at most B·T.
    public init(config: ModelConfig, batchSize: Int, sequenceLength: Int, recompute: Bool = false,
                training: Bool = true, precision: Precision = .float32, classifierChunkRows: Int? = nil) {
        self.config = config
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.recompute = recompute
        self.training = training
        self.precision = precision
        let chunkRows = min(batchSize * sequenceLength, classifierChunkRows ?? Self.defaultClassifierChunkRows)
        precondition(chunkRows > 0, "a layout needs rows (B·T) and a positive classifier chunk")
        self.classifierChunkRows = chunkRows
        parameterOffsets = ParameterKind.allCases.map { $0.offset(config) }
        let parameterCount = config.parameterCount

        var ends: [BufferKind: Int] = [.activations: 0, .activationStatistics: 0]
        var offsets: [Int] = []
        for kind in ActivationKind.allCases {
            offsets.append(ends[kind.buffer]!)
            ends[kind.buffer]! += kind.elementCount(config, B: batchSize, T: sequenceLength, recompute: recompute,
                                                    training: training, logitsRows: chunkRows)
        }
        activationOffsets = offsets

        var offset = 0
        offsets = []
        for kind in ActivationGradientKind.allCases {
            offsets.append(offset)
            offset += kind.elementCount(config, B: batchSize, T: sequenceLength)
        }
        activationGradientOffsets = offsets
        let activationGradientCount = offset

        elementCounts = [
            .parameters: parameterCount,
            .parameterCopy: precision == .float32 ? 0 : parameterCount,
            .gradients: training ? parameterCount : 0,
            .adamM: training ? parameterCount : 0,
            .adamV: training ? parameterCount : 0,
            .activations: ends[.activations]!,
            .activationStatistics: ends[.activationStatistics]!,
            .activationGradients: training ? activationGradientCount : 0,
            .tokens: 2 * batchSize * sequenceLength,
            .workspace: precision.workspaceBytes,
        ]
    }

    /// Bytes of one buffer kind.
    public func bytes(of buffer: BufferKind) -> Int { elementCounts[buffer, default: 0] * precision.dtype(of: buffer).size }

    /// Bytes of every buffer together.
    public var totalBytes: Int { BufferKind.allCases.reduce(0) { $0 + bytes(of: $1) } }

    /// Bytes of one forward activation tensor (every layer's slice together), in the dtype of its buffer:
    /// the per-kind rows of the planner's table. Summed over `ActivationKind.allCases` they make
    /// `bytes(of: .activations) + bytes(of: .activationStatistics)`.
    public func bytes(of kind: ActivationKind) -> Int {
        activationCount(kind) * precision.dtype(of: kind.buffer).size
    }

    /// Bytes of one activation-gradient scratch tensor (0 when not training).
    public func bytes(of kind: ActivationGradientKind) -> Int {
        guard training else { return 0 }
        return kind.elementCount(config, B: batchSize, T: sequenceLength) * precision.dtype(of: .activationGradients).size
    }

    /// A whole buffer as one tensor.
    public func whole(_ buffer: BufferKind) -> TensorRef {
        TensorRef(buffer: buffer, offset: 0, count: elementCounts[buffer, default: 0])
    }

    /// The whole layer-stacked parameter tensor in `buffer` (parameters, gradients, adamM or adamV).
    public func parameter(_ kind: ParameterKind, in buffer: BufferKind = .parameters) -> TensorRef {
        TensorRef(buffer: buffer, offset: parameterOffsets[kind.rawValue], count: kind.elementCount(config))
    }

    /// Layer `layer`'s slice of a per-layer parameter tensor.
    public func parameter(_ kind: ParameterKind, layer: Int, in buffer: BufferKind = .parameters) -> TensorRef {
        let whole = parameter(kind, in: buffer)
        guard kind.isPerLayer else { return whole }
        let perLayer = whole.count / config.layers
        return whole.slice(layer * perLayer, perLayer)
    }

    /// A forward activation; per-layer kinds need `layer`.
    public func activation(_ kind: ActivationKind, layer: Int = 0) -> TensorRef {
        let count = activationCount(kind)
        let whole = TensorRef(buffer: kind.buffer, offset: activationOffsets[kind.rawValue], count: count)
        let slices = kind.layerSlices(config, recompute: recompute, training: training)
        guard slices > 1 else { return whole }
        let perLayer = count / slices
        return whole.slice(layer * perLayer, perLayer)
    }

    /// One of the shared activation-gradient scratch tensors.
    public func activationGradient(_ kind: ActivationGradientKind) -> TensorRef {
        TensorRef(buffer: .activationGradients, offset: activationGradientOffsets[kind.rawValue],
                  count: kind.elementCount(config, B: batchSize, T: sequenceLength))
    }

    /// Elements of one forward activation tensor, every layer's slice together.
    private func activationCount(_ kind: ActivationKind) -> Int {
        kind.elementCount(config, B: batchSize, T: sequenceLength, recompute: recompute, training: training,
                          logitsRows: classifierChunkRows)
    }

    /// Input token ids (B,T).
    public var inputs: TensorRef { TensorRef(buffer: .tokens, offset: 0, count: batchSize * sequenceLength) }
    /// Target token ids (B,T).
    public var targets: TensorRef {
        TensorRef(buffer: .tokens, offset: batchSize * sequenceLength, count: batchSize * sequenceLength)
    }
}
