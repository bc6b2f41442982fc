/// A folder's `checksums.xxh64`: the XXH64 of files beside it, one `HEX  NAME` line each, as `xxhsum` writes them
/// (so `xxhsum -c checksums.xxh64` in the folder checks them too). Checkpoints carry one, and every reader of a
/// checkpoint's file checks the bytes it read against it: a disk or copy error that changes a value is found, not
/// trained on.

public struct ChecksumList {
    public static let fileName = "checksums.xxh64"

    /// Each listed file's name (no folder) and checksum, in the order written.
    public var entries: [(name: String, checksum: UInt64)]

    public init(_ entries: [(name: String, checksum: UInt64)]) { self.entries = entries }

    /// The checksum listed for `name`, nil when it is not listed.
    public func checksum(of name: String) -> UInt64? { entries.first { $0.name == name }?.checksum }

    /// Writes the list into `folder`, atomically.
    public func write(into folder: String) throws {
        let text = entries.map { XXHash64.hex($0.checksum) + "  " + $0.name + "\n" }.joined()
        try AtomicFile.write(FileSystem.join(folder, Self.fileName)) { sink in try sink.write(Array(text.utf8)) }
    }

    /// The list in `folder`; nil when it has none (a checkpoint written before checksums were).
    public static func read(in folder: String) throws -> ChecksumList? {
        let path = FileSystem.join(folder, fileName)
        guard FileSystem.exists(path) else { return nil }
        let text = String(decoding: try ByteFile.contents(ofFile: path), as: UTF8.self)
        var entries: [(name: String, checksum: UInt64)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            let hex = line.prefix(16), name = line.dropFirst(18)
            guard hex.count == 16, let checksum = UInt64(hex, radix: 16), line.dropFirst(16).hasPrefix("  "), !name.isEmpty else {
                throw FileError("\(path) is damaged: line \(number + 1) is not 16 hex digits, two spaces and a file name")
            }
            entries.append((String(name), checksum))
        }
        return ChecksumList(entries)
    }

    /// Throws `DamagedFileError` unless `actual`, the checksum of the bytes read from `path`, is `expected` (nil: not listed).
    public static func verify(_ path: String, actual: UInt64, expected: UInt64?) throws {
        guard let expected, actual != expected else { return }
        throw DamagedFileError(path: path, actual: actual, expected: expected)
    }
}

/// A file whose bytes are not those its folder's `checksums.xxh64` lists: changed on disk, in a copy or by an edit since it
/// was written.
public struct DamagedFileError: Error, CustomStringConvertible {
    public let path: String
    public let actual: UInt64, expected: UInt64

    public var description: String {
        "\(path) is damaged: its bytes (XXH64 \(XXHash64.hex(actual))) are not those written (\(XXHash64.hex(expected)) in "
            + "\(FileSystem.join(FileSystem.directoryName(path), ChecksumList.fileName))): it changed after it was written (on disk, "
            + "in a copy or by an edit)"
    }
}
