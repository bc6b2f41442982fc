/// HellaSwag scoring rules on a hand-made JSONL with a stand-in model whose token losses are known:
/// acc picks the lowest SUM of ending-token losses, acc_norm the lowest MEAN, ties go to the first ending,
/// long rows are cut from the left of the context.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct HellaSwagTests {
    /// Items whose endings are made of " right" (loss 1 under the stand-in) and " wrong" (loss 5).
    ///  1: sums 5 6 10 7 → 0 (wrong), means 5 1 5 2.3 → 1 (right)
    ///  2: sums 10 1 2 5 → 1 (right), means 5 1 1 5 → 1 (right, the first of a tie)
    ///  3: sums 5 6 10 2 → 3 (right), means 5 3 5 1 → 3 (right)
    ///  4: sums 4 1 5 5 → 1 (wrong), means 1 1 5 5 → 0 (right, the first of a tie)
    private let jsonl = """
        {"ctx": "The answer is", "endings": ["wrong", "right right right right right right", "wrong wrong", "right wrong right"], "label": 1}
        {"ctx": "The answer is", "endings": ["wrong wrong", "right", "right right", "wrong"], "label": 1}

        {"ctx": "Again", "endings": ["wrong", "wrong right", "wrong wrong", "right right"], "label": 3, "extra": "ignored"}
        {"ctx": "Last", "endings": ["right right right right", "right", "wrong", "wrong"], "label": 0}
        """

    private func examples(_ text: String, limit: Int? = nil) throws -> [HellaSwagExample] {
        try examples(bytes: Array(text.utf8), limit: limit)
    }

    private func examples(bytes: [UInt8], limit: Int? = nil) throws -> [HellaSwagExample] {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("h.jsonl").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let tokenizer = try TokenizerFixture.tokenizer()
        return try HellaSwag.examples(path: path, limit: limit, encode: tokenizer.encode)
    }

    /// Loss 5 for predicting " wrong", 1 for anything else; checks every row fits the window.
    private func standIn(window: Int) throws -> ([[Int]]) -> [[Float]] {
        let wrong = try TokenizerFixture.tokenizer().encode(" wrong")
        let right = try TokenizerFixture.tokenizer().encode(" right")
        #expect(wrong.count == 1 && right.count == 1)
        return { rows in
            rows.map { row in
                #expect(row.count <= window + 1)
                return row.dropFirst().map { $0 == wrong[0] ? 5 : 1 }
            }
        }
    }

    @Test func accUsesSummedLossAndAccNormUsesMeanLoss() throws {
        let items = try examples(jsonl)
        #expect(items.count == 4)
        #expect(items[0].endings[1].count == 6)
        for batchSize in [1, 3, 4, 16] {   // batching across item boundaries changes nothing
            let (score, losses) = try HellaSwag.score(items, batchSize: batchSize, window: 64, rowLosses: standIn(window: 64))
            #expect(score == HellaSwagScore(examples: 4, correct: 2, correctNormalized: 4))
            #expect(score.accuracy == 0.5 && score.normalizedAccuracy == 1)
            #expect(losses[0] == [EndingLoss(sum: 5, tokens: 1), EndingLoss(sum: 6, tokens: 6),
                                  EndingLoss(sum: 10, tokens: 2), EndingLoss(sum: 7, tokens: 3)])
        }
    }

    @Test func rowsLongerThanTheWindowLoseContextFromTheLeft() throws {
        let items = try examples(jsonl)
        // Window 3: a row keeps its last 4 tokens, so at most 3 ending tokens are scored.
        let (_, losses) = try HellaSwag.score(items, batchSize: 5, window: 3, rowLosses: standIn(window: 3))
        #expect(losses[0][1] == EndingLoss(sum: 3, tokens: 3))
        #expect(losses[0][3] == EndingLoss(sum: 7, tokens: 3))
        #expect(losses[3][0] == EndingLoss(sum: 3, tokens: 3))
    }

    @Test func endingsAreTokenisedWithALeadingSpaceAfterTheContext() throws {
        let tokenizer = try TokenizerFixture.tokenizer()
        let items = try examples(#"{"ctx": "A man sits down. He", "endings": ["reads.", "x", "y", "z"], "label": 2}"#)
        #expect(items == [HellaSwagExample(context: tokenizer.encode("A man sits down. He"),
                                           endings: ["reads.", "x", "y", "z"].map { tokenizer.encode(" " + $0) }, label: 2)])
        #expect(try examples(jsonl, limit: 3).count == 3)
    }

    @Test(arguments: [
        (#"{"ctx": "a", "endings": ["b", "c", "d"], "label": 0}"#, ":1: a HellaSwag item needs 4 endings"),
        ("\n" + #"{"ctx": "a", "endings": ["b", "c", "d", "e"], "label": 4}"#, ":2: a HellaSwag item needs 4 endings and a label 0…3"),
        // the field and what is wrong with it, not Foundation's CodingKeys dump
        (#"{"ctx": "a", "endings": ["b", "c", "d", "e"]}"#, ":1: not a HellaSwag item (missing field label)"),
        (#"{"context": "a", "endings": ["b", "c", "d", "e"], "label": 1}"#, ":1: not a HellaSwag item (missing field ctx)"),
        (#"{"ctx": "a", "endings": ["b", "c", "d", "e"], "label": "1"}"#, ":1: not a HellaSwag item (label must be an integer)"),
        (#"{"ctx": "a", "endings": ["b", 2, "d", "e"], "label": 1}"#, ":1: not a HellaSwag item (endings[1] must be a string)"),
        (#"{"ctx": null, "endings": ["b", "c", "d", "e"], "label": 1}"#, ":1: not a HellaSwag item (ctx is null)"),
        ("{oops", ":1: not a HellaSwag item (not valid JSON)"),
        (#"{"ctx": "a", "endings": ["b", "c", "d", "e"], "label": 1.5}"#, ":1: not a HellaSwag item (a number its field cannot hold"),
        // (which these two were called too: Foundation says "not valid JSON" of all three)
        (#"{"ctx": "a\ud800b", "endings": ["b", "c", "d", "e"], "label": 1}"#,
         ":1: not a HellaSwag item (the escape \\ud800 is half of a UTF-16 surrogate pair without its other half)"),
        (#"{"ctx": "a"#, ":1: not a HellaSwag item (not UTF-8 text (a byte at offset 10 is no character's))"),
    ])
    func badLinesNameTheirLine(_ text: String, _ message: String) {
        // (the last case's ctx goes on with two bytes that are no UTF-8, which no String holds)
        let bytes = text.hasSuffix(#""a"#) ? Array(text.utf8) + [0xFF, 0xFE] + Array(#"", "endings": ["b", "c", "d", "e"], "label": 1}"#.utf8)
            : Array(text.utf8)
        #expect { try examples(bytes: bytes) } throws: { error in String(describing: error).contains(message) }
    }

    @Test func predictionsBreakTiesTowardTheFirstEnding() {
        let losses = [EndingLoss(sum: 2, tokens: 2), EndingLoss(sum: 2, tokens: 1), EndingLoss(sum: 1, tokens: 1),
                      EndingLoss(sum: 1, tokens: 1)]
        #expect(HellaSwag.predictions(losses) == (2, 0))
    }

    /// An ending with no scored token (one token after an empty context) loses to every scored one, by sum and by mean:
    /// its empty sum, 0, won whatever the weights. Where no ending was scored, the first wins, as on a tie.
    @Test func anEndingWithNoScoredTokenNeverWins() {
        let losses = [EndingLoss(sum: 30, tokens: 3), EndingLoss(sum: 0, tokens: 0), EndingLoss(sum: 9, tokens: 1),
                      EndingLoss(sum: 12, tokens: 6)]
        #expect(HellaSwag.predictions(losses) == (2, 3))
        #expect(HellaSwag.predictions(Array(repeating: EndingLoss(sum: 0, tokens: 0), count: 4)) == (0, 0))
    }
}
