/// JSON text by hand, without Foundation's encoder: string literals for the JSON gpt2 writes (safetensors headers,
/// `--json` results), and for its readers a key of any name, the value of a `\uXXXX` escape and the test for a JSONL
/// line to skip.

/// `text` as a JSON string literal: quoted, with `"`, `\\` and the control characters escaped.
public func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// A key read by name from a keyed JSON container: every key of an object.
struct JSONKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The value of the JSON escape `\uXXXX` (four hex digits, in either case) at `offset` in `text`, nil when there is none.
func jsonUTF16Escape(in text: UnsafeBufferPointer<UInt8>, at offset: Int) -> UInt32? {
    guard offset >= 0, offset + 6 <= text.count, text[offset] == UInt8(ascii: "\\"), text[offset + 1] == UInt8(ascii: "u") else {
        return nil
    }
    var value: UInt32 = 0
    for byte in text[(offset + 2)..<(offset + 6)] {
        let digit: UInt8
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
        default: return nil
        }
        value = value << 4 | UInt32(digit)
    }
    return value
}

/// Whether a line of a JSONL file holds only spaces, tabs and a carriage return: a line to skip, not an item.
func isBlankLine<Line: Collection<UInt8>>(_ line: Line) -> Bool {
    !line.contains { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\t") }
}
