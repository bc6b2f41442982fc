/// Streaming `gpt2 tokenize`: a text fed to `StreamingEncoder` in chunks far smaller than itself, cut into parts at safe
/// cuts only, gives the ids of the whole text encoded at once, whatever the chunk, part and thread sizes; a bad byte in
/// a later chunk is reported at its offset in the whole text, before any of its chunk is encoded.

import Testing
import GPT2TestSupport
@testable import GPT2

@Suite struct StreamingEncoderTests {
    /// Lines with safe cuts (a letter or "." before the line end) and places no cut may be made: words, runs of spaces,
    /// a space or "\n" before a line end, multi-byte characters (2, 3 and 4 bytes) on both sides of line ends, CRLF and
    /// lone "\r" line ends, blank lines.
    private static let textWithCuts = Array((0..<40).map { index in
        ["Hello world's  \n\n   I'LL don't\n", "café crème brûlée.\r\n", "日本語のテキスト\r\n\r\n", "emoji 🦀🚀 mixed \n",
         "Ünïcödé  and   spaces\r", "tabs\tand\u{0085}next line\n", "x\n \n\n"][index % 7] + "\(index)é"
    }.joined().utf8)

    /// Every line end follows a space or another line end: no safe cut anywhere, so the text is held and encoded whole.
    private static let textWithoutCuts = Array(String(repeating: "no cut here 日本 \n \r\n", count: 60).utf8)

    /// The ids of `text` given to a fresh encoder in chunks of `chunkBytes`, and the bytes encoded before `finish`.
    private func streamedIDs(of text: [UInt8], chunkBytes: Int, partBytes: Int, threads: Int) throws -> (ids: [Int], encodedBeforeEnd: Int) {
        var encoder = StreamingEncoder(tokenizer: try TokenizerFixture.tokenizer(), threads: threads, partBytes: partBytes)
        var ids: [Int] = []
        for start in stride(from: 0, to: text.count, by: chunkBytes) {
            let chunk = Array(text[start..<min(text.count, start + chunkBytes)])
            ids += try chunk.withUnsafeBufferPointer { try encoder.ids(appending: $0) }.joined()
        }
        let encodedBeforeEnd = encoder.encodedBytes
        ids += try encoder.finish().joined()
        #expect(encoder.encodedBytes == text.count)
        return (ids, encodedBeforeEnd)
    }

    private func wholeIDs(of text: [UInt8]) throws -> [Int] {
        try text.withUnsafeBufferPointer { try TokenizerFixture.tokenizer().encode(utf8: $0) }
    }

    /// Chunks of 1 to 7 bytes end inside characters of every length, parts of 1 byte cut at every safe cut: a cut
    /// at any other place changes the ids.
    @Test(arguments: [1, 2, 3, 5, 7, 4096], [1, 16, 300])
    func smallChunksGiveTheWholeTextsIds(chunkBytes: Int, partBytes: Int) throws {
        let whole = try wholeIDs(of: Self.textWithCuts)
        for threads in [1, 3] {
            let streamed = try streamedIDs(of: Self.textWithCuts, chunkBytes: chunkBytes, partBytes: partBytes, threads: threads)
            #expect(streamed.ids == whole, "chunks of \(chunkBytes), parts of \(partBytes), \(threads) threads")
            if chunkBytes < Self.textWithCuts.count / 2 {
                #expect(streamed.encodedBeforeEnd > Self.textWithCuts.count / 2, "parts were encoded as the text came")
            }
        }
    }

    @Test(arguments: [1, 3, 64])
    func aTextWithoutSafeCutsIsEncodedWholeAtTheEnd(chunkBytes: Int) throws {
        let streamed = try streamedIDs(of: Self.textWithoutCuts, chunkBytes: chunkBytes, partBytes: 1, threads: 2)
        #expect(streamed.encodedBeforeEnd == 0)
        #expect(try streamed.ids == wholeIDs(of: Self.textWithoutCuts))
    }

    /// tiktoken's `encode_ordinary` keeps a byte-order mark (three bytes, here split across chunks): so does the stream.
    @Test func aByteOrderMarkIsEncoded() throws {
        let text = [0xEF, 0xBB, 0xBF] + Array("Hello.\nworld.\n".utf8)
        let streamed = try streamedIDs(of: text, chunkBytes: 2, partBytes: 1, threads: 1)
        let withoutMark = try wholeIDs(of: Array(text.dropFirst(3)))
        #expect(try streamed.ids == wholeIDs(of: text) && streamed.ids.count > withoutMark.count)
    }

    @Test func anEmptyTextHasNoIds() throws {
        var encoder = StreamingEncoder(tokenizer: try TokenizerFixture.tokenizer(), threads: 2, partBytes: 1)
        #expect(try encoder.finish().isEmpty)
        #expect(encoder.encodedBytes == 0)
    }

    /// The bad byte's offset counts from the start of the text, not of its chunk, and nothing of its chunk is encoded;
    /// a text that ends inside a character is bad where that character starts.
    @Test func badUTF8IsFoundAtItsOffsetInTheWholeText() throws {
        var text = Self.textWithCuts
        let badOffset = text.count - 10
        text[badOffset] = 0xFF
        var encoder = StreamingEncoder(tokenizer: try TokenizerFixture.tokenizer(), threads: 2, partBytes: 1)
        var thrown: TokenizerError?
        var encodedBeforeBadChunk = 0
        for start in stride(from: 0, to: text.count, by: 64) {
            encodedBeforeBadChunk = encoder.encodedBytes
            do {
                _ = try Array(text[start..<min(text.count, start + 64)]).withUnsafeBufferPointer { try encoder.ids(appending: $0) }
            } catch {
                thrown = error as? TokenizerError
                break
            }
        }
        #expect(thrown == .invalidUTF8(offset: badOffset))
        #expect(encoder.encodedBytes == encodedBeforeBadChunk && encodedBeforeBadChunk > 0)

        var truncated = StreamingEncoder(tokenizer: try TokenizerFixture.tokenizer(), threads: 1, partBytes: 1)
        let cutShort = Array("ok.\n日".utf8).dropLast()   // ends two bytes into a three-byte character
        _ = try Array(cutShort).withUnsafeBufferPointer { try truncated.ids(appending: $0) }
        #expect(throws: TokenizerError.invalidUTF8(offset: 4)) { try truncated.finish() }
    }
}
