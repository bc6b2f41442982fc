/// Reads documents out of corpus files: a text file is one document, a JSONL file one document per line (a
/// string field, `text` by default). Bad input (missing, empty, invalid UTF-8 or JSON) is a `PrepareError`.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// One input of `gpt2 prepare`.
public enum CorpusInput: Sendable, Equatable, CustomStringConvertible {
    /// The whole file is one document.
    case text(path: String)
    /// The file split at blank lines (`\n\n`), each section one document keeping its separator, as llm.c
    /// prepares tinyshakespeare.
    case blankLineSeparated(path: String)
    /// One JSON object per line; the document is its string field `field`. Blank lines are skipped.
    case jsonLines(path: String, field: String)

    /// `.jsonl`/`.ndjson` files are JSON lines, anything else text.
    public static func detect(path: String, field: String = "text") -> CorpusInput {
        path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson") ? .jsonLines(path: path, field: field) : .text(path: path)
    }

    public var path: String {
        switch self { case .text(let path), .blankLineSeparated(let path), .jsonLines(let path, _): return path }
    }

    public var description: String { path }
}

enum CorpusReader {
    /// The bytes of `path`, which must exist and be non-empty valid UTF-8.
    static func contents(of path: String) throws(PrepareError) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .missingInput(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw .missingInput(path: path, reason: "not a regular file")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        while offset < bytes.count {
            let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + offset, $0.count - offset) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw .missingInput(path: path, reason: "read failed at byte \(offset)") }
            offset += got
        }
        guard !bytes.isEmpty else { throw .emptyInput(path: path) }
        if let bad = firstInvalidUTF8Offset(bytes) { throw .invalidUTF8(path: path, byteOffset: bad) }
        return bytes
    }

    /// The documents of `input`, in file order.
    static func documents(of input: CorpusInput) throws(PrepareError) -> [String] {
        let bytes = try contents(of: input.path)
        switch input {
        case .text:
            return [String(decoding: bytes, as: UTF8.self)]
        case .blankLineSeparated:
            return sections(String(decoding: bytes, as: UTF8.self))
        case .jsonLines(let path, let field):
            return try jsonDocuments(bytes, path: path, field: field)
        }
    }

    private static func jsonDocuments(_ bytes: [UInt8], path: String, field: String) throws(PrepareError) -> [String] {
        let decoder = JSONDecoder()
        decoder.userInfo[DocumentLine.fieldKey] = field
        var documents: [String] = []
        var lineNumber = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            guard line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\t") })
            else { continue }
            do {
                documents.append(try decoder.decode(DocumentLine.self, from: Data(line)).text)
            } catch DecodingError.keyNotFound {
                throw .missingField(path: path, line: lineNumber, field: field)
            } catch DecodingError.typeMismatch {
                throw .missingField(path: path, line: lineNumber, field: field)
            } catch {
                throw .invalidJSON(path: path, line: lineNumber)
            }
        }
        guard !documents.isEmpty else { throw .emptyInput(path: path) }
        return documents
    }

    /// `text` split at each "\n\n"; every section but the last keeps the separator.
    static func sections(_ text: String) -> [String] {
        var sections: [String] = []
        var rest = Substring(text)
        while let range = rest.firstRange(of: "\n\n") {
            sections.append(String(rest[..<range.upperBound]))
            rest = rest[range.upperBound...]
        }
        sections.append(String(rest))
        return sections
    }

    /// Offset of the first byte that does not begin or continue a well-formed UTF-8 sequence (no overlongs,
    /// surrogates or code points above U+10FFFF), or nil when all of `bytes` is valid.
    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let lead = bytes[i]
            if lead < 0x80 { i += 1; continue }
            let length: Int, low: UInt8, high: UInt8  // allowed range of the second byte
            switch lead {
            case 0xC2...0xDF: (length, low, high) = (2, 0x80, 0xBF)
            case 0xE0: (length, low, high) = (3, 0xA0, 0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (length, low, high) = (3, 0x80, 0xBF)
            case 0xED: (length, low, high) = (3, 0x80, 0x9F)
            case 0xF0: (length, low, high) = (4, 0x90, 0xBF)
            case 0xF1...0xF3: (length, low, high) = (4, 0x80, 0xBF)
            case 0xF4: (length, low, high) = (4, 0x80, 0x8F)
            default: return i
            }
            guard i + 1 < n, (low...high).contains(bytes[i + 1]) else { return i }
            for k in 2..<length where i + k >= n || bytes[i + k] & 0xC0 != 0x80 { return i }
            i += length
        }
        return nil
    }
}

/// One JSONL line: only the document field is read; its name comes from the decoder's user info.
private struct DocumentLine: Decodable {
    static let fieldKey = CodingUserInfoKey(rawValue: "gpt2.documentField")!
    let text: String

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let field = decoder.userInfo[Self.fieldKey] as? String ?? "text"
        text = try decoder.container(keyedBy: Key.self).decode(String.self, forKey: Key(stringValue: field))
    }
}
