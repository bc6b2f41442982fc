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
        try write(path: path, config: config, precision: precision) { range, piece in
            parameters[range].withUnsafeBytes { piece.copyMemory(from: $0) }
        }
    }

    /// Writes the parameters for `config` at `path`, atomically, asking `fill(range, buffer)` for them a piece at a time
    /// (fp32 values of elements `range`), so that no whole copy of them is needed. Returns the file's XXH64.
    @discardableResult
    public static func write(path: String, config: ModelConfig, precision: Precision = .float32,
                             parameters fill: (Range<Int>, UnsafeMutableRawBufferPointer) throws -> Void) throws -> UInt64 {
        var header = [Int32](repeating: 0, count: 256)
        header[0] = magic
        header[1] = precision.rawValue
        header[2] = Int32(config.maxSequenceLength)
        header[3] = Int32(config.vocabularySize)
        header[4] = Int32(config.layers)
        header[5] = Int32(config.heads)
        header[6] = Int32(config.channels)
        header[7] = Int32(config.paddedVocabularySize)
        return try AtomicFile.write(path) { sink in
            try sink.write(header)
            try sink.writeFloats(count: config.parameterCount, bfloat16: precision == .bfloat16, fill)
        }
    }

    /// Reads a model file: its config and its parameters as fp32 (see `open` for `checksum`).
    public static func read(path: String, checksum: UInt64? = nil) throws -> (config: ModelConfig, parameters: [Float]) {
        let file = try open(path: path, checksum: checksum)
        var parameters = [Float](repeating: 0, count: file.config.parameterCount)
        try file.readParameters { range, piece in parameters[range].withUnsafeMutableBytes { $0.copyMemory(from: piece) } }
        return (file.config, parameters)
    }

    /// Opens a model file and checks its header and its size, before any parameter is read. `checksum`, the XXH64
    /// recorded for the file (a checkpoint's, `ChecksumList`), is checked once its parameters are read.
    public static func open(path: String, checksum: UInt64? = nil) throws -> OpenFile {
        let source = try FileSource(path: path)
        guard source.size >= 1024 else {
            throw FileError("\(path) is not an llm.c model file: \(source.size) bytes is shorter than its 1024-byte header")
        }
        let header = try source.read(256, of: Int32.self)
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
        guard let expected, source.size == expected else {
            throw FileError("\(path): \(source.size) bytes, but its header (L=\(config.layers), C=\(config.channels), Vp=\(config.paddedVocabularySize)) needs \(expected.map(String.init) ?? "more than any file holds")")
        }
        return OpenFile(config: config, precision: precision, source: source, expectedChecksum: checksum)
    }

    /// A model file whose header has been read and checked; its parameters follow.
    public struct OpenFile: OpenWeightsFile {
        public let config: ModelConfig
        public let precision: Precision
        let source: FileSource
        /// The XXH64 recorded for the file, if one was.
        let expectedChecksum: UInt64?

        /// Reads every parameter, handing them to `put(range, buffer)` a piece at a time as fp32 (bf16 widened exactly);
        /// then throws `DamagedFileError` if the file's bytes are not those its checksum lists (the pieces handed over
        /// are then not the model's).
        public func readParameters(_ put: (Range<Int>, UnsafeRawBufferPointer) throws -> Void) throws {
            try source.readFloats(count: config.parameterCount, bfloat16: precision == .bfloat16, put)
            try ChecksumList.verify(source.path, actual: source.checksumOfBytesRead.digest, expected: expectedChecksum)
        }
    }
}
