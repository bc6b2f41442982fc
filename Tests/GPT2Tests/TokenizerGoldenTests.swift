/// The tokenizer against tiktoken's `gpt2` encoding on the golden corpus (≥ 1 MB: tinyshakespeare plus
/// generated text in many scripts, spaces, emoji, controls and random scalars from every plane).

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite(
    "Tokenizer matches tiktoken on the golden corpus",
    .enabled(if: TiktokenReference.isAvailable, "tiktoken is not installed: pip install -r scripts/ci-requirements.txt"))
struct TokenizerGoldenTests {
    static let golden = Result { try TiktokenReference.golden() }

    @Test func corpusIsAtLeastOneMegabyte() throws {
        let golden = try Self.golden.get()
        #expect(golden.documents.reduce(0) { $0 + $1.count } >= 1_000_000)
    }

    @Test func encodeUTF8MatchesTiktokenOnEveryDocument() throws {
        let golden = try Self.golden.get()
        let tokenizer = try TokenizerFixture.tokenizer()
        var mismatches = 0
        for (document, expected) in zip(golden.documents, golden.ids) {
            let ids = try Array(document).withUnsafeBufferPointer { try tokenizer.encode(utf8: $0) }
            if ids != expected {
                mismatches += 1
                if mismatches <= 3 { Issue.record("\(firstDifference(ids, expected, document))") }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func encodeDocumentsMatchesTiktokenOnAllThreadCounts() throws {
        let golden = try Self.golden.get()
        let tokenizer = try TokenizerFixture.tokenizer()
        let texts = golden.documents.map { String(decoding: $0, as: UTF8.self) }
        for threads in [1, 2, 3, 0] {
            let encoded = tokenizer.encodeDocuments(texts, threads: threads)
            let mismatches = zip(encoded, golden.ids).filter { $0 != $1 }.count
            #expect(encoded.count == golden.ids.count && mismatches == 0, "threads: \(threads)")
        }
    }

    @Test func decodeInvertsTiktokenIds() throws {
        let golden = try Self.golden.get()
        let tokenizer = try TokenizerFixture.tokenizer()
        for (document, ids) in zip(golden.documents, golden.ids) {
            #expect(try tokenizer.decode(ids) == Array(document))
        }
    }

    /// The golden text streamed in chunks and cut into parts of at least `partBytes` (1: at every safe cut) encodes to
    /// the whole text's ids; the parts a chunk completes are encoded on several threads.
    @Test(arguments: [(1, 1000), (7, 4099), (100, 1 << 16), (4096, 1000)])
    func streamingInChunksCutAtIndependentBoundariesKeepsTheIds(partBytes: Int, chunkBytes: Int) throws {
        let golden = try Self.golden.get()
        let tokenizer = try TokenizerFixture.tokenizer()
        let text = Array(golden.documents.joined())
        let whole = try text.withUnsafeBufferPointer { try tokenizer.encode(utf8: $0) }
        var encoder = StreamingEncoder(tokenizer: tokenizer, threads: 3, partBytes: partBytes)
        var streamed: [Int] = []
        for start in stride(from: 0, to: text.count, by: chunkBytes) {
            let chunk = Array(text[start..<min(text.count, start + chunkBytes)])
            streamed += try chunk.withUnsafeBufferPointer { try encoder.ids(appending: $0) }.joined()
        }
        #expect(encoder.encodedBytes > text.count / 2, "the text was cut and encoded as it streamed")
        streamed += try encoder.finish().joined()
        #expect(streamed.count == whole.count && streamed == whole)
    }

    private func firstDifference(_ ids: [Int], _ expected: [Int], _ document: Data) -> String {
        let index = zip(ids, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(ids.count, expected.count)
        let context = { (array: [Int]) in Array(array[max(0, index - 3)..<min(array.count, index + 4)]) }
        let tokenizer = try? TokenizerFixture.tokenizer()
        let text = { (array: [Int]) in
            (try? tokenizer?.decode(context(array))).map { String(decoding: $0, as: UTF8.self).debugDescription }
                ?? "?"
        }
        return "document of \(document.count) bytes differs at token \(index): ours \(context(ids)) \(text(ids)) "
            + "tiktoken \(context(expected)) \(text(expected))"
    }
}
