/// Reading GPT-2's vocabulary files: encoder.json (a flat JSON object, token text → id, the text written in
/// the byte↔unicode alphabet) into token byte strings, and vocab.bpe (the merge list) to check against it.

enum VocabularyFiles {
    /// Every token's bytes, in id order: token i is `bytes[ends[i]..<ends[i+1]]` (`ends[0] == 0`).
    struct Tokens {
        var bytes: [UInt8] = []
        var ends: [Int32] = [0]
    }

    /// Parses encoder.json; its ids must be exactly 0..<`vocabularySize`, each once.
    static func readEncoder(path: String, vocabularySize: Int) throws(TokenizerError) -> Tokens {
        let content = try read(path)
        var parser = EncoderJSONParser(content: content, path: path)
        var texts = [[UInt8]?](repeating: nil, count: vocabularySize)
        try parser.parse { text, id throws(TokenizerError) in
            guard (0..<vocabularySize).contains(id) else {
                throw .corruptFile(path: path, detail: "id \(id) is outside 0..<\(vocabularySize)")
            }
            guard texts[id] == nil else { throw .corruptFile(path: path, detail: "id \(id) appears twice") }
            texts[id] = text
        }
        var tokens = Tokens()
        for (id, text) in texts.enumerated() {
            guard let text else { throw .corruptFile(path: path, detail: "no token has id \(id)") }
            tokens.bytes.append(contentsOf: text)
            tokens.ends.append(Int32(tokens.bytes.count))
        }
        return tokens
    }

    /// Checks that vocab.bpe is a merge list whose every merge makes a token that `isToken` knows.
    static func checkMerges(path: String, isToken: (UnsafeBufferPointer<UInt8>) -> Bool) throws(TokenizerError) {
        let content = try read(path)
        let lines = content.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard let header = lines.first, header.starts(with: Array("#version".utf8)) else {
            throw .corruptFile(path: path, detail: "the first line is not '#version: …'")
        }
        var merges = 0
        for (number, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            let first = fields.count == 2 ? alphabetBytes(fields[0]) : nil
            let second = fields.count == 2 ? alphabetBytes(fields[1]) : nil
            guard let first, let second, !first.isEmpty, !second.isEmpty else {
                throw .corruptFile(path: path, detail: "line \(number + 1) is not two tokens separated by a space")
            }
            let merged = first + second
            guard merged.withUnsafeBufferPointer(isToken) else {
                throw .corruptFile(
                    path: path,
                    detail: "the merge on line \(number + 1) makes a token that encoder.json lacks "
                        + "(encoder.json and vocab.bpe do not belong together)")
            }
            merges += 1
        }
        guard merges > 0 else { throw .corruptFile(path: path, detail: "it lists no merges") }
    }

    /// The bytes that UTF-8 text in the byte↔unicode alphabet stands for, or nil if it leaves the alphabet.
    static func alphabetBytes<Text: Collection<UInt8>>(_ text: Text) -> [UInt8]? {
        var bytes: [UInt8] = []
        for scalar in String(decoding: text, as: UTF8.self).unicodeScalars {
            guard let byte = ByteUnicodeTable.byte(for: scalar.value) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    private static func read(_ path: String) throws(TokenizerError) -> [UInt8] {
        do {
            let content = try ByteFile.contents(ofFile: path)
            let invalid = content.withUnsafeBufferPointer { UTF8Validator.firstInvalidOffset($0) }
            if let invalid { throw TokenizerError.corruptFile(path: path, detail: "invalid UTF-8 at byte \(invalid)") }
            return content
        } catch let error as ByteFileError {
            throw .unreadableFile(path: path, reason: error.reason)
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw .unreadableFile(path: path, reason: "\(error)")
        }
    }
}

/// A parser for exactly the JSON encoder.json uses: one object of string keys and non-negative integers.
private struct EncoderJSONParser {
    let content: [UInt8]
    let path: String
    var index = 0

    init(content: [UInt8], path: String) {
        self.content = content
        self.path = path
    }

    mutating func parse(_ entry: ([UInt8], Int) throws(TokenizerError) -> Void) throws(TokenizerError) {
        skipSpace()
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if peek() == UInt8(ascii: "}") { throw failure("the object is empty") }
        while true {
            skipSpace()
            let text = try parseAlphabetString()
            skipSpace()
            try expect(UInt8(ascii: ":"))
            skipSpace()
            try entry(text, try parseInteger())
            skipSpace()
            if peek() == UInt8(ascii: ",") { index += 1; continue }
            try expect(UInt8(ascii: "}"))
            skipSpace()
            guard index == content.count else { throw failure("unexpected text after the object") }
            return
        }
    }

    /// A JSON string read straight into the bytes its characters stand for in the byte↔unicode alphabet.
    private mutating func parseAlphabetString() throws(TokenizerError) -> [UInt8] {
        try expect(UInt8(ascii: "\""))
        var bytes: [UInt8] = []
        while true {
            guard index < content.count else { throw failure("a string is not closed") }
            let byte = content[index]
            if byte == UInt8(ascii: "\"") { index += 1; break }
            var scalar: UInt32
            if byte != UInt8(ascii: "\\") {
                let (value, length) = content.withUnsafeBufferPointer { UTF8Scalar.decode($0, at: index) }
                scalar = value
                index += length
            } else {
                guard index + 1 < content.count else { throw failure("a string ends inside an escape") }
                let escaped = content[index + 1]
                index += 2
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalar = UInt32(escaped)
                case UInt8(ascii: "b"): scalar = 0x08
                case UInt8(ascii: "f"): scalar = 0x0C
                case UInt8(ascii: "n"): scalar = 0x0A
                case UInt8(ascii: "r"): scalar = 0x0D
                case UInt8(ascii: "t"): scalar = 0x09
                case UInt8(ascii: "u"): scalar = try parseHex4()  // surrogates are outside the alphabet
                default:
                    throw failure("unknown escape \\\(Unicode.Scalar(escaped))")
                }
            }
            guard let byte = ByteUnicodeTable.byte(for: scalar) else {
                throw failure("a key has the character U+\(String(scalar, radix: 16, uppercase: true)), "
                    + "which is outside GPT-2's byte alphabet")
            }
            bytes.append(byte)
        }
        return bytes
    }

    private mutating func parseHex4() throws(TokenizerError) -> UInt32 {
        guard index + 4 <= content.count else { throw failure("a \\u escape is cut short") }
        var value: UInt32 = 0
        for byte in content[index..<(index + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("bad \\u escape")
            }
            value = value << 4 | UInt32(digit)
        }
        index += 4
        return value
    }

    private mutating func parseInteger() throws(TokenizerError) -> Int {
        var value = 0
        let start = index
        while index < content.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(content[index]),
            index - start < 10
        {
            value = value * 10 + Int(content[index] - UInt8(ascii: "0"))
            index += 1
        }
        guard index > start else { throw failure("expected a token id") }
        return value
    }

    private func peek() -> UInt8? { index < content.count ? content[index] : nil }

    private mutating func skipSpace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(TokenizerError) {
        guard peek() == byte else { throw failure("expected '\(Unicode.Scalar(byte))'") }
        index += 1
    }

    private func failure(_ detail: String) -> TokenizerError {
        .corruptFile(path: path, detail: "\(detail) at byte \(index)")
    }
}
