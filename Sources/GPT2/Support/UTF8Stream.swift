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
        let cut = pending.count - pending.withUnsafeBufferPointer(UTF8Validator.truncatedTailLength)
        let text = Array(String(decoding: pending[..<cut], as: UTF8.self).utf8)
        pending.removeFirst(cut)
        return text
    }

    /// The text of what is still held back: a character the pieces ended inside, as U+FFFD.
    public mutating func finish() -> [UInt8] {
        defer { pending = [] }
        return Array(String(decoding: pending, as: UTF8.self).utf8)
    }
}
