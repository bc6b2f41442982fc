/// The sixteen parameter tensors of GPT-2, in llm.c's file order, with their shapes.
/// The flat parameter buffer is these tensors back to back, layer-stacked where they are per layer.

public enum ParameterKind: Int, CaseIterable, Sendable, Codable {
    case wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb

    /// Shape of the whole (layer-stacked) tensor.
    public func shape(_ c: ModelConfig) -> [Int] {
        let (L, C, Vp, maxT) = (c.layers, c.channels, c.paddedVocabularySize, c.maxSequenceLength)
        switch self {
        case .wte: return [Vp, C]
        case .wpe: return [maxT, C]
        case .ln1w, .ln1b, .ln2w, .ln2b, .attprojb, .fcprojb: return [L, C]
        case .qkvw: return [L, 3 * C, C]
        case .qkvb: return [L, 3 * C]
        case .attprojw: return [L, C, C]
        case .fcw: return [L, 4 * C, C]
        case .fcb: return [L, 4 * C]
        case .fcprojw: return [L, C, 4 * C]
        case .lnfw, .lnfb: return [C]
        }
    }

    /// Elements in the whole tensor.
    public func elementCount(_ c: ModelConfig) -> Int { shape(c).reduce(1, *) }

    /// Where the tensor starts in the flat parameter buffer: after every kind before it, in llm.c's order.
    public func offset(_ c: ModelConfig) -> Int {
        ParameterKind.allCases.prefix(rawValue).reduce(0) { $0 + $1.elementCount(c) }
    }

    /// Whether the tensor has one slice per layer.
    public var isPerLayer: Bool {
        switch self {
        case .wte, .wpe, .lnfw, .lnfb: return false
        default: return true
        }
    }

    /// Whether AdamW applies weight decay: 2-D matrices (embeddings and linear weights), not biases or norms.
    public var isDecayed: Bool {
        switch self {
        case .wte, .wpe, .qkvw, .attprojw, .fcw, .fcprojw: return true
        default: return false
        }
    }

    /// Whether GPT-2 initialises it with the residual-projection scale 0.02/sqrt(2L).
    public var isResidualProjection: Bool { self == .attprojw || self == .fcprojw }

    /// The name llm.c and our checkpoints use.
    public var name: String { String(describing: self) }
}
