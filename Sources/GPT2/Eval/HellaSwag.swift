/// HellaSwag (Zellers et al. 2019) scored as the GPT-2 reproductions (llm.c, build-nanogpt) score it: each of an
/// item's 4 endings is appended to the context (tokens(ctx) + tokens(" " + ending)) and the model's
/// cross-entropy on the ending's tokens is measured. `acc` picks the ending with the lowest SUM of those token
/// losses; `acc_norm` the lowest MEAN (sum / ending tokens). Ties go to the first ending, as argmin does.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One tokenised item: the context, the four candidate endings (each starting with its leading space), the answer.
public struct HellaSwagExample: Sendable, Equatable {
    public var context: [Int]
    public var endings: [[Int]]
    public var label: Int

    public init(context: [Int], endings: [[Int]], label: Int) {
        self.context = context
        self.endings = endings
        self.label = label
    }
}

/// Accuracy over a set of items.
public struct HellaSwagScore: Sendable, Equatable {
    public var examples: Int
    /// Items whose lowest summed ending loss is the right ending.
    public var correct: Int
    /// Items whose lowest mean ending loss is the right ending.
    public var correctNormalized: Int

    public init(examples: Int, correct: Int, correctNormalized: Int) {
        self.examples = examples
        self.correct = correct
        self.correctNormalized = correctNormalized
    }

    /// `acc`: fraction right by summed loss.
    public var accuracy: Double { examples == 0 ? 0 : Double(correct) / Double(examples) }
    /// `acc_norm`: fraction right by mean (length-normalised) loss.
    public var normalizedAccuracy: Double { examples == 0 ? 0 : Double(correctNormalized) / Double(examples) }
}

/// The model's loss on one ending: summed over its scored tokens, and how many tokens that was.
public struct EndingLoss: Sendable, Equatable {
    public var sum: Double
    public var tokens: Int

    public init(sum: Double, tokens: Int) {
        self.sum = sum
        self.tokens = tokens
    }

    public var mean: Double { sum / Double(max(tokens, 1)) }
}

public enum HellaSwag {
    /// The validation set: 10,042 items from the HellaSwag repository, one per line. Its SHA-256 is not pinned (it
    /// could not be fetched where this was written, with no network), so a download is checked by its line count.
    public static let validation = DataFile(
        relativePath: "hellaswag/hellaswag_val.jsonl",
        url: "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl", integrity: .downloadLines(validationItems))

    /// Items in the validation set.
    public static let validationItems = 10_042

    /// Items of a HellaSwag JSONL file (`ctx`, `endings` (4), `label` per line), tokenised with `encode`;
    /// at most `limit` of them. A file of none is refused: its scores would be 0, not scores.
    public static func examples(path: String, limit: Int? = nil, encode: (String) -> [Int]) throws -> [HellaSwagExample] {
        struct Line: Decodable {
            var ctx: String
            var endings: [String]
            var label: Int
        }
        let decoder = JSONDecoder()
        var examples: [HellaSwagExample] = []
        var lineNumber = 0
        for line in try ByteFile.contents(ofFile: path).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if let limit, examples.count >= limit { break }
            guard !isBlankLine(line) else { continue }
            let item: Line, json = Data(line)
            do {
                item = try decoder.decode(Line.self, from: json)
            } catch {
                throw FileError("\(path):\(lineNumber): not a HellaSwag item (\(decodingErrorText(error, in: json)))")
            }
            guard item.endings.count == 4, (0..<4).contains(item.label) else {
                throw FileError("\(path):\(lineNumber): a HellaSwag item needs 4 endings and a label 0…3 (got \(item.endings.count) endings, label \(item.label))")
            }
            examples.append(HellaSwagExample(context: encode(item.ctx), endings: item.endings.map { encode(" " + $0) },
                                             label: item.label))
        }
        guard !examples.isEmpty else { throw FileError("\(path) holds no HellaSwag items") }
        return examples
    }

    /// Which ending wins: by lowest summed loss, and by lowest mean loss (first on ties). An ending none of whose tokens
    /// was scored (one token after an empty context: the row's first token has nothing before it) has no loss to compare,
    /// and loses to every scored one; its empty sum, 0, won whatever the weights.
    public static func predictions(_ losses: [EndingLoss]) -> (sum: Int, mean: Int) {
        func compared(_ loss: EndingLoss, _ value: Double) -> Double { loss.tokens == 0 ? .infinity : value }
        var bySum = 0, byMean = 0
        for i in losses.indices.dropFirst() {
            if compared(losses[i], losses[i].sum) < compared(losses[bySum], losses[bySum].sum) { bySum = i }
            if compared(losses[i], losses[i].mean) < compared(losses[byMean], losses[byMean].mean) { byMean = i }
        }
        return (bySum, byMean)
    }

    /// Scores `examples` with `rowLosses`, which gets up to `batchSize` token rows and returns, for each row,
    /// the loss of predicting row[1...] from the tokens before (row.count − 1 values). A row longer than
    /// `window` + 1 tokens keeps its last `window` + 1 (the context is cut from the left); only ending tokens
    /// with a token before them in the row are scored. `progress` gets the items done so far.
    public static func score(_ examples: [HellaSwagExample], batchSize: Int, window: Int,
                             rowLosses: ([[Int]]) throws -> [[Float]],
                             progress: (Int) -> Void = { _ in }) rethrows -> (score: HellaSwagScore, losses: [[EndingLoss]]) {
        precondition(batchSize > 0 && window > 0, "batch size and window must be positive")
        // Every (item, ending) pair is a row; rows are batched regardless of item boundaries.
        var rows: [(tokens: [Int], scored: Int)] = []
        for example in examples {
            for ending in example.endings {
                let full = example.context + ending
                let row = Array(full.suffix(window + 1))
                rows.append((row, min(ending.count, row.count - 1)))
            }
        }
        var rowResults: [EndingLoss] = []
        rowResults.reserveCapacity(rows.count)
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + batchSize, rows.count)]
            let losses = try rowLosses(chunk.map(\.tokens))
            for (row, rowLoss) in zip(chunk, losses) {
                precondition(rowLoss.count == row.tokens.count - 1, "row losses must cover row.count − 1 positions")
                var sum = 0.0
                for position in (rowLoss.count - row.scored)..<rowLoss.count { sum += Double(rowLoss[position]) }
                rowResults.append(EndingLoss(sum: sum, tokens: row.scored))
            }
            start += chunk.count
            progress(rowResults.count / 4)
        }
        var score = HellaSwagScore(examples: examples.count, correct: 0, correctNormalized: 0)
        var losses: [[EndingLoss]] = []
        for (index, example) in examples.enumerated() {
            let endings = Array(rowResults[(index * 4)..<(index * 4 + 4)])
            let (bySum, byMean) = predictions(endings)
            if bySum == example.label { score.correct += 1 }
            if byMean == example.label { score.correctNormalized += 1 }
            losses.append(endings)
        }
        return (score, losses)
    }

    /// Scores `examples` with `model`, batching rows to its micro-batch and window; a progress bar on stderr
    /// when `showProgress`. Throws when an ending's loss is not finite (its item's prediction would be arbitrary).
    public static func evaluate<Ops: Backend>(_ model: GPT2Model<Ops>, _ examples: [HellaSwagExample], showProgress: Bool = true)
        throws(NonFiniteOutputError) -> (score: HellaSwagScore, losses: [[EndingLoss]]) {
        let bar = showProgress ? ProgressBar("hellaswag", total: examples.count, unit: "items") : nil
        defer { bar?.finish() }
        let result = score(examples, batchSize: model.layout.batchSize, window: model.layout.sequenceLength,
                           rowLosses: { rows in model.rowLosses(rows) }, progress: { bar?.update($0) })
        if let item = result.losses.firstIndex(where: { $0.contains { !$0.sum.isFinite } }) {
            throw NonFiniteOutputError("the ending losses of HellaSwag item \(item + 1)")
        }
        return result
    }
}

extension GPT2Model {
    /// For each row, the loss of predicting row[1...]: one forward pass over the rows padded to the longest.
    /// (Causal attention: padding after a row's end cannot change its losses.)
    func rowLosses(_ rows: [[Int]]) -> [[Float]] {
        let B = rows.count
        let T = max(1, rows.map { $0.count - 1 }.max()!)
        let padding: Int32 = 0
        var inputs = [Int32](repeating: padding, count: B * T)
        var targets = [Int32](repeating: padding, count: B * T)
        for (b, row) in rows.enumerated() {
            for t in 0..<(row.count - 1) {
                inputs[b * T + t] = Int32(row[t])
                targets[b * T + t] = Int32(row[t + 1])
            }
        }
        forward(inputs: inputs, targets: targets, batchSize: B, sequenceLength: T)
        let losses = download(layout.activation(.losses).slice(0, B * T))
        return rows.enumerated().map { b, row in Array(losses[(b * T)..<(b * T + row.count - 1)]) }
    }
}
