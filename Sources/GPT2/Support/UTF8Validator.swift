/// Checks UTF-8 as it streams past in chunks of any size, finding the same first bad byte a check of the whole
/// file at once would: well-formed sequences only (no overlongs, surrogates or code points above U+10FFFF).

struct UTF8Validator {
    /// The start of a sequence cut by the end of the last chunk (at most 3 bytes).
    private var pending: [UInt8] = []
    /// Bytes seen so far.
    private var position = 0

    /// Offset of the first byte that does not begin or continue a well-formed sequence in `bytes`, or nil.
    static func firstInvalidOffset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var validator = UTF8Validator()
        return validator.validate(bytes) ?? validator.finish()
    }

    /// Stream offset of the first bad byte in `chunk` or in a sequence it completes, or nil when all is well
    /// so far (a sequence cut by the chunk's end is judged with the next chunk).
    mutating func validate(_ chunk: UnsafeBufferPointer<UInt8>) -> Int? {
        defer { position += chunk.count }
        var i = 0
        if !pending.isEmpty {
            let head = pending + chunk.prefix(4 - pending.count)
            switch head.withUnsafeBufferPointer({ Self.check($0, at: 0) }) {
            case .invalid: return position - pending.count
            case .truncated: pending = head; return nil  // the whole chunk is in `head`
            case .valid(let length): i = length - pending.count; pending.removeAll()
            }
        }
        let n = chunk.count
        while i < n {
            if chunk[i] < 0x80 { i += 1; continue }
            switch Self.check(chunk, at: i) {
            case .valid(let length): i += length
            case .invalid: return position + i
            case .truncated: pending = Array(chunk[i...]); return nil
            }
        }
        return nil
    }

    /// Stream offset of a sequence the stream ended inside, or nil.
    func finish() -> Int? { pending.isEmpty ? nil : position - pending.count }

    /// How many bytes at the end of `bytes` are the well-formed start of a sequence that more bytes could complete (0…3).
    static func truncatedTailLength(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        for start in stride(from: bytes.count - 1, through: max(0, bytes.count - 3), by: -1) {
            if case .truncated = check(bytes, at: start) { return bytes.count - start }
        }
        return 0
    }

    private enum Sequence { case valid(length: Int), invalid, truncated }

    /// The sequence starting at `bytes[i]`: well-formed, ill-formed, or a well-formed start cut by the end.
    private static func check(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Sequence {
        let lead = bytes[i]
        if lead < 0x80 { return .valid(length: 1) }
        let length: Int, low: UInt8, high: UInt8  // allowed range of the second byte
        switch lead {
        case 0xC2...0xDF: (length, low, high) = (2, 0x80, 0xBF)
        case 0xE0: (length, low, high) = (3, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, low, high) = (3, 0x80, 0xBF)
        case 0xED: (length, low, high) = (3, 0x80, 0x9F)
        case 0xF0: (length, low, high) = (4, 0x90, 0xBF)
        case 0xF1...0xF3: (length, low, high) = (4, 0x80, 0xBF)
        case 0xF4: (length, low, high) = (4, 0x80, 0x8F)
        default: return .invalid
        }
        guard i + 1 < bytes.count else { return .truncated }
        guard (low...high).contains(bytes[i + 1]) else { return .invalid }
        for k in 2..<length {
            guard i + k < bytes.count else { return .truncated }
            guard bytes[i + k] & 0xC0 == 0x80 else { return .invalid }
        }
        return .valid(length: length)
    }
}
