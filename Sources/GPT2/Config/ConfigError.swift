/// A configuration the user gave that cannot work.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ message: String) { description = message }
}
