/// The byte↔unicode alphabet GPT-2's vocabulary files are written in: every byte stands for one printable
/// scalar (0x21–0x7E, 0xA1–0xAC and 0xAE–0xFF for themselves, the other 68 bytes for U+0100… in byte order).

enum ByteUnicodeTable {
    /// The scalar value that stands for each byte, indexed by the byte.
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintedAsItself(UInt8(byte)) {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// The byte a scalar stands for, or nil when the scalar is not part of the alphabet.
    static func byte(for scalar: UInt32) -> UInt8? {
        guard scalar < UInt32(byteForScalar.count) else { return nil }
        let byte = byteForScalar[Int(scalar)]
        return byte < 0 ? nil : UInt8(byte)
    }

    private static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 256 + 68)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar)] = Int16(byte) }
        return table
    }()

    private static func isPrintedAsItself(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }
}
