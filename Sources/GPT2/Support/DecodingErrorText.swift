/// A decoding failure as one line a user can act on: the field and what is wrong with it (`label must be an
/// integer`, `missing field ctx`, `endings[1] must be a string`), rather than Foundation's CodingKeys dump.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One line saying why JSON did not decode: invalid JSON, or the field (a dotted path, list positions from 0 in
/// brackets) that is missing, null, or of the wrong kind. Given the `json` that failed, a number its field cannot
/// hold (1.5 or 1e30 for an integer), which Foundation reports as invalid JSON, is told apart from invalid JSON.
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
        if let json, (try? JSONDecoder().decode(AnyValidJSON.self, from: json)) != nil {
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
