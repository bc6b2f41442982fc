/// The document of one JSON Lines line: the string value of one named field of the line's object, found in a single
/// pass over the line's bytes that checks the whole line but builds only that one string (Foundation's decoder built
/// every value, cost half of a JSONL prepare, and did not check the values it was not asked for).

/// Reads one field of a JSON object line, given as bytes that are already valid UTF-8 (the file was checked as it was
/// read), as Python's `json.loads` reads JSON Lines: RFC 8259 JSON, plus the `NaN`, `Infinity` and `-Infinity` that
/// Python writes for such floats; a key given twice counts at its last value. Unlike Python: a byte-order mark at a
/// line's start is skipped (a file joined from several may have one on any line); a lone surrogate escape in the
/// field's string is refused (it is no character; elsewhere it is left alone, as Python leaves it); and neither the
/// nesting depth nor an integer's digits are limited (Python stops at ~1,000 levels and 4,300 digits): containers are
/// tracked on a stack, not by recursion, and numbers are only checked, never converted.
struct JSONLineField {
    /// What a line holds for the field.
    enum Value: Equatable {
        case string(String)
        /// An object without the field, or whose field is not a string (`null`, a number, an array…).
        case missing
        /// A `\uXXXX` escape in the field's string that is half of a UTF-16 surrogate pair without its other half, as
        /// written: valid JSON syntax, but no character.
        case loneSurrogate(String)
        /// Not JSON, or JSON that is not an object (an array, a string, a number, a literal).
        case invalid
    }

    /// The field's name in UTF-8.
    private let name: [UInt8]
    /// Open arrays and objects while a value is skipped (`[` or `{`), kept between lines for its capacity.
    private var containers: [UInt8] = []
    /// A string with escapes, decoded.
    private var unescaped: [UInt8] = []

    init(named name: String) { self.name = Array(name.utf8) }

    /// The field's value in `line` (one line, without its "\n").
    mutating func value(in line: UnsafeBufferPointer<UInt8>) -> Value {
        var scanner = JSONScanner(bytes: line)
        return (try? readLine(&scanner)) ?? .invalid
    }

    private mutating func readLine(_ scanner: inout JSONScanner) throws(JSONScanner.Invalid) -> Value {
        scanner.skipByteOrderMark()
        scanner.skipWhitespace()
        guard scanner.peek == UInt8(ascii: "{") else {
            try skipValue(&scanner)
            try scanner.expectEnd()
            return .invalid
        }
        scanner.advance()
        scanner.skipWhitespace()
        var value = Value.missing
        if scanner.peek == UInt8(ascii: "}") {
            scanner.advance()
        } else {
            while true {
                let isField = try readKeyIsField(&scanner)
                if isField && scanner.peek == UInt8(ascii: "\"") {
                    value = try readString(&scanner)
                } else {
                    if isField { value = .missing }
                    try skipValue(&scanner)
                }
                scanner.skipWhitespace()
                if scanner.peek == UInt8(ascii: ",") {
                    scanner.advance()
                    scanner.skipWhitespace()
                    continue
                }
                try scanner.expect(UInt8(ascii: "}"))
                break
            }
        }
        try scanner.expectEnd()
        return value
    }

    /// Reads `"key" :` and the whitespace after it; whether the key is the field's name.
    private mutating func readKeyIsField(_ scanner: inout JSONScanner) throws(JSONScanner.Invalid) -> Bool {
        let key = try scanner.scanKey()
        if key.hasEscapes {   // (a key with a lone surrogate is no UTF-8 name)
            return scanner.unescape(key.contents, into: &unescaped) == nil && unescaped == name
        }
        return scanner.bytes[key.contents].elementsEqual(name)
    }

    /// Reads the string at the scanner, decoded: `.string`, or `.loneSurrogate`.
    private mutating func readString(_ scanner: inout JSONScanner) throws(JSONScanner.Invalid) -> Value {
        let string = try scanner.scanString()
        if !string.hasEscapes {
            return .string(String(decoding: UnsafeBufferPointer(rebasing: scanner.bytes[string.contents]), as: UTF8.self))
        }
        if let lone = scanner.unescape(string.contents, into: &unescaped) {
            return .loneSurrogate(String(decoding: UnsafeBufferPointer(rebasing: scanner.bytes[lone]), as: UTF8.self))
        }
        return .string(String(decoding: unescaped, as: UTF8.self))
    }

    /// Checks and passes over one value of any kind, containers and all.
    private mutating func skipValue(_ scanner: inout JSONScanner) throws(JSONScanner.Invalid) {
        containers.removeAll(keepingCapacity: true)
        while true {
            // A value starts here.
            switch scanner.peek {
            case UInt8(ascii: "\""):
                _ = try scanner.scanString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let open = scanner.peek!
                scanner.advance()
                scanner.skipWhitespace()
                if scanner.peek == (open == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    scanner.advance()   // empty: a whole value
                } else {
                    containers.append(open)
                    if open == UInt8(ascii: "{") { _ = try scanner.scanKey() }
                    continue
                }
            case UInt8(ascii: "t"): try scanner.expectWord("true")
            case UInt8(ascii: "f"): try scanner.expectWord("false")
            case UInt8(ascii: "n"): try scanner.expectWord("null")
            case UInt8(ascii: "N"): try scanner.expectWord("NaN")
            default: try scanner.scanNumber()
            }
            // A value ended: close the containers it ends, or go on to the next member.
            while let open = containers.last {
                scanner.skipWhitespace()
                if scanner.peek == UInt8(ascii: ",") {
                    scanner.advance()
                    scanner.skipWhitespace()
                    if open == UInt8(ascii: "{") { _ = try scanner.scanKey() }
                    break
                }
                try scanner.expect(open == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]"))
                containers.removeLast()
            }
            if containers.isEmpty { return }
        }
    }
}

/// A position in a line of JSON and the checks of its tokens.
private struct JSONScanner {
    /// Not JSON.
    struct Invalid: Error {}

    /// Where a string's contents (between its quotes) lie, and whether they hold a backslash escape.
    struct StringToken {
        var contents: Range<Int>
        var hasEscapes: Bool
    }

    let bytes: UnsafeBufferPointer<UInt8>
    private(set) var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// The byte at the position, nil at the end.
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func advance() { index += 1 }

    mutating func skipByteOrderMark() {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { index = 3 }
    }

    /// Passes over JSON's whitespace: space, tab, carriage return, line feed.
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0D, 0x0A: index += 1
            default: return
            }
        }
    }

    mutating func expect(_ byte: UInt8) throws(Invalid) {
        guard peek == byte else { throw Invalid() }
        index += 1
    }

    /// Only whitespace is left.
    mutating func expectEnd() throws(Invalid) {
        skipWhitespace()
        guard index == bytes.count else { throw Invalid() }
    }

    mutating func expectWord(_ word: StaticString) throws(Invalid) {
        let letters = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard bytes.count - index >= letters.count, bytes[index..<(index + letters.count)].elementsEqual(letters) else {
            throw Invalid()
        }
        index += letters.count
    }

    /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, or Python's `Infinity` and `-Infinity`.
    mutating func scanNumber() throws(Invalid) {
        if peek == UInt8(ascii: "-") { index += 1 }
        if peek == UInt8(ascii: "I") { return try expectWord("Infinity") }
        if peek == UInt8(ascii: "0") {
            index += 1
        } else {
            try scanDigits()
        }
        if peek == UInt8(ascii: ".") {
            index += 1
            try scanDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            try scanDigits()
        }
    }

    /// One or more decimal digits.
    private mutating func scanDigits() throws(Invalid) {
        let start = index
        while let byte = peek, byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { index += 1 }
        guard index > start else { throw Invalid() }
    }

    /// Checks and passes over an object's `"key" :` and the whitespace after it; where the key's contents lie.
    mutating func scanKey() throws(Invalid) -> StringToken {
        guard peek == UInt8(ascii: "\"") else { throw Invalid() }
        let key = try scanString()
        skipWhitespace()
        try expect(UInt8(ascii: ":"))
        skipWhitespace()
        return key
    }

    /// Checks the string starting at the position (its opening quote) and passes over it: no raw control character,
    /// only JSON's escapes.
    mutating func scanString() throws(Invalid) -> StringToken {
        index += 1
        let start = index
        var hasEscapes = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return StringToken(contents: start..<(index - 1), hasEscapes: hasEscapes)
            }
            if byte < 0x20 { throw Invalid() }
            if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                try scanEscape()
            } else {
                index += 1
            }
        }
        throw Invalid()   // no closing quote
    }

    /// Passes over the escape at the position (its backslash).
    private mutating func scanEscape() throws(Invalid) {
        guard index + 1 < bytes.count else { throw Invalid() }
        switch bytes[index + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
        case UInt8(ascii: "u"):
            guard jsonUTF16Escape(in: bytes, at: index) != nil else { throw Invalid() }
            index += 6
        default:
            throw Invalid()
        }
    }

    /// The UTF-8 of a string's `contents`, checked by `scanString`, with its escapes decoded, into `out`; or where the
    /// first `\uXXXX` that is a lone surrogate is, which UTF-8 cannot hold.
    func unescape(_ contents: Range<Int>, into out: inout [UInt8]) -> Range<Int>? {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(contents.count)
        var offset = contents.lowerBound
        while offset < contents.upperBound {
            // The bytes up to the next escape, in one copy.
            var end = offset
            while end < contents.upperBound && bytes[end] != UInt8(ascii: "\\") { end += 1 }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
            guard offset < contents.upperBound else { break }
            let kind = bytes[offset + 1]
            offset += 2
            switch kind {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                let escape = (offset - 2)..<(offset + 4)
                var scalar = jsonUTF16Escape(in: bytes, at: escape.lowerBound)!
                if (0xD800...0xDBFF).contains(scalar), let low = jsonUTF16Escape(in: bytes, at: escape.upperBound),
                   (0xDC00...0xDFFF).contains(low) {
                    scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                    offset += 6
                }
                guard let character = Unicode.Scalar(scalar) else { return escape }
                offset += 4
                out.append(contentsOf: character.utf8)
            default: out.append(kind)   // \" \\ \/
            }
        }
        return nil
    }
}
