/// llm.c's GPT-2 model file: a 256 × int32 header (magic 20240326, version 3 = fp32 or 5 = bf16,
/// maxT, V, L, NH, C, Vp) followed by every parameter in llm.c's order. Files load here as they are.

public enum LLMCModelFile {
    public static let magic: Int32 = 20240326

    public enum Precision: Int32, Sendable {
        case float32 = 3
        case bfloat16 = 5
    }

    /// Writes `parameters` (config.parameterCount floats) for `config` at `path`, atomically.
    public static func write(path: String, config: ModelConfig, parameters: [Float], precision: Precision = .float32) throws {
        precondition(parameters.count == config.parameterCount, "parameter count mismatch")
        var header = [Int32](repeating: 0, count: 256)
        header[0] = magic
        header[1] = precision.rawValue
        header[2] = Int32(config.maxSequenceLength)
        header[3] = Int32(config.vocabularySize)
        header[4] = Int32(config.layers)
        header[5] = Int32(config.heads)
        header[6] = Int32(config.channels)
        header[7] = Int32(config.paddedVocabularySize)
        try AtomicFile.write(path) { sink in
            try sink.write(header)
            switch precision {
            case .float32: try sink.write(parameters)
            case .bfloat16: try sink.write(parameters.map(BFloat16Bits.init(rounding:)).map(\.bits))
            }
        }
    }

    /// Reads a model file: its config and its parameters as fp32.
    public static func read(path: String) throws -> (config: ModelConfig, parameters: [Float]) {
        let bytes = try ByteFile.contents(ofFile: path)
        guard bytes.count >= 1024 else {
            throw FileError("\(path) is not an llm.c model file: \(bytes.count) bytes is shorter than its 1024-byte header")
        }
        let header = bytes.withUnsafeBytes { raw in (0..<8).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) } }
        guard header[0] == magic else {
            throw FileError("\(path) is not an llm.c model file (magic \(header[0]), expected \(magic))")
        }
        guard let precision = Precision(rawValue: header[1]) else {
            throw FileError("\(path): unsupported llm.c model version \(header[1]) (3 = fp32 and 5 = bf16 are supported)")
        }
        var config = ModelConfig(maxSequenceLength: Int(header[2]), vocabularySize: Int(header[3]),
                                 layers: Int(header[4]), heads: Int(header[5]), channels: Int(header[6]))
        config.paddedVocabularySize = Int(header[7])
        do { try config.validate() } catch { throw FileError("\(path): bad model header: \(error)") }
        let elementSize = precision == .float32 ? 4 : 2
        let expected: Int? = config.checkedParameterCount.flatMap { count in
            let (body, overflow) = count.multipliedReportingOverflow(by: elementSize)
            return overflow || body > Int.max - 1024 ? nil : 1024 + body
        }
        guard let expected, bytes.count == expected else {
            throw FileError("\(path): \(bytes.count) bytes, but its header (L=\(config.layers), C=\(config.channels), Vp=\(config.paddedVocabularySize)) needs \(expected.map(String.init) ?? "more than any file holds")")
        }
        let parameters: [Float] = bytes.withUnsafeBytes { raw in
            let body = UnsafeRawBufferPointer(rebasing: raw[1024...])
            switch precision {
            case .float32:
                return (0..<config.parameterCount).map { Float(bitPattern: UInt32(littleEndian: body.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            case .bfloat16:
                return (0..<config.parameterCount).map { BFloat16Bits(bits: UInt16(littleEndian: body.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))).float }
            }
        }
        return (config, parameters)
    }
}
