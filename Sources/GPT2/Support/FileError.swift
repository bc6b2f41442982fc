/// The error of a file operation, naming the file and the reason.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// A file that could not be read or written; the message names it and the reason.
public struct FileError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    static func system(_ action: String, _ path: String) -> FileError {
        FileError("cannot \(action) \(path): \(String(cString: strerror(errno)))")
    }
}
