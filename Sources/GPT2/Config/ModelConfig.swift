/// The shape of a GPT-2 model and the named presets users pick with `--model`.
/// Presets are data: one table, each entry a config.

/// The hyperparameters that fix a GPT-2 model's shape.
public struct ModelConfig: Codable, Sendable, Equatable {
    /// Longest context the position embedding covers (maxT).
    public var maxSequenceLength: Int
    /// Real vocabulary size (V): 50257 for GPT-2's BPE.
    public var vocabularySize: Int
    /// Vocabulary padded up to a multiple of 128 (Vp), so the classifier GEMM has friendly shapes.
    public var paddedVocabularySize: Int
    /// Number of transformer blocks (L).
    public var layers: Int
    /// Attention heads per block (NH).
    public var heads: Int
    /// Width of the residual stream (C).
    public var channels: Int

    public init(maxSequenceLength: Int, vocabularySize: Int = GPT2Tokenizer.vocabularySize, layers: Int, heads: Int, channels: Int) {
        self.maxSequenceLength = maxSequenceLength
        self.vocabularySize = vocabularySize
        self.paddedVocabularySize = (vocabularySize + 127) / 128 * 128
        self.layers = layers
        self.heads = heads
        self.channels = channels
    }

    /// Size of one attention head (HS = C / NH).
    public var headSize: Int { channels / heads }

    /// `L=12 NH=12 C=768 maxT=1024`: the shape as logs print it.
    public var shape: String { "L=\(layers) NH=\(heads) C=\(channels) maxT=\(maxSequenceLength)" }

    /// `shape` with the vocabulary (`… V=50257 Vp=50304`), for telling apart configs of the same shape.
    public var shapeAndVocabulary: String { "\(shape) V=\(vocabularySize) Vp=\(paddedVocabularySize)" }

    /// Number of parameters in the flat buffer, padded vocabulary rows included.
    public var parameterCount: Int { ParameterKind.allCases.reduce(0) { $0 + $1.elementCount(self) } }

    /// The parameters of the vocabulary's padding rows (Vp − V rows of the token embedding), always zero: part of
    /// `parameterCount` but not of the model as Hugging Face counts it (GPT-2 124M: 124,439,808).
    public var paddingParameterCount: Int { (paddedVocabularySize - vocabularySize) * channels }

    /// `parameterCount`, or nil when it does not fit in an Int (a hostile or corrupt file header).
    public var checkedParameterCount: Int? {
        var total = 0
        for kind in ParameterKind.allCases {
            var count = 1
            for dimension in kind.shape(self) {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow else { return nil }
                count = product
            }
            let (sum, overflow) = total.addingReportingOverflow(count)
            guard !overflow else { return nil }
            total = sum
        }
        return total
    }

    /// Refuses a `--seq` outside 1…`maxSequenceLength`, saying what to give instead.
    public func requireSequenceLength(_ seq: Int) throws {
        guard seq > 0 else { throw ConfigError("--seq must be positive (got \(seq))") }
        guard seq <= maxSequenceLength else {
            throw ConfigError("--seq \(seq) is longer than the model's context of \(maxSequenceLength) tokens; use --seq \(maxSequenceLength) or less")
        }
    }

    /// Checks that the shape is usable; throws a message a user can act on.
    public func validate() throws {
        guard layers > 0, heads > 0, channels > 0, maxSequenceLength > 0, vocabularySize > 0 else {
            throw ConfigError("model dimensions must be positive (layers \(layers), heads \(heads), channels \(channels), context \(maxSequenceLength), vocab \(vocabularySize))")
        }
        guard channels % heads == 0 else {
            throw ConfigError("channels (\(channels)) must be a multiple of heads (\(heads))")
        }
        guard paddedVocabularySize >= vocabularySize else {
            throw ConfigError("padded vocabulary (\(paddedVocabularySize)) is smaller than the vocabulary (\(vocabularySize))")
        }
    }

    /// Throws unless the vocabulary is GPT-2's, which `purpose` (sampling, HellaSwag) needs: it feeds the model GPT-2
    /// token ids, which would read past a smaller embedding table. `source` names the model in the message.
    public func requireGPT2Vocabulary(of source: String, for purpose: String) throws {
        guard vocabularySize == GPT2Tokenizer.vocabularySize else {
            throw ConfigError("\(source) has a \(vocabularySize)-token vocabulary; \(purpose) needs GPT-2's \(GPT2Tokenizer.vocabularySize)")
        }
    }
}

/// A named model shape: `d12` is GPT-2 124M; the small ones serve tests and the demo.
public struct ModelPreset: Sendable {
    public var name: String
    public var summary: String
    public var config: ModelConfig

    /// Every preset, smallest first.
    public static let all: [ModelPreset] = [
        ModelPreset(name: "tiny", summary: "2 layers, 2 heads, 32 wide, context 64 (tests)",
                    config: ModelConfig(maxSequenceLength: 64, layers: 2, heads: 2, channels: 32)),
        ModelPreset(name: "small", summary: "4 layers, 4 heads, 128 wide, context 256 (CPU demo)",
                    config: ModelConfig(maxSequenceLength: 256, layers: 4, heads: 4, channels: 128)),
        ModelPreset(name: "d6", summary: "6 layers, 6 heads, 384 wide, context 1024",
                    config: ModelConfig(maxSequenceLength: 1024, layers: 6, heads: 6, channels: 384)),
        ModelPreset(name: "d12", summary: "GPT-2 124M: 12 layers, 12 heads, 768 wide, context 1024",
                    config: ModelConfig(maxSequenceLength: 1024, layers: 12, heads: 12, channels: 768)),
        ModelPreset(name: "d24", summary: "GPT-2 350M: 24 layers, 16 heads, 1024 wide",
                    config: ModelConfig(maxSequenceLength: 1024, layers: 24, heads: 16, channels: 1024)),
        ModelPreset(name: "d36", summary: "GPT-2 774M: 36 layers, 20 heads, 1280 wide",
                    config: ModelConfig(maxSequenceLength: 1024, layers: 36, heads: 20, channels: 1280)),
        ModelPreset(name: "d48", summary: "GPT-2 1558M: 48 layers, 25 heads, 1600 wide",
                    config: ModelConfig(maxSequenceLength: 1024, layers: 48, heads: 25, channels: 1600)),
    ]

    /// Looks a preset up by name; the error lists the valid names.
    public static func named(_ name: String) throws -> ModelPreset {
        guard let preset = all.first(where: { $0.name == name }) else {
            throw ConfigError("unknown model preset '\(name)'; choose one of: \(all.map(\.name).joined(separator: ", "))")
        }
        return preset
    }
}
