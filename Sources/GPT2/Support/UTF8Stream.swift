/// Turns bytes that arrive in pieces (a sample's tokens, one at a time) into valid UTF-8 text as soon as it can:
/// a character a piece ends inside is held back until the next piece completes it, and bytes that form no
/// character are replaced by U+FFFD, as a decoder with tiktoken's `errors="replace"` does. A byte-level BPE
/// token can end inside a character, and a sampled one need never be followed by the rest of it.
public struct UTF8Stream {
    private var pending: [UInt8] = []

    public init() {}

    /// The text that `bytes`, after those given before, completes.
    public mutating func text(appending bytes: [UInt8]) -> [UInt8] {
        pending += bytes
        let cut = pending.count - Self.incompleteTailLength(pending)
        let text = Array(String(decoding: pending[..<cut], as: UTF8.self).utf8)
        pending.removeFirst(cut)
        return text
    }

    /// The text of what is still held back: a character the pieces ended inside, as U+FFFD.
    public mutating func finish() -> [UInt8] {
        defer { pending = [] }
        return Array(String(decoding: pending, as: UTF8.self).utf8)
    }

    /// How many bytes at the end of `bytes` begin a character that more bytes could still complete: a lead byte
    /// followed by fewer continuation bytes than it announces.
    static func incompleteTailLength(_ bytes: [UInt8]) -> Int {
        guard !bytes.isEmpty else { return 0 }
        for length in 1...min(3, bytes.count) {
            let byte = bytes[bytes.count - length]
            guard byte & 0xC0 == 0x80 else {   // the last byte that is no continuation byte
                let needed = byte >= 0xF0 && byte <= 0xF4 ? 4 : byte >= 0xE0 && byte <= 0xEF ? 3 : byte >= 0xC2 && byte <= 0xDF ? 2 : 1
                return needed > length ? length : 0
            }
        }
        return 0
    }
}
