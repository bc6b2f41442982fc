/// The whole GPT-2 model on the CPU backend: loss, logits and all sixteen gradients against the float64
/// numpy reference (scripts/gpt2_reference.py), plus recompute, accumulation and finite-difference checks.

import CPUBackend
import Foundation
import GPT2
import GPT2TestSupport
import Testing

/// The fixture written by scripts/gpt2_reference.py; its docstring has the byte format.
struct ReferenceFixture {
    let config: ModelConfig
    let batchSize, sequenceLength: Int
    let parameters: [Float]
    let inputs, targets: [Int32]
    let loss: Float
    let logits: [Float]
    let gradients: [Float]

    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tiny_reference.bin")

    init() throws {
        let bytes = try [UInt8](Data(contentsOf: Self.url))
        guard bytes.count > 48, Array(bytes[0..<8]) == Array("GPT2REF1".utf8) else {
            throw ConfigError("\(Self.url.path) is not a GPT2REF1 fixture")
        }
        var offset = 8
        func int32s(_ count: Int) -> [Int32] {
            defer { offset += 4 * count }
            return (0..<count).map { i in bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4 * i, as: Int32.self) } }
        }
        func float32s(_ count: Int) -> [Float] {
            defer { offset += 4 * count }
            return (0..<count).map { i in bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4 * i, as: Float.self) } }
        }
        let header = int32s(10).map(Int.init)   // maxT, V, Vp, L, NH, C, B, T, P, seed
        config = ModelConfig(maxSequenceLength: header[0], vocabularySize: header[1], layers: header[3],
                             heads: header[4], channels: header[5])
        guard config.paddedVocabularySize == header[2], config.parameterCount == header[8] else {
            throw ConfigError("fixture shape disagrees with ModelConfig's padding or parameter count")
        }
        (batchSize, sequenceLength) = (header[6], header[7])
        let tokens = batchSize * sequenceLength
        parameters = float32s(header[8])
        inputs = int32s(tokens)
        targets = int32s(tokens)
        loss = float32s(1)[0]
        logits = float32s(tokens * config.paddedVocabularySize)
        gradients = float32s(header[8])
        guard offset == bytes.count else { throw ConfigError("fixture has \(bytes.count - offset) trailing bytes") }
    }

    /// The slice of a flat parameter-ordered array that holds `kind`.
    func slice(_ values: [Float], _ kind: ParameterKind) -> [Float] {
        let start = ParameterKind.allCases.prefix(kind.rawValue).reduce(0) { $0 + $1.elementCount(config) }
        return Array(values[start..<start + kind.elementCount(config)])
    }
}

@Suite struct GPT2ModelTests {
    typealias Model = GPT2Model<CPUBackend>

    /// A model holding the fixture's parameters, sized for `batchSize` sequences of the fixture's length.
    static func model(_ fixture: ReferenceFixture, batchSize: Int? = nil, recompute: Bool = false,
                      classifierChunkRows: Int? = nil) throws -> Model {
        let model = try Model(config: fixture.config, backend: CPUBackend(threads: 2), batchSize: batchSize ?? fixture.batchSize,
                              sequenceLength: fixture.sequenceLength, recompute: recompute, classifierChunkRows: classifierChunkRows)
        model.setParameters(fixture.parameters)
        return model
    }

    /// Forward with lossScale 1/(B·T), then backward into zeroed gradients; returns the mean loss.
    @discardableResult
    static func lossAndGradients(_ model: Model, inputs: [Int32], targets: [Int32], B: Int, T: Int) -> Float {
        model.zeroGradients()
        let loss = model.forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T, lossScale: 1 / Float(B * T))!
        model.backward(batchSize: B, sequenceLength: T)
        return loss
    }

    static func gradients(_ model: Model) -> [Float] { model.download(model.layout.whole(.gradients)) }

    @Test("loss, logits and every gradient match the float64 numpy reference")
    func matchesNumpyReference() throws {
        let fixture = try ReferenceFixture()
        let model = try Self.model(fixture)
        let (B, T) = (fixture.batchSize, fixture.sequenceLength)
        model.forward(inputs: fixture.inputs, targets: nil, batchSize: B, sequenceLength: T)
        // Tolerances: fp32 against float64. Each op adds a few ulps (u ≈ 6e-8) of relative error; through
        // ~30 ops, dot products of ≤ 64 terms and LayerNorm's rstd (which amplifies by 1/std) we expect
        // ~1e-6 of a tensor's scale (measured: 2e-7 to 8e-7 normwise). We allow 1e-5 normwise, while any
        // bug (a wrong index, a missing term, a dropped residual path) is an O(1) fraction of the scale.
        let logitsError = normwiseError(model.download(model.layout.activation(.logits)), fixture.logits)
        #expect(logitsError < 1e-5, "logits error \(logitsError)")
        let loss = Self.lossAndGradients(model, inputs: fixture.inputs, targets: fixture.targets, B: B, T: T)
        // the mean of 16 losses of order 5, each a log-sum-exp of fp32 logits: relative 1e-5 is ~20 ulps
        #expect(abs(loss - fixture.loss) / fixture.loss < 1e-5, "loss \(loss) vs \(fixture.loss)")
        let gradients = Self.gradients(model)
        for kind in ParameterKind.allCases {
            let error = normwiseError(fixture.slice(gradients, kind), fixture.slice(fixture.gradients, kind))
            #expect(error < 1e-5, "gradient \(kind.name) normwise error \(error)")
        }
    }

    /// The fixture's 16 rows in chunks of 5 (5, 5, 5 and a last one of 1): each chunk's lm-head backward runs
    /// in the forward pass and adds its share to dwte, so a chunk skipped, run twice, or taking another chunk's
    /// rows of lnf or dlnf moves the loss or a gradient by an O(1) fraction, far beyond the tolerances.
    @Test("the classifier in chunks: loss and every gradient still match the numpy reference and the one-chunk run")
    func chunkedClassifierMatchesReference() throws {
        let fixture = try ReferenceFixture()
        let (B, T) = (fixture.batchSize, fixture.sequenceLength)
        #expect(B * T == 16)
        let whole = try Self.model(fixture)
        let chunked = try Self.model(fixture, classifierChunkRows: 5)
        #expect(whole.layout.classifierChunkRows == 16 && chunked.layout.classifierChunkRows == 5)
        #expect(chunked.layout.bytes(of: .logits) == 5 * fixture.config.paddedVocabularySize * 4)
        let wholeLoss = Self.lossAndGradients(whole, inputs: fixture.inputs, targets: fixture.targets, B: B, T: T)
        let loss = Self.lossAndGradients(chunked, inputs: fixture.inputs, targets: fixture.targets, B: B, T: T)
        let (wholeGradients, gradients) = (Self.gradients(whole), Self.gradients(chunked))
        // Same tolerance as the unchunked comparison above: fp32 against float64.
        #expect(abs(loss - fixture.loss) / fixture.loss < 1e-5, "loss \(loss) vs \(fixture.loss)")
        for kind in ParameterKind.allCases {
            let error = normwiseError(fixture.slice(gradients, kind), fixture.slice(fixture.gradients, kind))
            #expect(error < 1e-5, "gradient \(kind.name) normwise error \(error)")
            // Against the one-chunk run only the order of dwte's fp32 sums (and the GEMMs' row blocking) changes:
            // a few ulps, so 1e-6 normwise.
            let reordered = normwiseError(fixture.slice(gradients, kind), fixture.slice(wholeGradients, kind))
            #expect(reordered < 1e-6, "gradient \(kind.name) differs from the one-chunk run by \(reordered)")
        }
        #expect(abs(loss - wholeLoss) <= 1e-6 * wholeLoss)
        // Validation (no loss scale) in chunks: the same loss (its exponentials summed by another loop: a few ulps),
        // and no gradient touched.
        let evaluated = chunked.forward(inputs: fixture.inputs, targets: fixture.targets, batchSize: B, sequenceLength: T)!
        #expect(abs(evaluated - loss) <= 1e-6 * loss, "validation loss \(evaluated) vs \(loss)")
        #expect(Self.gradients(chunked) == gradients)
    }

    @Test("a chunk smaller than the sequence still samples what the one-chunk model samples")
    func chunkedModelGeneratesTheSameTokens() throws {
        let fixture = try ReferenceFixture()
        var tokens: [[Int]] = []
        for chunk in [nil, 3] {
            let model = try Self.model(fixture, batchSize: 1, classifierChunkRows: chunk)
            var random = SeededRandom(seed: 5)
            tokens.append(try model.generate(prompt: [1, 2, 3, 4, 5], count: 12, options: SamplingOptions(temperature: 0),
                                         random: &random))
        }
        #expect(tokens[0] == tokens[1])
        #expect(tokens[0].count == 17)
    }

    @Test("padded vocabulary rows of wte get exactly zero gradient")
    func paddedVocabularyRowsGetNoGradient() throws {
        let fixture = try ReferenceFixture()   // its padded wte rows are random, not zero
        let model = try Self.model(fixture)
        Self.lossAndGradients(model, inputs: fixture.inputs, targets: fixture.targets,
                              B: fixture.batchSize, T: fixture.sequenceLength)
        let (V, C) = (fixture.config.vocabularySize, fixture.config.channels)
        let dwte = model.download(model.layout.parameter(.wte, in: .gradients))
        #expect(dwte[(V * C)...].allSatisfy { $0 == 0 })
        #expect(dwte[..<(V * C)].contains { $0 != 0 })
    }

    @Test("recomputing LayerNorm and GELU outputs in backward gives bit-identical gradients")
    func recomputeIsBitIdentical() throws {
        let fixture = try ReferenceFixture()
        let (B, T) = (fixture.batchSize, fixture.sequenceLength)
        var results: [(Float, [Float])] = []
        for recompute in [false, true] {
            let model = try Self.model(fixture, recompute: recompute)
            let loss = Self.lossAndGradients(model, inputs: fixture.inputs, targets: fixture.targets, B: B, T: T)
            results.append((loss, Self.gradients(model)))
        }
        #expect(results[0].0 == results[1].0)
        #expect(results[0].1 == results[1].1)
    }

    @Test("four micro-batches of B/4 accumulate the gradient of one batch of B")
    func gradientAccumulationMatchesFullBatch() throws {
        let fixture = try ReferenceFixture()
        let (B, T, V) = (4, fixture.sequenceLength, fixture.config.vocabularySize)
        var data = TestData(seed: 7)
        let inputs = data.tokens(B * T, below: V), targets = data.tokens(B * T, below: V)
        let model = try Self.model(fixture, batchSize: B)
        let fullLoss = Self.lossAndGradients(model, inputs: inputs, targets: targets, B: B, T: T)
        let full = Self.gradients(model)

        model.zeroGradients()
        var microLosses = 0.0
        for micro in 0..<4 {
            let rows = micro * T..<(micro + 1) * T
            // each micro-batch's mean loss is scaled by 1/(B·T) of the whole batch, so the sum is the mean's gradient
            let loss = model.forward(inputs: Array(inputs[rows]), targets: Array(targets[rows]), batchSize: 1,
                                     sequenceLength: T, lossScale: 1 / Float(B * T))!
            model.backward(batchSize: 1, sequenceLength: T)
            microLosses += Double(loss) / 4
        }
        let accumulated = Self.gradients(model)
        // the same fp32 terms summed in another order (per micro-batch, then across): a few ulps
        #expect(abs(Float(microLosses) - fullLoss) / fullLoss < 1e-6)
        for kind in ParameterKind.allCases {
            let error = normwiseError(fixture.slice(accumulated, kind), fixture.slice(full, kind))
            #expect(error < 1e-5, "gradient \(kind.name) normwise error \(error)")
        }
    }

    @Test("the model's gradient matches central differences of its own loss")
    func gradientMatchesFiniteDifferencesOfLoss() throws {
        let fixture = try ReferenceFixture()
        let (B, T) = (fixture.batchSize, fixture.sequenceLength)
        let model = try Self.model(fixture)
        Self.lossAndGradients(model, inputs: fixture.inputs, targets: fixture.targets, B: B, T: T)
        let gradients = Self.gradients(model)
        // two random entries of every tensor (wte's from its real rows), checked together
        var data = TestData(seed: 11)
        var indices: [Int] = []
        var start = 0
        for kind in ParameterKind.allCases {
            let drawable = kind == .wte ? fixture.config.vocabularySize * fixture.config.channels : kind.elementCount(fixture.config)
            indices += data.indices(2, below: drawable).map { start + $0 }
            start += kind.elementCount(fixture.config)
        }
        // The loss is summed in Double from the per-position fp32 losses (the Float mean would add its own
        // rounding). Step 1e-2 on parameters of order 0.1–1: truncation ε²/6·|L'''| ≈ 2e-5; rounding in the
        // 16 losses (ulp 5e-7 at ~5) propagates as ~1e-7 in the mean, /2ε ≈ 5e-6. Against gradients up to
        // ~0.1 both are ≲ 1e-3 normwise (measured 1.4e-4); 5e-3 keeps a margin and still catches an O(1) mistake.
        let numeric = centralDifferences(at: fixture.parameters, step: 1e-2, indices: indices) { values in
            model.setParameters(values)
            model.forward(inputs: fixture.inputs, targets: fixture.targets, batchSize: B, sequenceLength: T)
            let losses = model.download(model.layout.activation(.losses))
            return losses.reduce(0.0) { $0 + Double($1) } / Double(B * T)
        }
        let error = normwiseError(indices.map { gradients[$0] }, numeric)
        #expect(error < 5e-3, "normwise error \(error)")
    }
}
