/// The Hugging Face export and HellaSwag against an independent reference: scripts/hf_reference.py reads the
/// exported model.safetensors with the `safetensors` package and runs a float64 numpy GPT-2 in transformers'
/// layout; its logits and HellaSwag ending losses must match ours. Skipped with a reason when python3 lacks
/// safetensors, numpy or tiktoken (`pip install -r scripts/ci-requirements.txt`).

import CPUBackend
import Foundation
import GPT2
import GPT2TestSupport
import Testing

enum HFReference {
    static let isAvailable: Bool =
        (try? runCommand("python3", arguments: ["-c", "import safetensors, numpy, tiktoken"]).status) == 0
    static let script = TestPaths.repositoryRoot.appendingPathComponent("scripts/hf_reference.py").path

    static func run(_ arguments: [String]) throws -> CommandResult {
        let result = try runCommand("python3", arguments: [script] + arguments)
        guard result.status == 0 else { throw ConfigError("hf_reference.py failed: \(result.stderrText)") }
        return result
    }
}

@Suite(.enabled(if: HFReference.isAvailable, "python3 cannot import safetensors, numpy and tiktoken"))
struct HuggingFaceReferenceTests {
    /// Random weights, larger than GPT-2's initialisation so logits spread, LayerNorm gains near 1, padding rows 0.
    private func randomParameters(_ config: ModelConfig, seed: UInt64) -> [Float] {
        var values = [Float](repeating: 0, count: config.parameterCount)
        var random = SeededRandom(seed: seed)
        random.fillNormal(&values, std: 0.15)
        var offset = 0
        for kind in ParameterKind.allCases {
            let count = kind.elementCount(config)
            if [.ln1w, .ln2w, .lnfw].contains(kind) { for i in offset..<(offset + count) { values[i] += 1 } }
            if kind == .wte { for i in (config.vocabularySize * config.channels)..<count { values[i] = 0 } }
            offset += count
        }
        return values
    }

    @Test func exportedLogitsMatchTheNumpyReference() throws {
        let config = ModelConfig(maxSequenceLength: 16, vocabularySize: 300, layers: 2, heads: 4, channels: 32)
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let parameters = randomParameters(config, seed: 11)
        try HuggingFaceGPT2.export(directory: directory.path, config: config, parameters: parameters)

        // Ours, through the same loader `gpt2 eval --checkpoint DIR` uses.
        let (loaded, weights) = try ModelSource.load(directory.path)
        let model = try GPT2Model(config: loaded, backend: CPUBackend(threads: 2), batchSize: 1, sequenceLength: 12, training: false)
        model.setParameters(weights)
        let tokens: [Int32] = [5, 299, 17, 0, 42, 42, 128, 256, 3, 77, 150, 9]
        model.forward(inputs: tokens, targets: nil, batchSize: 1, sequenceLength: 12)
        let padded = model.download(model.layout.activation(.logits).slice(0, 12 * config.paddedVocabularySize))
        let ours = (0..<12).flatMap { t in padded[(t * config.paddedVocabularySize)..<(t * config.paddedVocabularySize + 300)] }

        let out = directory.appendingPathComponent("logits.f32").path
        _ = try HFReference.run(["logits", directory.path, out] + tokens.map { String($0) })
        let reference = try Data(contentsOf: URL(fileURLWithPath: out)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(reference.count == ours.count)
        // fp32 vs float64 through 2 blocks of width 32: rounding error ~1e-6 relative per op, amplified by
        // LayerNorm and summed over ≤128 terms; 1e-4 of the logit scale leaves an order of magnitude of margin.
        let scale = reference.map(abs).max()!
        #expect(scale > 1)   // logits that actually vary
        #expect(maxAbsoluteError(ours, reference) <= 1e-4 * scale, "max |Δ| \(maxAbsoluteError(ours, reference)), scale \(scale)")
    }

    @Test(arguments: [64, 16])   // 16: rows longer than the window lose context from the left in both
    func hellaswagMatchesTheNumpyReference(window: Int) throws {
        let config = ModelConfig(maxSequenceLength: 64, layers: 2, heads: 2, channels: 32)
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try HuggingFaceGPT2.export(directory: directory.path, config: config, parameters: randomParameters(config, seed: 5))
        let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/hellaswag_sample.jsonl").path

        let (loaded, weights) = try ModelSource.load(directory.path)
        let model = try GPT2Model(config: loaded, backend: CPUBackend(threads: 2), batchSize: 3, sequenceLength: window, training: false)
        model.setParameters(weights)
        let tokenizer = try TokenizerFixture.tokenizer()
        let examples = try HellaSwag.examples(path: data, encode: tokenizer.encode)
        let (score, losses) = try HellaSwag.evaluate(model, examples, showProgress: false)

        struct Reference: Decodable { var correct: Int; var correct_norm: Int; var examples: Int; var losses: [[[Double]]] }
        let result = try HFReference.run(["hellaswag", directory.path, data, TokenizerFixture.vocabularyDirectory,
                                          "--window", String(window)])
        let reference = try JSONDecoder().decode(Reference.self, from: result.stdout)
        #expect(score == HellaSwagScore(examples: reference.examples, correct: reference.correct,
                                        correctNormalized: reference.correct_norm))
        for (item, endings) in losses.enumerated() {
            for (ending, loss) in endings.enumerated() {
                let expected = reference.losses[item][ending]
                #expect(loss.tokens == Int(expected[1]), "item \(item) ending \(ending)")
                // Per-token losses ≈ ln(50257) ≈ 11 in fp32 (~1e-6 relative each), summed over ≤ 40 tokens.
                #expect(abs(loss.sum - expected[0]) <= 1e-4 * max(1, abs(expected[0])), "item \(item) ending \(ending): \(loss.sum) vs \(expected[0])")
            }
        }
    }
}
