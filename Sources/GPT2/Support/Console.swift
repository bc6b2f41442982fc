/// Writing to stderr (logs, progress, errors) without Foundation.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public enum Console {
    /// Writes `text` to stderr, unbuffered; a stderr that cannot take it (closed, full) is left out.
    public static func log(_ text: String, terminator: String = "\n") {
        _ = Array((text + terminator).utf8).withUnsafeBytes { ByteFile.writeFully($0, to: 2) }
    }

    /// Whether stderr is a terminal (progress bars redraw in place only there).
    public static var isInteractive: Bool { isatty(2) != 0 }
}
