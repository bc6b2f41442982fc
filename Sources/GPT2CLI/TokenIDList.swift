/// Token ids as text: written one per line or as a JSON array into one byte buffer (one write for any
/// size), and read back from either form with errors that point at the offending text.

enum TokenIDList {
    /// "id\n" for every id (ids are non-negative, as the tokenizer makes them).
    static func lines(_ ids: [Int]) -> [UInt8] {
        let length = ids.reduce(0) { $0 + decimalLength($1) + 1 }
        return [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            for id in ids {
                writeDecimal(id, into: buffer, at: &count)
                buffer[count] = UInt8(ascii: "\n")
                count += 1
            }
        }
    }

    /// "[id,id,…]\n".
    static func json(_ ids: [Int]) -> [UInt8] {
        let length = ids.reduce(3 + max(0, ids.count - 1)) { $0 + decimalLength($1) }
        return [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            buffer[count] = UInt8(ascii: "[")
            count += 1
            for (index, id) in ids.enumerated() {
                if index > 0 {
                    buffer[count] = UInt8(ascii: ",")
                    count += 1
                }
                writeDecimal(id, into: buffer, at: &count)
            }
            buffer[count] = UInt8(ascii: "]")
            buffer[count + 1] = UInt8(ascii: "\n")
            count += 2
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

    /// The ids in `text`: decimal numbers separated by whitespace, commas and square brackets.
    static func parse(_ text: [UInt8]) throws -> [Int] {
        var ids: [Int] = []
        var index = 0
        while index < text.count {
            let byte = text[index]
            if isSeparator(byte) {
                index += 1
                continue
            }
            let start = index
            while index < text.count, !isSeparator(text[index]) { index += 1 }
            let word = String(decoding: text[start..<index], as: UTF8.self)
            guard let id = Int(word) else {
                throw TokenizeCommand.Failure("--decode: \"\(word.prefix(40))\" at byte \(start) is not a token id")
            }
            ids.append(id)
        }
        return ids
    }

    private static func isSeparator(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: ","),
            UInt8(ascii: "["), UInt8(ascii: "]"):
            return true
        default:
            return false
        }
    }
}
