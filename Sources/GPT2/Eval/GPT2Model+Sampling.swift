/// Autoregressive sampling with a key/value cache: the prompt runs through one forward pass, then each
/// new token is a single-row pass whose attention reads the earlier rows' keys and values from `qkv`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct SamplingOptions: Sendable, Equatable {
    /// Softmax temperature; 0 picks the most likely token.
    public var temperature: Float
    /// Sample only among the k most likely tokens (0 = all).
    public var topK: Int

    public init(temperature: Float = 1, topK: Int = 0) {
        self.temperature = temperature
        self.topK = topK
    }
}

extension GPT2Model {
    /// Generates `count` tokens after `prompt` (which must not be empty), calling `onToken` as each arrives, or fewer
    /// once `stop` says so (asked before each token). Uses the first sequence of the model's buffers; when the context
    /// fills, the last half is re-read. Throws when a row of logits is not finite (every token drawn from it would be an
    /// arbitrary one).
    public func generate(prompt: [Int], count: Int, options: SamplingOptions, random: inout SeededRandom,
                         onToken: (Int) -> Void = { _ in },
                         until stop: () -> Bool = { false }) throws(NonFiniteOutputError) -> [Int] {
        precondition(!prompt.isEmpty, "generation needs at least one prompt token")
        let window = layout.sequenceLength
        var tokens = prompt
        var cached = prefill(Array(tokens.suffix(window)))
        var logits = cached.logits
        for generated in 0..<count {
            if stop() { break }
            guard logits.allSatisfy(\.isFinite) else { throw NonFiniteOutputError("the logits for generated token \(generated + 1)") }
            let next = Self.sample(logits: logits, options: options, random: &random)
            tokens.append(next)
            onToken(next)
            if cached.length == window {
                cached = prefill(Array(tokens.suffix(window / 2 + 1)))
                logits = cached.logits
            } else {
                logits = decode(token: next, position: cached.length)
                cached.length += 1
            }
        }
        return tokens
    }

    /// Picks a token id below the real vocabulary from one row of logits.
    public static func sample(logits: [Float], options: SamplingOptions, random: inout SeededRandom) -> Int {
        if options.temperature <= 0 { return logits.indices.max { logits[$0] < logits[$1] }! }
        let candidates = options.topK > 0 && options.topK < logits.count
            ? mostLikely(options.topK, of: logits) : Array(logits.indices)
        let maxLogit = candidates.map { logits[$0] }.max()!
        let weights = candidates.map { exp(Double((logits[$0] - maxLogit) / options.temperature)) }
        var threshold = random.nextUniform() * weights.reduce(0, +)
        for (candidate, weight) in zip(candidates, weights) {
            threshold -= weight
            if threshold < 0 { return candidate }
        }
        return candidates.last!
    }

    /// The ids of the `k` largest logits, largest first, a tie going to the lower id (a stable sort's order), in one pass
    /// over the row that keeps the best `k` so far in a heap: sorting all 50,257 ids for 40 of them was most of
    /// `gpt2 sample`'s time on a small model.
    static func mostLikely(_ k: Int, of logits: [Float]) -> [Int] {
        func better(_ a: Int, _ b: Int) -> Bool { logits[a] > logits[b] || (logits[a] == logits[b] && a < b) }
        // A heap whose root is the worst id kept: a child is never worse than its parent.
        var kept: [Int] = []
        kept.reserveCapacity(k)
        func siftDown(from start: Int) {
            var parent = start
            while true {
                let left = 2 * parent + 1, right = left + 1
                var worst = parent
                if left < kept.count && better(kept[worst], kept[left]) { worst = left }
                if right < kept.count && better(kept[worst], kept[right]) { worst = right }
                if worst == parent { return }
                kept.swapAt(parent, worst)
                parent = worst
            }
        }
        for id in logits.indices {
            if kept.count < k {
                kept.append(id)
                var child = kept.count - 1
                while child > 0, better(kept[(child - 1) / 2], kept[child]) {
                    kept.swapAt(child, (child - 1) / 2)
                    child = (child - 1) / 2
                }
            } else if better(id, kept[0]) {
                kept[0] = id
                siftDown(from: 0)
            }
        }
        return kept.sorted(by: better)
    }

    // MARK: - Details

    /// Runs `tokens` as one sequence; returns the last row's logits (the only ones sampled from) and the cached length.
    private func prefill(_ tokens: [Int]) -> (logits: [Float], length: Int) {
        let T = tokens.count
        forwardThroughFinalNorm(inputs: tokens.map(Int32.init), batchSize: 1, sequenceLength: T)
        return (logits(ofRow: T - 1), T)
    }

    /// logits (V) of one row of lnf: the lm head on that row alone.
    private func logits(ofRow t: Int) -> [Float] {
        download(lmHeadForward(rows: t..<(t + 1)).slice(0, config.vocabularySize))
    }

    /// One new token at `position`, every layer on a single row; returns its logits (V). It computes what
    /// `GPT2Model.blockForward` does, with the unfused ops (residual add, then LayerNorm; matmul, then GELU):
    /// keep the two in step.
    private func decode(token: Int, position t: Int) -> [Float] {
        let (C, NH, L) = (config.channels, config.heads, config.layers)
        func row(_ kind: ActivationKind, _ l: Int = 0, width: Int = 1) -> TensorRef {
            layout.activation(kind, layer: l).slice(t * width, width)
        }
        // encoded[t] = wte[token] + wpe[t], assembled on the host: two rows of C floats
        let embedding = download(layout.parameter(.wte).slice(token * C, C))
        let position = download(layout.parameter(.wpe).slice(t * C, C))
        upload(zip(embedding, position).map(+), to: row(.encoded, width: C))
        for l in 0..<L {
            let input = l == 0 ? row(.encoded, width: C) : row(.residual3, l - 1, width: C)
            backend.layerNormForward(out: row(.ln1, l, width: C), mean: row(.ln1Mean, l), rstd: row(.ln1Rstd, l), inp: input,
                                     weight: layout.parameter(.ln1w, layer: l), bias: layout.parameter(.ln1b, layer: l), B: 1, T: 1, C: C)
            backend.matmulForward(out: row(.qkv, l, width: 3 * C), inp: row(.ln1, l, width: C), weight: layout.parameter(.qkvw, layer: l),
                                  bias: layout.parameter(.qkvb, layer: l), B: 1, T: 1, C: C, OC: 3 * C)
            backend.attentionForwardRow(out: row(.atty, l, width: C), qkv: layout.activation(.qkv, layer: l), t: t, C: C, NH: NH)
            backend.matmulForward(out: row(.attproj, l, width: C), inp: row(.atty, l, width: C), weight: layout.parameter(.attprojw, layer: l),
                                  bias: layout.parameter(.attprojb, layer: l), B: 1, T: 1, C: C, OC: C)
            backend.residualForward(out: row(.residual2, l, width: C), a: input, b: row(.attproj, l, width: C), count: C)
            backend.layerNormForward(out: row(.ln2, l, width: C), mean: row(.ln2Mean, l), rstd: row(.ln2Rstd, l), inp: row(.residual2, l, width: C),
                                     weight: layout.parameter(.ln2w, layer: l), bias: layout.parameter(.ln2b, layer: l), B: 1, T: 1, C: C)
            backend.matmulForward(out: row(.fch, l, width: 4 * C), inp: row(.ln2, l, width: C), weight: layout.parameter(.fcw, layer: l),
                                  bias: layout.parameter(.fcb, layer: l), B: 1, T: 1, C: C, OC: 4 * C)
            backend.geluForward(out: row(.fchGelu, l, width: 4 * C), inp: row(.fch, l, width: 4 * C), count: 4 * C)
            backend.matmulForward(out: row(.fcproj, l, width: C), inp: row(.fchGelu, l, width: 4 * C), weight: layout.parameter(.fcprojw, layer: l),
                                  bias: layout.parameter(.fcprojb, layer: l), B: 1, T: 1, C: 4 * C, OC: C)
            backend.residualForward(out: row(.residual3, l, width: C), a: row(.residual2, l, width: C), b: row(.fcproj, l, width: C), count: C)
        }
        backend.layerNormForward(out: row(.lnf, width: C), mean: row(.lnfMean), rstd: row(.lnfRstd), inp: row(.residual3, L - 1, width: C),
                                 weight: layout.parameter(.lnfw), bias: layout.parameter(.lnfb), B: 1, T: 1, C: C)
        return logits(ofRow: t)
    }
}
