/// GPT-2's pre-tokenisation, hand-written: splits valid UTF-8 into the pieces that the regex
/// `'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` matches, left to right.
///
/// Reading of the regex, alternative by alternative, at the start of each piece:
/// - a case-sensitive ASCII contraction `'s 't 'm 'd 'll 've 're`;
/// - an optional U+0020 space followed by a maximal run of one class: letters, numbers, or "other"
///   (neither whitespace, letter nor number);
/// - otherwise a whitespace run: if it reaches the end of the text it is one piece; if it is followed by a
///   non-space character and holds two or more characters, its last character is given back (it becomes
///   the leading space of the next piece when it is U+0020, or a piece of its own otherwise).

enum PreTokenizer {
    /// Calls `body` with the byte range of every piece of `text`, in order; the ranges tile the text.
    @inline(__always)
    static func forEachPiece(in text: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        let n = text.count
        var start = 0
        while start < n {
            let end = pieceEnd(in: text, from: start)
            body(start..<end)
            start = end
        }
    }

    /// The end of the piece that starts at `start`.
    @inline(__always)
    static func pieceEnd(in text: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        let n = text.count
        let first = text[start]
        if first == UInt8(ascii: "'"), let length = contractionLength(in: text, at: start) {
            return start + length
        }
        var runStart = start
        var (value, length) = UTF8Scalar.decode(text, at: start)
        var kind = ScalarClass.of(value)
        if first == UInt8(ascii: " "), start + 1 < n {
            let next = UTF8Scalar.decode(text, at: start + 1)
            let nextKind = ScalarClass.of(next.value)
            if nextKind != .whitespace {
                runStart = start + 1
                (value, length, kind) = (next.value, next.length, nextKind)
            }
        }
        var end = runStart + length
        if kind != .whitespace {
            while end < n {
                let (nextValue, nextLength) = UTF8Scalar.decode(text, at: end)
                if ScalarClass.of(nextValue) != kind { break }
                end += nextLength
            }
            return end
        }
        var lastStart = start
        while end < n {
            let (nextValue, nextLength) = UTF8Scalar.decode(text, at: end)
            if ScalarClass.of(nextValue) != .whitespace {
                // `\s+(?!\S)` stops before the last whitespace character; a lone one is `\s+` itself.
                return lastStart > start ? lastStart : end
            }
            lastStart = end
            end += nextLength
        }
        return end
    }

    /// 2 or 3 when `'s 't 'm 'd` or `'ll 've 're` starts at `index`, else nil.
    @inline(__always)
    private static func contractionLength(in text: UnsafeBufferPointer<UInt8>, at index: Int) -> Int? {
        guard index + 1 < text.count else { return nil }
        switch text[index + 1] {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            return 2
        case UInt8(ascii: "l"), UInt8(ascii: "v"), UInt8(ascii: "r"):
            guard index + 2 < text.count else { return nil }
            let second = text[index + 2]
            let expected: UInt8 = text[index + 1] == UInt8(ascii: "l") ? UInt8(ascii: "l") : UInt8(ascii: "e")
            return second == expected ? 3 : nil
        default:
            return nil
        }
    }
}
