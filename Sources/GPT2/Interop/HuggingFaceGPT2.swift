/// Hugging Face transformers' `GPT2LMHeadModel` as files: `model.safetensors` + `config.json` in, and out.
/// Its Conv1D weights are stored [in, out] (ours are [out, in]); its vocabulary is unpadded; `lm_head` is
/// tied to `wte` and not saved.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public enum HuggingFaceGPT2 {
    /// The two files of a transformers model folder.
    public static let modelFileName = "model.safetensors", configFileName = "config.json"

    /// Writes `DIR/model.safetensors` and `DIR/config.json`, loadable by `GPT2LMHeadModel.from_pretrained(DIR)`.
    /// Returns how many parameters the file holds (wte without its padding rows).
    @discardableResult
    public static func export(directory: String, config: ModelConfig, parameters: [Float]) throws -> Int {
        precondition(parameters.count == config.parameterCount, "parameter count mismatch")
        guard FileSystem.makeDirectories(directory) else {
            throw FileError("cannot create \(directory): \(FileSystem.lastErrorMessage)")
        }
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        let slices = ParameterSlices(config: config, parameters: parameters)
        let (C, V, L) = (config.channels, config.vocabularySize, config.layers)
        tensors.append(("transformer.wte.weight", [V, C], Array(slices.whole(.wte).prefix(V * C))))
        tensors.append(("transformer.wpe.weight", [config.maxSequenceLength, C], Array(slices.whole(.wpe))))
        for l in 0..<L {
            for tensor in blockTensors(channels: C) {
                let values = slices.layer(tensor.kind, l), shape = tensor.shape
                tensors.append(("transformer.h.\(l)." + tensor.suffix, shape,
                                tensor.isConv1DWeight ? transpose(values, rows: shape[1], columns: shape[0]) : values))
            }
        }
        tensors.append(("transformer.ln_f.weight", [C], Array(slices.whole(.lnfw))))
        tensors.append(("transformer.ln_f.bias", [C], Array(slices.whole(.lnfb))))
        // (the two replace an earlier export's together: a folder whose config.json describes another model loads nowhere)
        let json = configJSON(config)
        try AtomicFile.writeTogether([
            (FileSystem.join(directory, modelFileName), SafetensorsFile.writer(tensors: tensors, metadata: ["format": "pt", headCountKey: String(config.heads)])),
            (FileSystem.join(directory, configFileName), { sink in try sink.write(Array(json.utf8)) }),
        ])
        return tensors.reduce(0) { $0 + $1.values.count }
    }

    /// One block's tensors as transformers names and shapes them (`h.L.` + suffix), in our parameter order, with the
    /// parameter each holds. Conv1D weights are stored [in, out]: the transpose of ours.
    static func blockTensors(channels C: Int) -> [(suffix: String, kind: ParameterKind, shape: [Int], isConv1DWeight: Bool)] {
        [("ln_1.weight", .ln1w, [C], false), ("ln_1.bias", .ln1b, [C], false),
         ("attn.c_attn.weight", .qkvw, [C, 3 * C], true), ("attn.c_attn.bias", .qkvb, [3 * C], false),
         ("attn.c_proj.weight", .attprojw, [C, C], true), ("attn.c_proj.bias", .attprojb, [C], false),
         ("ln_2.weight", .ln2w, [C], false), ("ln_2.bias", .ln2b, [C], false),
         ("mlp.c_fc.weight", .fcw, [C, 4 * C], true), ("mlp.c_fc.bias", .fcb, [4 * C], false),
         ("mlp.c_proj.weight", .fcprojw, [4 * C, C], true), ("mlp.c_proj.bias", .fcprojb, [C], false)]
    }

    /// The `__metadata__` entry our exports add: the head count, which no tensor's shape tells, so that the
    /// model file alone (without its config.json) loads with the right heads.
    static let headCountKey = "gpt2_swift_n_head"

    /// Loads a safetensors GPT-2 (`FILE.safetensors`, or a folder with `model.safetensors`): the shape comes from
    /// `config.json` beside it when there is one, else from the tensor shapes, with the head count our exports
    /// record in the metadata, or else 64-wide heads (as every GPT-2 size has). The vocabulary is padded to a
    /// multiple of 128 with zero rows.
    public static func load(_ path: String) throws -> (config: ModelConfig, parameters: [Float]) {
        let opened = try open(path)
        var parameters: [Float] = []
        parameters.reserveCapacity(opened.config.parameterCount)
        try opened.readParameters { _, values in parameters += values.bindMemory(to: Float.self) }
        return (opened.config, parameters)
    }

    /// Opens the GPT-2 at `path` (as for `load`) and checks its shape; its weights are then read a tensor at a time.
    public static func open(_ path: String) throws -> OpenFile {
        let (file, declared) = try locate(path)
        let tensors = try SafetensorsFile(path: file)
        let (config, names) = try shape(of: tensors, declared: declared)
        return OpenFile(config: config, file: tensors, names: names)
    }

    /// The model shape of the GPT-2 at `path` (as for `load`), from config.json and the safetensors header alone.
    public static func config(_ path: String) throws -> ModelConfig {
        let (file, declared) = try locate(path)
        return try shape(of: try SafetensorsFile(path: file), declared: declared).config
    }

    /// An opened safetensors GPT-2: its shape, and its weights in our layout, one tensor at a time.
    public struct OpenFile: OpenWeightsFile {
        public let config: ModelConfig
        let file: SafetensorsFile
        /// Each bare tensor name ("h.0.ln_1.weight") → its name in the file.
        let names: [String: String]

        /// Hands every parameter to `put(range, buffer)` as fp32, a tensor at a time in our flat layout (elements
        /// `range` of it: layer-stacked kinds, Conv1D weights transposed to [out, in], the vocabulary padded with
        /// zero rows), so that loading needs no whole copy of the weights beside the file.
        public func readParameters(_ put: (Range<Int>, UnsafeRawBufferPointer) throws -> Void) throws {
            func fail(_ message: String) -> FileError { FileError("\(file.path) is not a GPT-2 checkpoint in transformers' layout: \(message)") }
            let (C, V, L) = (config.channels, config.vocabularySize, config.layers)
            var used = Set<String>()
            func tensor(_ bare: String, _ expected: [Int]) throws -> [Float] {
                guard let name = names[bare], let entry = file.tensors[name] else { throw fail("missing tensor '\(bare)'") }
                guard entry.shape == expected else { throw fail("tensor '\(name)' has shape \(entry.shape), expected \(expected)") }
                used.insert(bare)
                return try file.floats(name)
            }
            var offset = 0
            func emit(_ values: [Float]) throws {
                try values.withUnsafeBytes { try put(offset..<(offset + values.count), $0) }
                offset += values.count
            }
            let wte = try tensor("wte.weight", [V, C])
            if let lmHead = ["lm_head.weight", "transformer.lm_head.weight"].first(where: { file.tensors[$0] != nil }) {
                guard file.tensors[lmHead]!.shape == [V, C], try file.floats(lmHead) == wte else {
                    throw fail("lm_head.weight differs from wte.weight; only GPT-2 with tied embeddings is supported")
                }
            }
            try emit(wte)
            try emit([Float](repeating: 0, count: (config.paddedVocabularySize - V) * C))
            try emit(try tensor("wpe.weight", [config.maxSequenceLength, C]))
            for block in blockTensors(channels: C) {
                for l in 0..<L {   // layer-stacked: every layer's slice of one kind, then the next kind
                    let values = try tensor("h.\(l).\(block.suffix)", block.shape)
                    try emit(block.isConv1DWeight ? transpose(values, rows: block.shape[0], columns: block.shape[1]) : values)
                }
            }
            try emit(try tensor("ln_f.weight", [C]))
            try emit(try tensor("ln_f.bias", [C]))
            if let extra = names.keys.sorted().first(where: { !used.contains($0) }) {
                throw fail("unexpected tensor '\(names[extra]!)'")
            }
            precondition(offset == config.parameterCount, "parameter assembly is out of step with ParameterKind")
        }
    }

    /// The safetensors file `path` names (itself, or `model.safetensors` in the folder) and the shape its
    /// config.json declares, when there is one beside it.
    private static func locate(_ path: String) throws -> (file: String, declared: ModelConfig?) {
        let file = FileSystem.isDirectory(path) ? FileSystem.join(path, modelFileName) : path
        guard FileSystem.isFile(file) else { throw FileError("\(path): no model.safetensors there") }
        let configPath = FileSystem.join(FileSystem.directoryName(file), configFileName)
        return (file, FileSystem.isFile(configPath) ? try readConfig(configPath) : nil)
    }

    /// The model shape of the GPT-2 in `file`: `declared` if given, checked against the tensors' shapes, else
    /// inferred from them (heads as `load` says); and each bare tensor name ("h.0.ln_1.weight") mapped to its name
    /// in the file, with or without transformers' `transformer.` prefix (OpenAI's upload has none).
    private static func shape(of file: SafetensorsFile, declared: ModelConfig?) throws -> (config: ModelConfig, names: [String: String]) {
        let (tensors, path) = (file.tensors, file.path)
        func fail(_ message: String) -> FileError { FileError("\(path) is not a GPT-2 checkpoint in transformers' layout: \(message)") }
        var byName: [String: String] = [:]
        for name in tensors.keys {
            let bare = name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
            if bare == "lm_head.weight" || bare.hasSuffix(".attn.bias") || bare.hasSuffix(".attn.masked_bias") { continue }
            guard byName[bare] == nil else { throw fail("tensor '\(bare)' appears both with and without the 'transformer.' prefix") }
            byName[bare] = name
        }
        func shape(_ bare: String) throws -> [Int] {
            guard let name = byName[bare], let tensor = tensors[name] else { throw fail("missing tensor '\(bare)'") }
            return tensor.shape
        }
        let wteShape = try shape("wte.weight"), wpeShape = try shape("wpe.weight")
        guard wteShape.count == 2, wpeShape.count == 2 else { throw fail("wte and wpe must be 2-D (got \(wteShape), \(wpeShape))") }
        var layers = 0
        while byName["h.\(layers).ln_1.weight"] != nil { layers += 1 }
        let channels = wteShape[1]
        let config: ModelConfig
        if let declared {
            config = declared
        } else {
            let recorded = file.metadata[headCountKey].flatMap { Int($0) }
            guard let heads = recorded ?? (channels % 64 == 0 ? channels / 64 : nil) else {
                throw fail("the head count is in no tensor's shape, the file does not record it and n_embd \(channels) is not a multiple "
                           + "of GPT-2's 64-wide heads; put the config.json it came with beside it")
            }
            config = ModelConfig(maxSequenceLength: wpeShape[0], vocabularySize: wteShape[0], layers: layers, heads: heads, channels: channels)
        }
        do { try config.validate() } catch { throw fail("\(error)") }
        guard config.layers == layers else { throw fail("config.json says \(config.layers) layers but the file has \(layers)") }
        guard [config.vocabularySize, config.channels] == wteShape, config.maxSequenceLength == wpeShape[0] else {
            throw fail("config.json (vocab \(config.vocabularySize), n_embd \(config.channels), n_positions \(config.maxSequenceLength)) disagrees with wte \(wteShape) and wpe \(wpeShape)")
        }
        return (config, byName)
    }

    /// transformers' config.json for `config` (GPT-2's defaults for everything we do not vary).
    static func configJSON(_ config: ModelConfig) -> String {
        """
        {
          "activation_function": "gelu_new",
          "architectures": ["GPT2LMHeadModel"],
          "attn_pdrop": 0.1,
          "bos_token_id": 50256,
          "embd_pdrop": 0.1,
          "eos_token_id": 50256,
          "initializer_range": 0.02,
          "layer_norm_epsilon": 1e-05,
          "model_type": "gpt2",
          "n_ctx": \(config.maxSequenceLength),
          "n_embd": \(config.channels),
          "n_head": \(config.heads),
          "n_inner": null,
          "n_layer": \(config.layers),
          "n_positions": \(config.maxSequenceLength),
          "reorder_and_upcast_attn": false,
          "resid_pdrop": 0.1,
          "scale_attn_by_inverse_layer_idx": false,
          "scale_attn_weights": true,
          "tie_word_embeddings": true,
          "torch_dtype": "float32",
          "use_cache": true,
          "vocab_size": \(config.vocabularySize)
        }

        """
    }

    /// The model shape a transformers config.json declares; rejects GPT-2 variants we do not implement.
    static func readConfig(_ path: String) throws -> ModelConfig {
        struct Fields: Decodable {
            var n_embd: Int, n_layer: Int, n_head: Int, n_positions: Int, vocab_size: Int
            var model_type: String?, activation_function: String?, n_inner: Int?, layer_norm_epsilon: Double?
            var scale_attn_by_inverse_layer_idx: Bool?, scale_attn_weights: Bool?, reorder_and_upcast_attn: Bool?, tie_word_embeddings: Bool?
        }
        let fields: Fields, json = Data(try ByteFile.contents(ofFile: path))
        do {
            fields = try JSONDecoder().decode(Fields.self, from: json)
        } catch {
            throw FileError("\(path) is not a GPT-2 config.json (\(decodingErrorText(error, in: json)))")
        }
        func unsupported(_ what: String) -> FileError { FileError("\(path): \(what) is not supported (plain GPT-2 only)") }
        if let type = fields.model_type, type != "gpt2" { throw unsupported("model_type '\(type)'") }
        if let activation = fields.activation_function, activation != "gelu_new", activation != "gelu_pytorch_tanh" {
            throw unsupported("activation_function '\(activation)'")
        }
        if let inner = fields.n_inner, inner != 4 * fields.n_embd { throw unsupported("n_inner \(inner)") }
        if let eps = fields.layer_norm_epsilon, abs(eps - 1e-5) > 1e-12 { throw unsupported("layer_norm_epsilon \(eps)") }
        if fields.scale_attn_by_inverse_layer_idx == true { throw unsupported("scale_attn_by_inverse_layer_idx") }
        if fields.scale_attn_weights == false { throw unsupported("attention without the 1/√head_size scale (scale_attn_weights false)") }
        if fields.tie_word_embeddings == false { throw unsupported("untied word embeddings") }
        return ModelConfig(maxSequenceLength: fields.n_positions, vocabularySize: fields.vocab_size,
                           layers: fields.n_layer, heads: fields.n_head, channels: fields.n_embd)
    }
}

/// Views into a flat parameter buffer by kind and layer.
struct ParameterSlices {
    let config: ModelConfig
    let parameters: [Float]

    func whole(_ kind: ParameterKind) -> ArraySlice<Float> {
        let start = kind.offset(config)
        return parameters[start..<(start + kind.elementCount(config))]
    }

    func layer(_ kind: ParameterKind, _ l: Int) -> [Float] {
        let size = kind.elementCount(config) / config.layers
        let start = kind.offset(config) + l * size
        return Array(parameters[start..<(start + size)])
    }
}

/// `values` (rows × columns, row-major) transposed to columns × rows, in 32 × 32 tiles: row by row, every store of a
/// d12 matrix landed on another cache line (a fifth of a safetensors export's or load's time).
func transpose(_ values: [Float], rows: Int, columns: Int) -> [Float] {
    precondition(values.count == rows * columns, "transpose shape mismatch")
    let tile = 32
    return [Float](unsafeUninitializedCapacity: values.count) { target, initialized in
        values.withUnsafeBufferPointer { source in
            for rowStart in stride(from: 0, to: rows, by: tile) {
                for columnStart in stride(from: 0, to: columns, by: tile) {
                    for r in rowStart..<min(rowStart + tile, rows) {
                        for c in columnStart..<min(columnStart + tile, columns) { target[c * rows + r] = source[r * columns + c] }
                    }
                }
            }
        }
        initialized = values.count
    }
}
