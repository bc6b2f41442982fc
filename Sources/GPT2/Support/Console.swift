/// Writing to stderr (logs, progress, errors) without Foundation, and small number formatting helpers.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public enum Console {
    /// Writes `text` to stderr, unbuffered.
    public static func log(_ text: String, terminator: String = "\n") {
        let line = text + terminator
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }

    /// Whether stderr is a terminal (progress bars redraw in place only there).
    public static var isInteractive: Bool { isatty(2) != 0 }
}

/// Formats `value` with `digits` decimals, without Foundation's String(format:).
public func formatFixed(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return String(describing: value) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    let sign = value < 0 && rounded != 0 ? "-" : ""
    let whole = Int(rounded / scale)
    guard digits > 0 else { return sign + String(whole) }
    let fraction = Int(rounded - Double(whole) * scale)
    var fractionText = String(fraction)
    while fractionText.count < digits { fractionText = "0" + fractionText }
    return sign + String(whole) + "." + fractionText
}
