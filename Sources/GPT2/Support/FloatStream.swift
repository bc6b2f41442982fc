/// Long fp32 vectors moved between a file and memory a bounded piece at a time, so that saving or loading a
/// model or its optimizer state never holds a second whole copy of it (for d12, 475 MiB per vector).
/// In the file the floats are little-endian fp32, or bf16 (the top 16 bits, rounded to nearest even); fp32
/// moves as it is, without a pass over every value.

#if _endian(big)
#error("model and checkpoint files are little-endian, and fp32 vectors are written and read as they lie in memory")
#endif

/// Floats per piece: 4 MiB of fp32.
public let floatStreamPiece = 1 << 20

extension FileSink {
    /// Appends `count` floats, asking `fill(range, buffer)` for each piece: elements `range` as range.count fp32
    /// values in `buffer`.
    public mutating func writeFloats(count: Int, bfloat16: Bool = false,
                                     _ fill: (Range<Int>, UnsafeMutableRawBufferPointer) throws -> Void) throws {
        let piece = UnsafeMutableBufferPointer<Float>.allocate(capacity: min(count, floatStreamPiece))
        defer { piece.deallocate() }
        for start in stride(from: 0, to: count, by: floatStreamPiece) {
            let values = UnsafeMutableBufferPointer(rebasing: piece[0..<min(floatStreamPiece, count - start)])
            try fill(start..<(start + values.count), UnsafeMutableRawBufferPointer(values))
            if bfloat16 {
                try write(values.map { BFloat16Bits(rounding: $0).bits })
            } else {
                try write(UnsafeRawBufferPointer(values))
            }
        }
    }
}

extension FileSource {
    /// Reads the next `count` floats (bf16 ones widened exactly), handing each piece to `put(range, buffer)`:
    /// elements `range` as range.count fp32 values in `buffer`.
    public func readFloats(count: Int, bfloat16: Bool = false,
                           _ put: (Range<Int>, UnsafeRawBufferPointer) throws -> Void) throws {
        let piece = UnsafeMutableBufferPointer<Float>.allocate(capacity: min(count, floatStreamPiece))
        defer { piece.deallocate() }
        for start in stride(from: 0, to: count, by: floatStreamPiece) {
            let values = UnsafeMutableBufferPointer(rebasing: piece[0..<min(floatStreamPiece, count - start)])
            if bfloat16 {
                let bits = try read(values.count, of: UInt16.self)
                for i in values.indices { values[i] = BFloat16Bits(bits: bits[i]).float }
            } else {
                try read(UnsafeMutableRawBufferPointer(values))
            }
            try put(start..<(start + values.count), UnsafeRawBufferPointer(values))
        }
    }
}
