/// The safetensors format (Hugging Face): an 8-byte little-endian header size N, N bytes of JSON
/// (`name → {dtype, shape, data_offsets}` plus an optional `__metadata__` of string → string), then the data.
/// The reader is strict: every size, offset and shape is checked before a byte is touched, so a hostile or
/// damaged file gives a clear error, never a crash.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public struct SafetensorsFile {
    /// Element types the format names, with their sizes in bytes.
    public enum DType: String, Sendable, CaseIterable {
        case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
        case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
        case i32 = "I32", u32 = "U32", f32 = "F32"
        case i64 = "I64", u64 = "U64", f64 = "F64"

        public var size: Int {
            switch self {
            case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
            case .i16, .u16, .f16, .bf16: return 2
            case .i32, .u32, .f32: return 4
            case .i64, .u64, .f64: return 8
            }
        }
    }

    /// One tensor's entry: its type, shape, and byte range within the data section.
    public struct Tensor: Sendable, Equatable {
        public var dtype: DType
        public var shape: [Int]
        public var range: Range<Int>
    }

    /// Largest header accepted (the reference implementation's limit).
    public static let maximumHeaderSize = 100_000_000

    public let path: String
    public let tensors: [String: Tensor]
    public let metadata: [String: String]
    /// Where the bytes are: the open file (each tensor is read when asked for), or a whole file given in memory.
    private let source: Source
    /// Where the data section starts in the file.
    private let dataStart: Int

    private enum Source {
        case file(FileSource)
        case memory([UInt8])
    }

    /// Opens `path` and validates its header against the file's size; the tensors' data is read from the file
    /// when `floats` asks for it, one tensor at a time, so the file never sits in memory whole.
    public init(path: String) throws {
        let file = try FileSource(path: path)
        let headerSize = try Self.headerSize(declaredBy: try file.read(min(8, file.size), of: UInt8.self), fileSize: file.size, path: path)
        let parsed = try Self.parseHeader(try file.read(headerSize, of: UInt8.self), dataSize: file.size - 8 - headerSize, path: path)
        (self.path, self.tensors, self.metadata) = (path, parsed.tensors, parsed.metadata)
        (source, dataStart) = (.file(file), 8 + headerSize)
    }

    /// Parses and validates a whole file's `bytes` (`path` names it in errors).
    public init(bytes: [UInt8], path: String) throws {
        let headerSize = try Self.headerSize(declaredBy: Array(bytes.prefix(8)), fileSize: bytes.count, path: path)
        let parsed = try Self.parseHeader(Array(bytes[8..<(8 + headerSize)]), dataSize: bytes.count - 8 - headerSize, path: path)
        (self.path, self.tensors, self.metadata) = (path, parsed.tensors, parsed.metadata)
        (source, dataStart) = (.memory(bytes), 8 + headerSize)
    }

    /// Tensor `name` as fp32 values (F32, BF16 and F16 convert exactly); throws if it is missing or not a float.
    public func floats(_ name: String) throws -> [Float] {
        guard let tensor = tensors[name] else { throw FileError("\(path) has no tensor '\(name)'") }
        let count = tensor.shape.reduce(1, *)
        let range = (dataStart + tensor.range.lowerBound)..<(dataStart + tensor.range.upperBound)
        if tensor.dtype == .f32 {   // (straight into the floats: converting one by one from a copy was a sixth of a load)
            var floats = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                try copy(range, into: UnsafeMutableRawBufferPointer(buffer))
                initialized = count
            }
            if UInt32(littleEndian: 1) != 1 {   // (the file's little-endian bytes, on a big-endian machine)
                for i in floats.indices { floats[i] = Float(bitPattern: UInt32(littleEndian: floats[i].bitPattern)) }
            }
            return floats
        }
        let bytes = try [UInt8](unsafeUninitializedCapacity: range.count) { buffer, initialized in
            try copy(range, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = range.count
        }
        return try bytes.withUnsafeBytes { body -> [Float] in
            switch tensor.dtype {
            case .bf16:
                return (0..<count).map { BFloat16Bits(bits: UInt16(littleEndian: body.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))).float }
            case .f16:
                return (0..<count).map { halfToFloat(UInt16(littleEndian: body.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) }
            default:
                throw FileError("\(path): tensor '\(name)' has dtype \(tensor.dtype.rawValue); only F32, BF16 and F16 weights can be loaded")
            }
        }
    }

    /// Copies bytes `range` of the file into `buffer`, which holds exactly as many.
    private func copy(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
        switch source {
        case .memory(let whole): whole.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[range])) }
        case .file(let file): try file.read(at: range.lowerBound, into: buffer)
        }
    }

    /// Writes fp32 tensors, in the given order, with `metadata`, atomically. Names must be unique.
    public static func write(path: String, tensors: [(name: String, shape: [Int], values: [Float])],
                             metadata: [String: String]) throws {
        try AtomicFile.write(path, writer(tensors: tensors, metadata: metadata))
    }

    /// What `write` writes, for `AtomicFile` (which may write it together with other files).
    static func writer(tensors: [(name: String, shape: [Int], values: [Float])],
                       metadata: [String: String]) -> (inout FileSink) throws -> Void {
        precondition(Set(tensors.map(\.name)).count == tensors.count, "duplicate tensor names")
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            entries.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for tensor in tensors {
            precondition(tensor.shape.reduce(1, *) == tensor.values.count, "shape does not match values for \(tensor.name)")
            let end = offset + tensor.values.count * 4
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(tensor.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }   // aligns the data, as safetensors does
        return { [header] sink in
            try sink.write([UInt64(header.count).littleEndian])
            try sink.write(header)
            for tensor in tensors { try sink.write(tensor.values) }
        }
    }

    // MARK: - Details

    private static func failure(_ path: String, _ message: String) -> FileError {
        FileError("\(path) is not a valid safetensors file: \(message)")
    }

    /// N, from the file's first 8 bytes: the JSON header's size, which must fit in the file after them.
    private static func headerSize(declaredBy first: [UInt8], fileSize: Int, path: String) throws -> Int {
        guard first.count == 8 else { throw failure(path, "\(fileSize) bytes is shorter than the 8-byte header size") }
        var declared: UInt64 = 0
        for i in 0..<8 { declared |= UInt64(first[i]) << (8 * UInt64(i)) }
        guard declared <= UInt64(maximumHeaderSize) else {
            throw failure(path, "declared header size \(declared) exceeds the \(maximumHeaderSize)-byte limit")
        }
        let headerSize = Int(declared)
        guard headerSize >= 2, 8 + headerSize <= fileSize else {
            throw failure(path, "declared header size \(headerSize) does not fit in the file's \(fileSize) bytes")
        }
        return headerSize
    }

    /// The entries of a JSON `header`, each checked against a data section of `dataSize` bytes, which they must tile.
    private static func parseHeader(_ header: [UInt8], dataSize: Int, path: String) throws
        -> (tensors: [String: Tensor], metadata: [String: String]) {
        func fail(_ message: String) -> FileError { failure(path, message) }
        guard header.first == UInt8(ascii: "{") else { throw fail("the header does not start with a JSON object") }
        let parsed: Header
        do {
            parsed = try JSONDecoder().decode(Header.self, from: Data(header))
        } catch let error as HeaderError {
            throw fail(error.message)
        } catch {
            throw fail("the header is not valid JSON of the expected shape (\(decodingErrorText(error)))")
        }
        var tensors: [String: Tensor] = [:]
        for (name, entry) in parsed.tensors {
            guard let dtype = DType(rawValue: entry.dtype) else { throw fail("tensor '\(name)' has unknown dtype '\(entry.dtype)'") }
            guard entry.shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor '\(name)' has a negative dimension in \(entry.shape)") }
            var elements = 1
            for dimension in entry.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw fail("tensor '\(name)' shape \(entry.shape) overflows") }
                elements = product
            }
            let (byteCount, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
            guard !overflow else { throw fail("tensor '\(name)' shape \(entry.shape) overflows") }
            guard entry.offsets.count == 2 else { throw fail("tensor '\(name)' data_offsets must be [begin, end]") }
            let (begin, end) = (entry.offsets[0], entry.offsets[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw fail("tensor '\(name)' data_offsets [\(begin), \(end)] lie outside the \(dataSize)-byte data section")
            }
            guard end - begin == byteCount else {
                throw fail("tensor '\(name)' (\(entry.dtype) \(entry.shape)) needs \(byteCount) bytes but its data_offsets span \(end - begin)")
            }
            tensors[name] = Tensor(dtype: dtype, shape: entry.shape, range: begin..<end)
        }
        // The tensors must tile the data section exactly: no gaps, no overlaps, nothing left over.
        var covered = 0
        for (name, tensor) in tensors.sorted(by: { ($0.value.range.lowerBound, $0.value.range.upperBound, $0.key) < ($1.value.range.lowerBound, $1.value.range.upperBound, $1.key) }) {
            guard tensor.range.lowerBound == covered else {
                throw fail(tensor.range.lowerBound < covered
                           ? "tensor '\(name)' overlaps another tensor's bytes (starts at \(tensor.range.lowerBound), before \(covered))"
                           : "bytes \(covered)..<\(tensor.range.lowerBound) of the data section belong to no tensor")
            }
            covered = tensor.range.upperBound
        }
        guard covered == dataSize else { throw fail("the data section has \(dataSize) bytes but the tensors cover \(covered)") }
        return (tensors, parsed.metadata)
    }

    private struct HeaderError: Error { var message: String }

    private struct Entry: Decodable {
        var dtype: String
        var shape: [Int]
        var offsets: [Int]

        enum CodingKeys: String, CodingKey { case dtype, shape, offsets = "data_offsets" }

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: JSONKey.self)
            let allowed: Set<String> = ["dtype", "shape", "data_offsets"]
            if let extra = container.allKeys.first(where: { !allowed.contains($0.stringValue) }) {
                throw HeaderError(message: "unexpected field '\(extra.stringValue)' in a tensor entry")
            }
            let keyed = try decoder.container(keyedBy: CodingKeys.self)
            dtype = try keyed.decode(String.self, forKey: .dtype)
            shape = try keyed.decode([Int].self, forKey: .shape)
            offsets = try keyed.decode([Int].self, forKey: .offsets)
        }
    }

    private struct Header: Decodable {
        var tensors: [String: Entry] = [:]
        var metadata: [String: String] = [:]

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: JSONKey.self)
            for key in container.allKeys {
                if key.stringValue == "__metadata__" {
                    metadata = try container.decode([String: String].self, forKey: key)
                } else {
                    do {
                        tensors[key.stringValue] = try container.decode(Entry.self, forKey: key)
                    } catch let error as HeaderError {
                        throw HeaderError(message: "tensor '\(key.stringValue)': \(error.message)")
                    } catch {
                        throw HeaderError(message: "tensor '\(key.stringValue)' is not a {dtype, shape, data_offsets} entry (\(decodingErrorText(error)))")
                    }
                }
            }
        }
    }
}

/// IEEE half-precision bits → Float (exact).
func halfToFloat(_ bits: UInt16) -> Float {
    let sign: UInt32 = UInt32(bits >> 15) << 31
    let exponent = Int(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    if exponent == 0 {
        let magnitude = Float(mantissa) * 0x1p-24   // subnormal (or zero)
        return sign != 0 ? -magnitude : magnitude
    }
    return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
}
