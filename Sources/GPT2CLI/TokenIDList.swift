/// Token ids as text: written one per line or as a JSON array into one byte buffer (one write for any
/// size), and read back from either form with errors that point at the offending text.

enum TokenIDList {
    /// "id\n" for every id.
    static func lines(_ ids: [Int]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 6)
        for id in ids {
            appendDecimal(id, to: &bytes)
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }

    /// "[id,id,…]\n".
    static func json(_ ids: [Int]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        bytes.reserveCapacity(ids.count * 6 + 3)
        for (index, id) in ids.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            appendDecimal(id, to: &bytes)
        }
        bytes.append(contentsOf: [UInt8(ascii: "]"), UInt8(ascii: "\n")])
        return bytes
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

    private static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for i in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[i]) }
        }
    }
}
