/// Weights in and out of other programs' files: ours → safetensors (transformers' GPT-2 layout) → ours and
/// ours → llm.c (fp32 and bf16) → ours are bit-exact; the loaders accept OpenAI's variants and reject the rest.

import Foundation
@testable import GPT2
import GPT2TestSupport
import Testing

@Suite struct InteropRoundTripTests {
    /// 3 layers, 2 heads, 16 wide, context 12, vocabulary 200 (padded to 256).
    private let config = ModelConfig(maxSequenceLength: 12, vocabularySize: 200, layers: 3, heads: 2, channels: 16)

    /// Distinct random weights with zero padded-vocabulary rows (as training keeps them).
    private func parameters(seed: UInt64 = 3) -> [Float] {
        var values = [Float](repeating: 0, count: config.parameterCount)
        var random = SeededRandom(seed: seed)
        random.fillNormal(&values, std: 0.5)
        for i in (config.vocabularySize * config.channels)..<(config.paddedVocabularySize * config.channels) { values[i] = 0 }
        return values
    }

    @Test func safetensorsRoundTripIsBitExact() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = parameters()
        try HuggingFaceGPT2.export(directory: directory.path, config: config, parameters: original)
        for source in [directory.path, directory.appendingPathComponent("model.safetensors").path] {
            let (loaded, values) = try ModelSource.load(source)
            #expect(loaded == config)
            #expect(values.map(\.bitPattern) == original.map(\.bitPattern))
            #expect(try ModelSource.config(source) == config, "the shape from the header and config.json alone")
        }
    }

    /// A run folder stands for its newest checkpoint; one that also holds a model.safetensors (exported into it) is
    /// refused by name rather than read as the export, which had silently won over newer checkpoints.
    @Test func aRunFolderHoldingAnExportIsAmbiguous() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try HuggingFaceGPT2.export(directory: directory.path, config: config, parameters: parameters())
        #expect(try ModelSource.config(directory.path) == config)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("ckpt_4"), withIntermediateDirectories: true)
        let error = #expect(throws: FileError.self) { try ModelSource.config(directory.path) }
        #expect(error?.description.contains("holds both checkpoints and a model.safetensors; name the one you mean: "
                                            + directory.path + "/ckpt_4 (the newest checkpoint) or " + directory.path + "/model.safetensors") == true,
                "\(String(describing: error))")
        #expect(try ModelSource.config(directory.path + "/model.safetensors") == config)
        // a checkpoint folder holding an export: the checkpoint's weights are named by its model.bin
        try FileManager.default.removeItem(at: directory.appendingPathComponent("ckpt_4"))
        try Data("{}".utf8).write(to: directory.appendingPathComponent("state.json"))
        let checkpoint = #expect(throws: FileError.self) { try ModelSource.config(directory.path) }
        #expect(checkpoint?.description.contains("holds both a checkpoint and a model.safetensors; name the one you mean: "
                                                 + directory.path + "/model.bin or " + directory.path + "/model.safetensors") == true,
                "\(String(describing: checkpoint))")
    }

    /// The Conv1D layout's transpose, done in tiles, puts every element where the definition does, for shapes that fill
    /// no tile, some tiles, and tiles with a remainder each way.
    @Test(arguments: [(1, 5), (5, 1), (31, 33), (32, 64), (37, 70), (70, 37), (100, 3)])
    func transposeMovesEachElementToItsPlace(rows: Int, columns: Int) {
        let values = (0..<(rows * columns)).map { Float($0) }
        let transposed = transpose(values, rows: rows, columns: columns)
        #expect(transposed.count == values.count)
        var misplaced = 0
        for r in 0..<rows {
            for c in 0..<columns where transposed[c * rows + r] != values[r * columns + c] { misplaced += 1 }
        }
        #expect(misplaced == 0, "\(misplaced) of \(values.count) elements misplaced")
    }

    @Test func exportUsesTransformersNamesShapesAndConv1DLayout() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let values = parameters()
        try HuggingFaceGPT2.export(directory: directory.path, config: config, parameters: values)
        let file = try SafetensorsFile(path: directory.appendingPathComponent("model.safetensors").path)
        #expect(file.metadata["format"] == "pt")   // from_pretrained refuses files without it
        #expect(file.tensors.count == 2 + 12 * config.layers + 2)
        #expect(file.tensors["lm_head.weight"] == nil)
        #expect(file.tensors["transformer.wte.weight"]?.shape == [200, 16])   // padding dropped
        #expect(file.tensors["transformer.h.2.attn.c_attn.weight"]?.shape == [16, 48])
        #expect(file.tensors["transformer.h.0.mlp.c_proj.weight"]?.shape == [64, 16])
        // c_attn.weight[i][o] (HF, [in, out]) == qkvw[o][i] (ours, [out, in]) for layer 0.
        let cAttn = try file.floats("transformer.h.0.attn.c_attn.weight")
        let qkvwOffset = (ParameterKind.wte.elementCount(config) + ParameterKind.wpe.elementCount(config)
                          + 2 * ParameterKind.ln1w.elementCount(config))
        for (i, o) in [(0, 0), (3, 17), (15, 47)] {
            #expect(cAttn[i * 48 + o] == values[qkvwOffset + o * 16 + i])
        }
        let json = try String(contentsOf: directory.appendingPathComponent("config.json"), encoding: .utf8)
        for field in ["\"model_type\": \"gpt2\"", "\"n_layer\": 3", "\"n_head\": 2", "\"n_embd\": 16",
                      "\"n_positions\": 12", "\"vocab_size\": 200", "\"activation_function\": \"gelu_new\"",
                      "\"tie_word_embeddings\": true", "\"GPT2LMHeadModel\""] {
            #expect(json.contains(field), "\(field)")
        }
    }

    /// Rewrites an export's tensors through `edit` (name → values/shape), keeping config.json beside it.
    private func rewritten(_ edit: (inout [(name: String, shape: [Int], values: [Float])]) -> Void,
                           keepConfig: Bool = true) throws -> (URL, String) {
        let directory = try TestPaths.temporaryDirectory()
        try HuggingFaceGPT2.export(directory: directory.path, config: config, parameters: parameters())
        let path = directory.appendingPathComponent("model.safetensors").path
        let file = try SafetensorsFile(path: path)
        var tensors = try file.tensors.keys.sorted().map { (name: $0, shape: file.tensors[$0]!.shape, values: try file.floats($0)) }
        edit(&tensors)
        try SafetensorsFile.write(path: path, tensors: tensors, metadata: ["format": "pt"])
        if !keepConfig { try FileManager.default.removeItem(at: directory.appendingPathComponent("config.json")) }
        return (directory, path)
    }

    @Test func openAIVariantsLoad() throws {
        // OpenAI's upload: no `transformer.` prefix, attention-mask buffers, a tied lm_head copy.
        let (directory, _) = try rewritten { tensors in
            tensors = tensors.map { (String($0.name.dropFirst("transformer.".count)), $0.shape, $0.values) }
            tensors.append(("h.0.attn.bias", [1, 1, 12, 12], [Float](repeating: 1, count: 144)))
            tensors.append(("h.0.attn.masked_bias", [], [-1e4]))
            let wte = tensors.first { $0.name == "wte.weight" }!
            tensors.append(("lm_head.weight", wte.shape, wte.values))
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let (loaded, values) = try ModelSource.load(directory.path)
        #expect(loaded == config)
        #expect(values.map(\.bitPattern) == parameters().map(\.bitPattern))
        #expect(try ModelSource.config(directory.path) == config)
    }

    /// A model.safetensors without its config.json: the head count comes from what our export records in the metadata
    /// (the small presets' heads are not 64 wide: `small` came back with 2 heads instead of 4, silently), else from
    /// 64-wide heads, and a width that is no multiple of 64 with no record is refused.
    @Test func bareFileTakesItsHeadsFromTheMetadataElse64WideHeads() throws {
        let (directory, path) = try rewritten({ _ in }, keepConfig: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        try HuggingFaceGPT2.export(directory: directory.path, config: config, parameters: parameters())
        try FileManager.default.removeItem(at: directory.appendingPathComponent("config.json"))
        #expect(try ModelSource.config(path) == config, "2 heads of 8, from the metadata")
        func dropHeadCount() throws {   // as a file from elsewhere, or from before our export recorded it
            let file = try SafetensorsFile(path: path)
            let tensors = try file.tensors.keys.sorted().map { (name: $0, shape: file.tensors[$0]!.shape, values: try file.floats($0)) }
            try SafetensorsFile.write(path: path, tensors: tensors, metadata: ["format": "pt"])
        }
        try dropHeadCount()
        let refused = #expect(throws: FileError.self) { try ModelSource.config(path) }
        #expect(refused?.description.contains("n_embd 16 is not a multiple of GPT-2's 64-wide heads") == true, "\(String(describing: refused))")

        let wide = ModelConfig(maxSequenceLength: 8, vocabularySize: 130, layers: 1, heads: 2, channels: 128)
        var values = [Float](repeating: 0, count: wide.parameterCount)
        var random = SeededRandom(seed: 1)
        random.fillNormal(&values, std: 1)
        for i in (130 * 128)..<(256 * 128) { values[i] = 0 }
        try HuggingFaceGPT2.export(directory: directory.path, config: wide, parameters: values)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("config.json"))
        try dropHeadCount()
        let (loaded, read) = try ModelSource.load(path)
        #expect(loaded == wide, "2 heads of 64, from the width")
        #expect(read == values)
        #expect(try ModelSource.config(directory.path) == wide)
    }

    @Test(arguments: ["missing", "shape", "unexpected", "untied", "config", "config extra layer"])
    func inconsistentCheckpointsAreRejected(_ defect: String) throws {
        var expected = ""
        let (directory, _) = try rewritten { tensors in
            switch defect {
            case "missing":
                tensors.removeAll { $0.name == "transformer.h.1.ln_2.bias" }
                expected = "missing tensor 'h.1.ln_2.bias'"
            case "shape":
                let index = tensors.firstIndex { $0.name == "transformer.h.0.attn.c_proj.weight" }!
                tensors[index] = (tensors[index].name, [8, 32], tensors[index].values)
                expected = "shape [8, 32], expected [16, 16]"
            case "unexpected":
                tensors.append(("transformer.h.0.attn.rotary", [2], [1, 2]))
                expected = "unexpected tensor"
            case "untied":
                tensors.append(("lm_head.weight", [200, 16], [Float](repeating: 1, count: 3200)))
                expected = "lm_head.weight differs"
            case "config extra layer":   // a layer more than config.json's 3: not read as a 3-layer model with leftovers
                tensors += tensors.filter { $0.name.hasPrefix("transformer.h.2.") }
                    .map { ($0.name.replacingOccurrences(of: "h.2.", with: "h.3."), $0.shape, $0.values) }
                expected = "says 3 layers but the file has 4"
            default:
                tensors.removeAll { $0.name.hasPrefix("transformer.h.2.") }
                expected = "says 3 layers but the file has 2"
            }
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect { try ModelSource.load(directory.path) } throws: { error in
            String(describing: error).contains(expected)
        }
        if defect.hasPrefix("config") {   // a shape defect: the header alone shows it too (the others show when the weights load)
            #expect { try ModelSource.config(directory.path) } throws: { error in String(describing: error).contains(expected) }
        }
    }

    /// A config.json of a GPT-2 variant we do not implement is refused by name, rather than loaded as plain GPT-2:
    /// attention without the 1/√d scale (scale_attn_weights false) loaded and gave other outputs than transformers'.
    @Test(arguments: [("\"scale_attn_weights\": true", "\"scale_attn_weights\": false", "(scale_attn_weights false)"),
                      ("\"scale_attn_by_inverse_layer_idx\": false", "\"scale_attn_by_inverse_layer_idx\": true", "scale_attn_by_inverse_layer_idx"),
                      ("\"n_inner\": null", "\"n_inner\": 17", "n_inner 17"),
                      ("\"activation_function\": \"gelu_new\"", "\"activation_function\": \"relu\"", "activation_function 'relu'"),
                      ("\"layer_norm_epsilon\": 1e-05", "\"layer_norm_epsilon\": 1e-06", "layer_norm_epsilon 1e-06"),
                      ("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false", "untied word embeddings")])
    func configsOfOtherVariantsAreRefused(_ plain: String, _ variant: String, _ phrase: String) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try HuggingFaceGPT2.export(directory: directory.path, config: config, parameters: parameters())
        let configPath = directory.appendingPathComponent("config.json")
        let json = try String(contentsOf: configPath, encoding: .utf8)
        try #require(json.contains(plain), "\(json)")
        try Data(json.replacingOccurrences(of: plain, with: variant).utf8).write(to: configPath)
        let error = #expect(throws: FileError.self) { try ModelSource.config(directory.path) }
        #expect(error?.description.contains(phrase + " is not supported (plain GPT-2 only)") == true, "\(String(describing: error))")
    }

    @Test(arguments: [LLMCModelFile.Precision.float32, .bfloat16])
    func llmcRoundTripIsBitExact(_ precision: LLMCModelFile.Precision) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var original = parameters()
        if precision == .bfloat16 { original = original.map { BFloat16Bits(rounding: $0).float } }   // bf16-representable
        let first = directory.appendingPathComponent("a.bin").path, second = directory.appendingPathComponent("b.bin").path
        try LLMCModelFile.write(path: first, config: config, parameters: original, precision: precision)
        let (loaded, values) = try ModelSource.load(first)
        #expect(loaded == config)
        #expect(values.map(\.bitPattern) == original.map(\.bitPattern))
        try LLMCModelFile.write(path: second, config: loaded, parameters: values, precision: precision)
        #expect(FileManager.default.contentsEqual(atPath: first, andPath: second))
    }

    @Test func malformedLLMCFilesFailWithAMessage() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good.bin").path
        try LLMCModelFile.write(path: good, config: config, parameters: parameters())
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))
        func header(_ index: Int, _ value: Int32) -> [UInt8] {
            var copy = bytes
            withUnsafeBytes(of: value.littleEndian) { for k in 0..<4 { copy[index * 4 + k] = $0[k] } }
            return copy
        }
        let cases: [([UInt8], String)] = [
            (Array(bytes.prefix(100)), "shorter than its 1024-byte header"),
            (Array(bytes.dropLast(4)), "needs"),
            (bytes + [0, 0, 0, 0], "needs"),
            (header(0, 1234), "magic"),
            (header(1, 4), "unsupported llm.c model version"),
            (header(6, 15), "bad model header"),                 // channels not a multiple of heads
            (header(4, Int32.max), "needs"),                     // huge layer count
            (header(6, 1 << 30), "needs"),                       // huge width
            (header(3, -5), "bad model header"),
        ]
        for (index, (data, message)) in cases.enumerated() {
            let path = directory.appendingPathComponent("bad\(index).bin").path
            try Data(data).write(to: URL(fileURLWithPath: path))
            #expect { try ModelSource.load(path) } throws: { error in
                String(describing: error).contains(message)
            }
        }
    }
}
