/// Where a text may be cut into parts that encode independently (`IndependentPartCutter` cuts there), so that one long
/// text is encoded a part at a time, on several threads: every cut sits right before a "\n" or "\r" (of "\r\n" line
/// ends, or old Mac ones) that follows a printable ASCII byte other than the space (0x21–0x7E), where no pre-tokeniser
/// piece can cross.
///
/// Why that is safe: the byte before the cut is a letter, number or "other" character, so the piece holding
/// it ends at the whitespace after it whether or not the text goes on; each piece's extent depends only on the
/// characters after its start, so the pieces before are unchanged; and a piece always starts at the cut.

extension GPT2Tokenizer {
    /// Whether `text` may be cut right before `index` (from 1 to `text.count - 1`) into two parts that encode
    /// independently (see above).
    @inline(__always)
    public static func isIndependentCut(in text: UnsafeBufferPointer<UInt8>, at index: Int) -> Bool {
        (text[index] == UInt8(ascii: "\n") || text[index] == UInt8(ascii: "\r")) && (0x21...0x7E).contains(text[index - 1])
    }
}
