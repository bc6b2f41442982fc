/// Token ids as text: formatted in decimal into one byte buffer (one write for any number of them; `TokenIDWriter`
/// makes lines or a JSON array of them), and read back from either form with errors that point at the offending text.

enum TokenIDList {
    /// Each id in decimal followed by `terminator`: "id\n" lines, or "id," for the elements of a JSON array (ids are
    /// non-negative, as the tokenizer makes them).
    static func decimals(_ ids: [Int], terminatedBy terminator: UInt8) -> [UInt8] {
        let length = ids.reduce(0) { $0 + decimalLength($1) + 1 }
        return [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            for id in ids {
                writeDecimal(id, into: buffer, at: &count)
                buffer[count] = terminator
                count += 1
            }
        }
    }

    private static func decimalLength(_ value: Int) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 { digits += 1; rest /= 10 }
        return digits
    }

    private static func writeDecimal(_ value: Int, into buffer: UnsafeMutableBufferPointer<UInt8>, at count: inout Int) {
        precondition(value >= 0, "token ids are non-negative")
        let digits = decimalLength(value)
        var rest = value
        for position in stride(from: count + digits - 1, through: count, by: -1) {
            buffer[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        }
        count += digits
    }

    /// The ids in `text`: one JSON array of decimal numbers (`[1, 2]`, as `--json` writes it), or decimal
    /// numbers separated by whitespace. Anything else (a missing `]`, a stray comma, a nested array, a word)
    /// is refused with its byte offset, so that truncated or mangled input never decodes in part.
    static func parse(_ text: [UInt8]) throws -> [Int] {
        var index = 0
        skipWhitespace(text, &index)
        guard index < text.count, text[index] == UInt8(ascii: "[") else {
            return try parseWhitespaceSeparated(text, from: index)
        }
        index += 1
        var ids: [Int] = []
        skipWhitespace(text, &index)
        if index < text.count, text[index] == UInt8(ascii: "]") {
            index += 1
        } else {
            while true {
                ids.append(try readID(text, &index, endingAt: [UInt8(ascii: ","), UInt8(ascii: "]")]))
                skipWhitespace(text, &index)
                guard index < text.count else { throw failure("the JSON array has no closing \"]\"", at: index) }
                let separator = text[index]
                guard separator == UInt8(ascii: ",") || separator == UInt8(ascii: "]") else {
                    throw failure("expected \",\" or \"]\" after a token id", at: index)
                }
                index += 1
                if separator == UInt8(ascii: "]") { break }
                skipWhitespace(text, &index)
            }
        }
        skipWhitespace(text, &index)
        guard index == text.count else { throw failure("text follows the JSON array's closing \"]\"", at: index) }
        return ids
    }

    private static func parseWhitespaceSeparated(_ text: [UInt8], from start: Int) throws -> [Int] {
        var ids: [Int] = []
        var index = start
        while index < text.count {
            ids.append(try readID(text, &index, endingAt: []))
            skipWhitespace(text, &index)
        }
        return ids
    }

    /// Reads the id at `index`: the bytes up to whitespace, one of `terminators`, or the end.
    private static func readID(_ text: [UInt8], _ index: inout Int, endingAt terminators: [UInt8]) throws -> Int {
        let start = index
        while index < text.count, !isWhitespace(text[index]), !terminators.contains(text[index]) { index += 1 }
        guard index > start else {
            throw failure(index < text.count ? "a token id is missing" : "the ids end early", at: index)
        }
        var id = 0   // (read from the bytes: a String per id was a quarter of a decode)
        for byte in text[start..<index] {
            let digit = Int(byte) - Int(UInt8(ascii: "0"))
            let (tens, overflow) = id.multipliedReportingOverflow(by: 10)
            guard (0...9).contains(digit), !overflow, case (let sum, false) = tens.addingReportingOverflow(digit) else {
                let word = String(decoding: text[start..<index], as: UTF8.self)
                throw TokenizeCommand.Failure("--decode: \"\(word.prefix(40))\" at byte \(start) is not a token id")
            }
            id = sum
        }
        return id
    }

    private static func failure(_ problem: String, at offset: Int) -> TokenizeCommand.Failure {
        TokenizeCommand.Failure("--decode: \(problem) (at byte \(offset)); expected a JSON array of ids or ids separated by whitespace")
    }

    private static func skipWhitespace(_ text: [UInt8], _ index: inout Int) {
        while index < text.count, isWhitespace(text[index]) { index += 1 }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }
}
