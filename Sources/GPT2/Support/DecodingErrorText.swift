/// A decoding failure as one line a user can act on: the field and what is wrong with it (`label: must be a
/// number`, `missing field ctx`), rather than Foundation's CodingKeys dump.

import Foundation

/// One line saying why JSON did not decode: invalid JSON, or the field (dotted path, list positions as numbers)
/// that is missing, null, or of the wrong kind. Errors other than `DecodingError` are described as they are.
func decodingErrorText(_ error: Error) -> String {
    guard let error = error as? DecodingError else { return String(describing: error) }
    func field(_ path: [CodingKey], _ last: CodingKey? = nil) -> String {
        (path + (last.map { [$0] } ?? [])).map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
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
    case .dataCorrupted(let context):
        return context.codingPath.isEmpty ? "not valid JSON" : "\(field(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return String(describing: error)
    }
}
