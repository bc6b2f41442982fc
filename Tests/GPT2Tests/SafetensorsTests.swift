/// The safetensors reader/writer: exact round trips of F32, exact BF16/F16 widening, and every kind of malformed
/// file (truncated, bad header, wrong sizes, overlapping or uncovered data, hostile sizes) failing with a message.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct SafetensorsTests {
    /// A whole file: 8-byte size, the header text, then `data`.
    private func file(header: String, data: [UInt8], declaredSize: UInt64? = nil) -> [UInt8] {
        let text = Array(header.utf8)
        let size = declaredSize ?? UInt64(text.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: size >> (8 * UInt64($0))) } + text + data
    }

    private func parseError(_ bytes: [UInt8]) -> String? {
        do {
            _ = try SafetensorsFile(bytes: bytes, path: "x.safetensors")
            return nil
        } catch {
            return String(describing: error)
        }
    }

    /// The error of opening `bytes` as a file (`SafetensorsFile(path:)`, which reads the header alone and the tensors
    /// later), with the file named "x.safetensors" as `parseError` names it: the two checks must agree.
    private func headerError(_ bytes: [UInt8]) throws -> String? {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("x.safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            let opened = try SafetensorsFile(path: path), whole = try SafetensorsFile(bytes: bytes, path: path)
            #expect(opened.tensors == whole.tensors && opened.metadata == whole.metadata)
            for name in opened.tensors.keys where [.f32, .bf16, .f16].contains(opened.tensors[name]!.dtype) {
                #expect(try opened.floats(name).map(\.bitPattern) == whole.floats(name).map(\.bitPattern), "\(name)")
            }
            return nil
        } catch {
            return String(describing: error).replacingOccurrences(of: path, with: "x.safetensors")
        }
    }

    @Test func writtenTensorsReadBackBitExactWithMetadata() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("t.safetensors").path
        let a: [Float] = [1, -2.5, .pi, -0.0, .leastNonzeroMagnitude, 1e30]
        let b: [Float] = [7]
        try SafetensorsFile.write(path: path, tensors: [("a \"quoted\"", [2, 3], a), ("b", [1], b), ("empty", [0, 4], [])],
                                  metadata: ["format": "pt"])
        let read = try SafetensorsFile(path: path)
        #expect(read.metadata == ["format": "pt"])
        #expect(read.tensors["a \"quoted\""]?.shape == [2, 3])
        #expect(try read.floats("a \"quoted\"").map(\.bitPattern) == a.map(\.bitPattern))
        #expect(try read.floats("b") == b)
        #expect(try read.floats("empty") == [])
        // The header is padded so the data starts 8-byte aligned, as the reference implementation writes it.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } % 8 == 0)
    }

    @Test func halfPrecisionTensorsWidenExactly() throws {
        // BF16 0x3FC0 = 1.5, 0xC000 = -2; F16 0x3C00 = 1, 0xC000 = -2, 0x0001 = 2^-24, 0x7C00 = inf, 0x8001 = -2^-24,
        // and the quiet NaN 0x7E00, whose payload bit (mantissa 0x200) lands at bit 22: fp32 0x7FC00000, a NaN still.
        let bf16: [UInt8] = [0xC0, 0x3F, 0x00, 0xC0]
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0x00, 0x7C, 0x01, 0x80, 0x00, 0x7E]
        let header = #"{"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"f":{"dtype":"F16","shape":[6],"data_offsets":[4,16]},"i":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}"#
        let bytes = file(header: header, data: bf16 + f16 + [UInt8](repeating: 0, count: 8))
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("h.safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        // from memory, and from the file a tensor at a time
        for parsed in [try SafetensorsFile(bytes: bytes, path: "x"), try SafetensorsFile(path: path)] {
            #expect(try parsed.floats("h") == [1.5, -2])
            #expect(try parsed.floats("f").map(\.bitPattern) == [Float(1), -2, 0x1p-24, .infinity, -0x1p-24].map(\.bitPattern) + [0x7FC0_0000])
            #expect(throws: FileError.self) { try parsed.floats("i") }   // integers are not weights
            #expect(throws: FileError.self) { try parsed.floats("nope") }
        }
    }

    /// Each dtype spans the bytes the safetensors format gives it (its name's bit width / 8): a tensor of 3 of each,
    /// laid end to end, tiles the data section.
    @Test func everyDTypeHasItsSpecifiedSize() throws {
        let sizes = ["BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
                     "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8]
        #expect(Set(SafetensorsFile.DType.allCases.map(\.rawValue)) == Set(sizes.keys))
        var entries: [String] = [], offset = 0
        for (name, size) in sizes.sorted(by: { $0.key < $1.key }) {
            entries.append("\"\(name)\":{\"dtype\":\"\(name)\",\"shape\":[3],\"data_offsets\":[\(offset),\(offset + 3 * size)]}")
            offset += 3 * size
        }
        let parsed = try SafetensorsFile(bytes: file(header: "{" + entries.joined(separator: ",") + "}",
                                                     data: [UInt8](repeating: 0, count: offset)), path: "x")
        for (name, size) in sizes { #expect(parsed.tensors[name]?.range.count == 3 * size, "\(name)") }
    }

    @Test(arguments: [
        // (header, data bytes, declared size override, what the message must say)
        ("{}", 0, UInt64?.none, ""),   // sentinel: valid (an empty file of tensors)
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, nil, "outside"),           // truncated data
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, nil, "cover"),            // trailing bytes
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, nil, "needs 12 bytes"),    // wrong shape
        ("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, nil, "unknown dtype"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, nil, "negative"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8, nil, "overflows"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, nil, "outside"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, nil, "outside"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, nil, "[begin, end]"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, nil, "overlaps"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, nil, "belong to no tensor"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, nil, "unexpected field"),
        ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, nil, "tensor 'a'"),
        ("{\"__metadata__\":{\"format\":1}}", 0, nil, "JSON"),
        ("{\"a\":", 0, nil, "JSON"),
        ("[1,2]", 0, nil, "JSON object"),
        ("{}", 0, 1 << 62, "exceeds"),                 // huge declared header size
        ("{}", 0, 50, "does not fit"),                 // header longer than the file
    ] as [(String, Int, UInt64?, String)])
    func malformedFilesFailWithAMessage(header: String, dataBytes: Int, declared: UInt64?, message: String) throws {
        let bytes = file(header: header, data: [UInt8](repeating: 0, count: dataBytes), declaredSize: declared)
        let error = parseError(bytes)
        #expect(try headerError(bytes) == error, "opening the file, which reads the header alone, checks the same")
        if message.isEmpty {
            #expect(error == nil)
        } else {
            #expect(error?.contains(message) == true, "\(String(describing: error))")
            #expect(error?.contains("x.safetensors") == true)
        }
    }

    @Test func filesShorterThanTheSizeFieldFail() throws {
        for count in 0..<8 {
            #expect(parseError([UInt8](repeating: 0, count: count))?.contains("shorter than") == true)
            #expect(try headerError([UInt8](repeating: 0, count: count))?.contains("shorter than") == true)
        }
    }

    /// Random damage (1–4 bytes overwritten, a quarter of the files also cut short), from a seeded generator so that a
    /// failure reproduces: a file is either refused with a `FileError`, or accepted, and then every tensor reads as
    /// exactly as many values as its shape holds, or, for a dtype the damage made other than a float, fails with a
    /// `FileError`. Both outcomes must occur, or the damage exercised only one side of the parser. Each file is read from
    /// memory and from disk (which reads the header first and each tensor later): both must accept it or both refuse it.
    @Test func randomCorruptionIsRefusedOrReadsWholeTensors() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("t.safetensors").path
        try SafetensorsFile.write(path: path, tensors: [("a", [3], [1, 2, 3]), ("b", [2, 2], [4, 5, 6, 7])], metadata: ["format": "pt"])
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var random = SeededRandom(seed: 7)
        var (accepted, refused, tensorsRead) = (0, 0, 0)
        let damaged = directory.appendingPathComponent("damaged.safetensors").path
        for trial in 0..<500 {
            var bytes = original
            for _ in 0..<(1 + random.nextInt(below: 4)) {
                bytes[random.nextInt(below: bytes.count)] = UInt8(random.nextInt(below: 256))
            }
            if random.nextInt(below: 4) == 0 { bytes.removeLast(random.nextInt(below: bytes.count)) }
            try Data(bytes).write(to: URL(fileURLWithPath: damaged))
            let fromMemory = Result { try SafetensorsFile(bytes: bytes, path: damaged) }
            let fromFile = Result { try SafetensorsFile(path: damaged) }
            guard case .success(let memory) = fromMemory, case .success(let file) = fromFile else {
                // (both refuse; with several faults they may name different ones, found in a dictionary's order)
                for result in [fromMemory, fromFile] {
                    guard case .failure(let error) = result else { Issue.record("trial \(trial): one reader accepts, one refuses"); continue }
                    #expect(error is FileError, "trial \(trial): a \(type(of: error)): \(error)")
                }
                refused += 1
                continue
            }
            accepted += 1
            #expect(memory.tensors == file.tensors, "trial \(trial)")
            for (name, tensor) in memory.tensors {
                let count = tensor.shape.reduce(1, *), isFloat = [.f32, .bf16, .f16].contains(tensor.dtype)
                for source in [memory, file] {
                    do {
                        let values = try source.floats(name)
                        #expect(values.count == count, "trial \(trial): tensor '\(name)' of shape \(tensor.shape) read \(values.count) values")
                        #expect(isFloat, "trial \(trial): tensor '\(name)' of dtype \(tensor.dtype) read as floats")
                        tensorsRead += 1
                    } catch is FileError {
                        #expect(!isFloat, "trial \(trial): tensor '\(name)' (\(tensor.dtype) \(tensor.shape)) of an accepted file cannot be read")
                    } catch {
                        Issue.record("trial \(trial): reading '\(name)' threw a \(type(of: error)): \(error)")
                    }
                }
            }
        }
        #expect(accepted > 0 && refused > 0 && tensorsRead > 0, "accepted \(accepted), refused \(refused), tensors read \(tensorsRead)")
    }
}
