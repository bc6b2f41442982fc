/// Writing to stderr (logs, progress, errors) without Foundation.

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
