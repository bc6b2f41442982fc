/// Where every tensor lives: offsets into one flat buffer per kind of state, computed once from the
/// config and the batch shape. Backends allocate from it, the planner sums it, checkpoints serialise it.

/// The flat buffers a backend allocates.
public enum BufferKind: Int, CaseIterable, Sendable {
    /// Model weights, fp32, in `ParameterKind` order.
    case parameters
    /// Parameter gradients, same layout as `parameters`.
    case gradients
    /// AdamW first moment, same layout as `parameters`.
    case adamM
    /// AdamW second moment, same layout as `parameters`.
    case adamV
    /// Forward activations kept for the backward pass, in `ActivationKind` order.
    case activations
    /// Activation gradients: a few (B,T,·) scratch tensors reused by every layer.
    case activationGradients
    /// Token ids: inputs (B,T) then targets (B,T), int32.
    case tokens
}

/// Element type of a buffer.
public enum DType: Sendable {
    case float32, int32

    public var size: Int { 4 }
}

/// A window into one of the flat buffers: which buffer, where, how many elements, what type.
public struct TensorRef: Sendable, Equatable {
    public var buffer: BufferKind
    public var offset: Int
    public var count: Int

    public init(buffer: BufferKind, offset: Int, count: Int) {
        self.buffer = buffer
        self.offset = offset
        self.count = count
    }

    /// The sub-window `[start, start+length)` of this tensor.
    public func slice(_ start: Int, _ length: Int) -> TensorRef {
        precondition(start >= 0 && length >= 0 && start + length <= count, "slice out of range")
        return TensorRef(buffer: buffer, offset: offset + start, count: length)
    }
}

/// Offsets and sizes of every tensor for one model config and batch shape.
public struct Layout: Sendable {
    public let config: ModelConfig
    /// Micro-batch size (B).
    public let batchSize: Int
    /// Sequence length (T).
    public let sequenceLength: Int
    /// Whether LayerNorm and GELU outputs are recomputed in backward instead of stored per layer.
    public let recompute: Bool
    /// Whether the gradient, optimizer and activation-gradient buffers exist (false for eval/sampling).
    public let training: Bool

    private let parameterOffsets: [Int]
    private let activationOffsets: [Int]
    private let activationGradientOffsets: [Int]

    /// Elements in each buffer kind.
    public let elementCounts: [BufferKind: Int]

    public init(config: ModelConfig, batchSize: Int, sequenceLength: Int, recompute: Bool = false, training: Bool = true) {
        self.config = config
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.recompute = recompute
        self.training = training
        var offset = 0
        var offsets: [Int] = []
        for kind in ParameterKind.allCases {
            offsets.append(offset)
            offset += kind.elementCount(config)
        }
        parameterOffsets = offsets
        let parameterCount = offset

        offset = 0
        offsets = []
        for kind in ActivationKind.allCases {
            offsets.append(offset)
            offset += kind.elementCount(config, B: batchSize, T: sequenceLength, recompute: recompute)
        }
        activationOffsets = offsets
        let activationCount = offset

        offset = 0
        offsets = []
        for kind in ActivationGradientKind.allCases {
            offsets.append(offset)
            offset += kind.elementCount(config, B: batchSize, T: sequenceLength)
        }
        activationGradientOffsets = offsets
        let activationGradientCount = offset

        elementCounts = [
            .parameters: parameterCount,
            .gradients: training ? parameterCount : 0,
            .adamM: training ? parameterCount : 0,
            .adamV: training ? parameterCount : 0,
            .activations: activationCount,
            .activationGradients: training ? activationGradientCount : 0,
            .tokens: 2 * batchSize * sequenceLength,
        ]
    }

    /// Bytes of one buffer kind.
    public func bytes(of buffer: BufferKind) -> Int { elementCounts[buffer, default: 0] * 4 }

    /// Bytes of every buffer together.
    public var totalBytes: Int { BufferKind.allCases.reduce(0) { $0 + bytes(of: $1) } }

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
        let count = kind.elementCount(config, B: batchSize, T: sequenceLength, recompute: recompute)
        let whole = TensorRef(buffer: .activations, offset: activationOffsets[kind.rawValue], count: count)
        let slices = kind.layerSlices(config, recompute: recompute)
        guard slices > 1 else { return whole }
        let perLayer = count / slices
        return whole.slice(layer * perLayer, perLayer)
    }

    /// One of the shared activation-gradient scratch tensors.
    public func activationGradient(_ kind: ActivationGradientKind) -> TensorRef {
        TensorRef(buffer: .activationGradients, offset: activationGradientOffsets[kind.rawValue],
                  count: kind.elementCount(config, B: batchSize, T: sequenceLength))
    }

    /// Input token ids (B,T).
    public var inputs: TensorRef { TensorRef(buffer: .tokens, offset: 0, count: batchSize * sequenceLength) }
    /// Target token ids (B,T).
    public var targets: TensorRef {
        TensorRef(buffer: .tokens, offset: batchSize * sequenceLength, count: batchSize * sequenceLength)
    }
}
