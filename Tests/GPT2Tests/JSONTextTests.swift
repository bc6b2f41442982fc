/// `jsonString` writes string literals as RFC 8259 (section 7) requires: quoted, with `"` and `\` escaped and every
/// control character U+0000…U+001F escaped (as `\n`, `\r`, `\t` or `\u00XX`), everything else as it is.

import Foundation
import GPT2
import Testing

@Suite struct JSONTextTests {
    /// Every ASCII character, and a few beyond it (é, 日, 🦀, U+2028), read back by Foundation's JSON parser as the
    /// string that was written, with no raw control byte left in the literal.
    @Test func everyCharacterRoundTripsThroughAJSONParser() throws {
        let text = String(String.UnicodeScalarView((0..<0x80).compactMap(Unicode.Scalar.init))) + "é日🦀\u{2028}"
        let literal = jsonString(text)
        #expect(!literal.utf8.contains { $0 < 0x20 }, "a control byte is left raw: \(literal.debugDescription)")
        let decoded = try JSONDecoder().decode([String].self, from: Data(("[" + literal + "]").utf8))
        #expect(decoded == [text])
    }

    /// The escapes themselves, spelled out from the RFC's grammar: `\"`, `\\`, the short forms for newline, carriage
    /// return and tab, and four hex digits for the other controls (U+0000, U+0008, U+001F).
    @Test func escapesAreTheRFCsForms() {
        #expect(jsonString("a\"b\\c") == #""a\"b\\c""#)
        #expect(jsonString("\n\r\t") == #""\n\r\t""#)
        #expect(jsonString("\u{0}\u{8}\u{1F}") == #""\u0000\u0008\u001f""#)
        #expect(jsonString("\u{7F} ~") == "\"\u{7F} ~\"")   // DEL and the printable ASCII need no escape
    }
}
