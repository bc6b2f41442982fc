/// llm.c model files: fp32 round trips bit for bit with llm.c's header layout, bf16 stores each weight
/// rounded to nearest even (checked against a rounding done here in Double), and bad files give clear errors.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct LLMCModelFileTests {
    /// V = 50 pads to Vp = 128, so the padded rows are exercised too.
    let config = ModelConfig(maxSequenceLength: 8, vocabularySize: 50, layers: 1, heads: 2, channels: 8)

    private func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = try TestPaths.temporaryDirectory("llmc")
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory.path)
    }

    /// Random weights with the awkward values planted at the front: signed zeros, exact bf16 ties with an
    /// even and an odd upper half, the largest finite float (rounds up to infinity), subnormals, infinities.
    private func parameters() -> [Float] {
        var data = TestData(seed: 7)
        var values = data.normal(config.parameterCount, standardDeviation: 0.5)
        let special: [Float] = [0, -0.0, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
                                Float(bitPattern: 0xBF80_8000), Float(bitPattern: 0x3F80_8001), Float(bitPattern: 0x3F80_7FFF),
                                .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
                                Float(bitPattern: 0x0001_8000), .infinity, -.infinity, Float(bitPattern: 0x0001_16C2), 65504, 3.14159265]
        values.replaceSubrange(0..<special.count, with: special)
        return values
    }

    /// Round to nearest, ties to even, at 8 significant bits, computed from distances in Double: the two
    /// bf16 neighbours are the value with its low 16 bits cleared and that plus one bf16 ulp.
    private func bfloat16Reference(_ x: Float) -> Float {
        guard x.isFinite else { return x }
        let bits = x.bitPattern
        let low = bits & 0xFFFF_0000, high = low + 0x1_0000           // same sign; high is farther from 0
        let lowValue = Double(Float(bitPattern: low))
        let highValue = (high & 0x7FFF_FFFF) == 0x7F80_0000
            ? (x < 0 ? -1 : 1) * 0x1p128 : Double(Float(bitPattern: high))  // one ulp past the largest bf16
        let toLow = abs(Double(x) - lowValue), toHigh = abs(highValue - Double(x))
        let roundsUp = toHigh < toLow || (toHigh == toLow && (low >> 16) & 1 == 1)
        return Float(bitPattern: roundsUp ? high : low)
    }

    @Test func float32RoundTripIsBitExactWithLLMCHeader() throws {
        try withDirectory { directory in
            let path = directory + "/model.bin"
            let values = parameters()
            try LLMCModelFile.write(path: path, config: config, parameters: values)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(bytes.count == 1024 + 4 * config.parameterCount)
            let header = bytes.withUnsafeBytes { raw in (0..<256).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self) } }
            #expect(Array(header[0..<8]) == [20240326, 3, 8, 50, 1, 2, 8, 128])
            #expect(header[8...].allSatisfy { $0 == 0 })
            let body = bytes.withUnsafeBytes { raw in (0..<4).map { raw.loadUnaligned(fromByteOffset: 1024 + 4 * $0, as: UInt32.self) } }
            #expect(body == values[0..<4].map(\.bitPattern), "weights follow the header as little-endian fp32")

            let (readConfig, readValues) = try LLMCModelFile.read(path: path)
            #expect(readConfig == config)
            #expect(readValues.map(\.bitPattern) == values.map(\.bitPattern))
        }
    }

    /// A model larger than one streaming piece (`floatStreamPiece` floats) is written and read across piece
    /// boundaries, in both precisions, the same as a small one.
    @Test(arguments: [LLMCModelFile.Precision.float32, .bfloat16])
    func modelLargerThanOnePieceRoundTrips(_ precision: LLMCModelFile.Precision) throws {
        let large = ModelConfig(maxSequenceLength: 16, vocabularySize: 8000, layers: 1, heads: 2, channels: 128)
        #expect(large.parameterCount > floatStreamPiece && large.parameterCount < 2 * floatStreamPiece)
        try withDirectory { directory in
            let path = directory + "/model.bin"
            var data = TestData(seed: 9)
            let values = data.normal(large.parameterCount, standardDeviation: 0.5)
            try LLMCModelFile.write(path: path, config: large, parameters: values, precision: precision)
            let (readConfig, readValues) = try LLMCModelFile.read(path: path)
            #expect(readConfig == large)
            let expected = precision == .float32 ? values : values.map(bfloat16Reference)
            let mismatches = values.indices.filter { readValues[$0].bitPattern != expected[$0].bitPattern }
            #expect(mismatches.isEmpty, "\(mismatches.count) differ, first at \(mismatches.prefix(3))")
        }
    }

    @Test func bfloat16StoresRoundToNearestEven() throws {
        try withDirectory { directory in
            let path = directory + "/model_bf16.bin"
            let values = parameters()
            try LLMCModelFile.write(path: path, config: config, parameters: values, precision: .bfloat16)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(bytes.count == 1024 + 2 * config.parameterCount)
            #expect(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: Int32.self) } == 5)
            let (readConfig, readValues) = try LLMCModelFile.read(path: path)
            #expect(readConfig == config)
            let expected = values.map(bfloat16Reference)
            let mismatches = values.indices.filter { readValues[$0].bitPattern != expected[$0].bitPattern }
            #expect(mismatches.isEmpty, "first: \(mismatches.prefix(5).map { (values[$0], readValues[$0], expected[$0]) })")
            // spot checks of the reference itself
            #expect(expected[2] == 1.0 && expected[3] == Float(bitPattern: 0x3F82_0000), "ties go to even")
            #expect(expected[7] == .infinity && expected[9] == 0 && expected[10].bitPattern == 0x0002_0000)
        }
    }

    @Test func badFilesGiveClearErrors() throws {
        try withDirectory { directory in
            let good = directory + "/good.bin"
            try LLMCModelFile.write(path: good, config: config, parameters: parameters())
            let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
            func variant(_ name: String, _ transform: (inout Data) -> Void) throws -> String {
                var copy = bytes
                transform(&copy)
                let path = directory + "/" + name
                try copy.write(to: URL(fileURLWithPath: path))
                return path
            }
            func setHeader(_ index: Int, _ value: Int32) -> (inout Data) -> Void {
                { data in withUnsafeBytes(of: value) { data.replaceSubrange((4 * index)..<(4 * index + 4), with: $0) } }
            }
            let cases: [(String, String)] = [
                (try variant("magic.bin", setHeader(0, 20240520)), "magic"),
                (try variant("version.bin", setHeader(1, 4)), "version 4"),
                (try variant("short.bin") { $0 = $0.prefix(500) }, "header"),
                (try variant("truncated.bin") { $0 = $0.prefix($0.count - 4) }, "bytes"),
                (try variant("longer.bin") { $0.append(contentsOf: [0, 0, 0, 0]) }, "bytes"),
                (try variant("layers.bin", setHeader(4, 2)), "bytes"),  // header claims more weights than present
                (try variant("heads.bin", setHeader(5, 3)), "multiple of heads"),
                (directory + "/missing.bin", "missing.bin"),
            ]
            for (path, phrase) in cases {
                // a FileError for bad content, a ByteFileError for an unreadable file: either names the file
                let thrown = try #require(throws: (any Error).self) { try LLMCModelFile.read(path: path) }
                let error = String(describing: thrown)
                #expect(error.contains(path) || error.contains(phrase), "\(error)")
                #expect(error.localizedCaseInsensitiveContains(phrase), "\(path): \(error)")
                #expect(error.contains(path), "the message names the file: \(error)")
            }
        }
    }
}
