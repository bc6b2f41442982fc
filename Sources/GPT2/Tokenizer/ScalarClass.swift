/// The four kinds of character GPT-2's pre-tokenisation regex tells apart: `\p{L}` (General_Category L*),
/// `\p{N}` (N*), `\s` (the Unicode White_Space property, as in Rust's regex crate) and everything else.

enum ScalarClass: UInt8 {
    case letter, number, whitespace, other

    /// The class of a scalar value (any value below 0x110000 that is not a surrogate).
    @inline(__always)
    static func of(_ value: UInt32) -> ScalarClass {
        if value < 0x80 { return ascii(UInt8(value)) }
        if value < 0x1_0000 { return ScalarClass(rawValue: basicPlane[Int(value)])! }
        return computed(value)
    }

    @inline(__always)
    private static func ascii(_ byte: UInt8) -> ScalarClass {
        if byte &- UInt8(ascii: "a") < 26 || byte &- UInt8(ascii: "A") < 26 { return .letter }
        if byte &- UInt8(ascii: "0") < 10 { return .number }
        if byte == 0x20 || byte &- 0x09 < 5 { return .whitespace }
        return .other
    }

    /// Classes of U+0000…U+FFFF, looked up once; the other planes are classified on the fly.
    private static let basicPlane: [UInt8] = (0..<0x1_0000).map { value -> UInt8 in
        (0xD800...0xDFFF).contains(value) ? ScalarClass.other.rawValue : computed(UInt32(value)).rawValue
    }

    /// The Unicode version the classes follow: that of tiktoken 0.14's tables, the reference our ids must equal.
    /// A scalar assigned later counts as unassigned (other), so the ids do not change with the Unicode tables of
    /// the Swift runtime that built the binary (Swift 6.3's are Unicode 17's, and its 4,657 new letters and numbers
    /// would change the pieces around them: U+088F's became one piece with the "'s" after it).
    static let unicodeVersion = (major: 16, minor: 0)

    private static func computed(_ value: UInt32) -> ScalarClass {
        guard let scalar = Unicode.Scalar(value) else { return .other }
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }   // (every White_Space scalar is older than Unicode 16)
        func known(_ kind: ScalarClass) -> ScalarClass {
            guard let age = properties.age, (age.major, age.minor) <= unicodeVersion else { return .other }
            return kind
        }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return known(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            return known(.number)
        default:
            return .other
        }
    }
}

/// Reading scalars out of UTF-8 that is already known to be valid.
enum UTF8Scalar {
    /// The scalar value starting at `index` and its length in bytes.
    @inline(__always)
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (value: UInt32, length: Int) {
        let lead = UInt32(bytes[index])
        if lead < 0x80 { return (lead, 1) }
        if lead < 0xE0 { return ((lead & 0x1F) << 6 | UInt32(bytes[index + 1] & 0x3F), 2) }
        if lead < 0xF0 {
            return ((lead & 0x0F) << 12 | UInt32(bytes[index + 1] & 0x3F) << 6 | UInt32(bytes[index + 2] & 0x3F), 3)
        }
        let value = (lead & 0x07) << 18 | UInt32(bytes[index + 1] & 0x3F) << 12
            | UInt32(bytes[index + 2] & 0x3F) << 6 | UInt32(bytes[index + 3] & 0x3F)
        return (value, 4)
    }
}
