/// `UTF8Stream`: text that arrives in pieces comes out valid UTF-8, as soon as each character is complete.

import GPT2
import Testing

@Suite struct UTF8StreamTests {
    /// Valid text split anywhere comes out byte for byte, each character once its last byte has arrived.
    @Test func validTextSplitAnywhereComesOutWhole() {
        let text = Array("Héllo, мир — 日本 🙂!".utf8)
        for first in 0...text.count {
            for second in first...text.count {
                var stream = UTF8Stream()
                let out = stream.text(appending: Array(text[..<first])) + stream.text(appending: Array(text[first..<second]))
                    + stream.text(appending: Array(text[second...])) + stream.finish()
                #expect(out == text, "split at \(first), \(second)")
            }
        }
        var stream = UTF8Stream()
        #expect(stream.text(appending: [0xF0, 0x9F]).isEmpty && stream.text(appending: [0x99]).isEmpty)
        #expect(stream.text(appending: [0x82, 0x21]) == Array("🙂!".utf8))
    }

    /// A character that is never completed, and bytes that begin none, come out as U+FFFD (what `gpt2 sample` wrote as
    /// they were: "\u{5D9}" then a lone 0xD7 before " Grounds", which no UTF-8 reader takes).
    @Test func bytesThatFormNoCharacterAreReplaced() {
        let replacement = Array("\u{FFFD}".utf8)
        var stream = UTF8Stream()
        #expect(stream.text(appending: [0xD7, 0x99, 0xD7]) == [0xD7, 0x99])
        #expect(stream.text(appending: Array(" Grounds".utf8)) == replacement + Array(" Grounds".utf8))
        #expect(stream.text(appending: [0x41, 0xFF, 0x42]) == [0x41] + replacement + [0x42])
        #expect(stream.text(appending: [0xE6, 0x97]).isEmpty)
        #expect(stream.finish() == replacement)
        #expect(stream.finish().isEmpty && stream.text(appending: []).isEmpty)
    }
}
