/// A decoding failure as one line a user can act on: the field and what is wrong with it (`label must be an
/// integer`, `missing field ctx`, `endings[1] must be a string`), rather than Foundation's CodingKeys dump.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One line saying why JSON did not decode: invalid JSON, or the field (a dotted path, list positions from 0 in
/// brackets) that is missing, null, or of the wrong kind. Given the `json` that failed, a number its field cannot
/// hold (1.5 or 1e30 for an integer), text that is not UTF-8 and a lone surrogate escape, which Foundation all reports as
/// invalid JSON, are told apart from it.
/// Errors other than `DecodingError` are described as they are.
func decodingErrorText(_ error: Error, in json: Data? = nil) -> String {
    guard let error = error as? DecodingError else { return String(describing: error) }
    func field(_ path: [CodingKey], _ last: CodingKey? = nil) -> String {
        (path + (last.map { [$0] } ?? [])).reduce("") { text, key in
            key.intValue.map { text + "[\($0)]" } ?? (text.isEmpty ? key.stringValue : text + "." + key.stringValue)
        }
    }
    switch error {
    case .keyNotFound(let key, let context):
        return "missing field \(field(context.codingPath, key))"
    case .valueNotFound(_, let context):
        return context.codingPath.isEmpty ? "empty (null)" : "\(field(context.codingPath)) is null"
    case .typeMismatch(let type, let context):
        let expected = switch type {
        case is any BinaryInteger.Type: "an integer"
        case is any BinaryFloatingPoint.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        default: String(describing: type).hasPrefix("Array") ? "a list" : "an object"
        }
        return context.codingPath.isEmpty ? "not \(expected)" : "\(field(context.codingPath)) must be \(expected)"
    case .dataCorrupted(let context) where !context.codingPath.isEmpty:
        return "\(field(context.codingPath)): \(context.debugDescription)"
    case .dataCorrupted:
        guard let json else { return "not valid JSON" }
        // (Foundation says only "not valid JSON" of each, and a parse that reads nothing passes the first two)
        let problem = [UInt8](json).withUnsafeBufferPointer { bytes -> String? in
            if let bad = UTF8Validator.firstInvalidOffset(bytes) { return "not UTF-8 text (a byte at offset \(bad) is no character's)" }
            return loneSurrogateEscape(inJSON: bytes).map { "the escape \($0) is half of a UTF-16 surrogate pair without its other half" }
        }
        if let problem { return problem }
        if (try? JSONDecoder().decode(AnyValidJSON.self, from: json)) != nil {
            return "a number its field cannot hold (a fraction where an integer goes, or one out of range)"
        }
        return "not valid JSON"
    @unknown default:
        return String(describing: error)
    }
}

/// Decodes from any JSON that parses (the decoder parses the whole text before decoding starts), reading nothing.
private struct AnyValidJSON: Decodable {
    init(from decoder: any Decoder) {}
}

/// The first `\uXXXX` escape in the JSON text `line` that is a UTF-16 surrogate without its partner (a high one not
/// followed by a low one, or a low one on its own), as written; nil when there is none.
func loneSurrogateEscape(inJSON line: UnsafeBufferPointer<UInt8>) -> String? {
    func unit(at index: Int) -> UInt32? { jsonUTF16Escape(in: line, at: index) }
    var index = 0
    while index < line.count {
        guard line[index] == UInt8(ascii: "\\") else { index += 1; continue }
        guard let value = unit(at: index) else { index += 2; continue }   // another escape (\\, \n, …): its two bytes
        if (0xD800...0xDBFF).contains(value), let next = unit(at: index + 6), (0xDC00...0xDFFF).contains(next) {
            index += 12
        } else if (0xD800...0xDFFF).contains(value) {
            return String(decoding: line[index..<(index + 6)], as: UTF8.self)
        } else {
            index += 6
        }
    }
    return nil
}
