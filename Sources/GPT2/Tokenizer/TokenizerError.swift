/// What can go wrong loading GPT-2's vocabulary files or encoding and decoding text, each case with a
/// message that names the file, line, byte offset or id so a user can act on it.

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// A vocabulary file does not exist or cannot be read.
    case unreadableFile(path: String, reason: String)
    /// A vocabulary file exists but its content is not what GPT-2's files hold.
    case corruptFile(path: String, detail: String)
    /// The input text is not valid UTF-8; `offset` is the first bad byte's index.
    case invalidUTF8(offset: Int)
    /// A token id outside `0..<GPT2Tokenizer.vocabularySize`.
    case tokenOutOfRange(id: Int)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read tokenizer file \(path): \(reason)"
        case .corruptFile(let path, let detail):
            return "tokenizer file \(path) is not a GPT-2 vocabulary file: \(detail) "
                + "(download encoder.json and vocab.bpe again)"
        case .invalidUTF8(let offset):
            return "the text is not valid UTF-8: bad byte at offset \(offset)"
        case .tokenOutOfRange(let id):
            return "token id \(id) is out of range: GPT-2 ids are 0...\(GPT2Tokenizer.vocabularySize - 1)"
        }
    }
}
