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

    /// The list in `folder`, which must list each of `names` (a file left out would go unchecked); nil when there is
    /// none (a checkpoint written before checksums were). Lines are `xxhsum`'s, `HEX  NAME` or `XXH64 (NAME) = HEX`.
    public static func read(in folder: String, listing names: [String]) throws(DamagedChecksumListError) -> ChecksumList? {
        let path = FileSystem.join(folder, fileName)
        guard FileSystem.exists(path) else { return nil }
        func damaged(_ problem: String) -> DamagedChecksumListError {
            DamagedChecksumListError(path: path, problem: problem, names: names)
        }
        // (a FIFO or a folder would hang or fail the read below)
        guard FileSystem.isFile(path) else { throw damaged("it is not a regular file") }
        let bytes: [UInt8]
        do { bytes = try ByteFile.contents(ofFile: path) } catch { throw damaged("it cannot be read (\(error))") }
        var entries: [(name: String, checksum: UInt64)] = []
        for (number, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.isEmpty {
            guard let (name, checksum) = entry(line) else {
                throw damaged("line \(number + 1) is neither `HEX  NAME` nor `XXH64 (NAME) = HEX` (16 hex digits)")
            }
            guard !entries.contains(where: { $0.name == name }) else { throw damaged("it lists \(name) twice") }
            entries.append((name, checksum))
        }
        if let missing = names.first(where: { name in !entries.contains { $0.name == name } }) {
            throw damaged("it lists no checksum for \(missing) (a name with other characters around it, such as a CRLF line end, is another name)")
        }
        return ChecksumList(entries)
    }

    /// The name and checksum of a line in either of `xxhsum`'s formats; nil for anything else.
    private static func entry(_ line: Substring) -> (String, UInt64)? {
        func checksum(_ hex: Substring) -> UInt64? {
            hex.count == 16 && hex.allSatisfy(\.isHexDigit) ? UInt64(hex, radix: 16) : nil
        }
        if line.hasPrefix("XXH64 (") {
            let name = line.dropFirst(7).dropLast(20)
            guard line.dropLast(16).hasSuffix(") = "), !name.isEmpty, let value = checksum(line.suffix(16)) else { return nil }
            return (String(name), value)
        }
        let name = line.dropFirst(18)
        guard line.dropFirst(16).hasPrefix("  "), !name.isEmpty, let value = checksum(line.prefix(16)) else { return nil }
        return (String(name), value)
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
    /// What to read instead, where the reader knows (an earlier checkpoint of the same run).
    public var wayOn: String?

    public var description: String {
        "\(path) is damaged: its bytes (XXH64 \(XXHash64.hex(actual))) are not those written (\(XXHash64.hex(expected)) in "
            + "\(FileSystem.join(FileSystem.directoryName(path), ChecksumList.fileName))): it changed after it was written (on disk, "
            + "in a copy or by an edit)" + (wayOn.map { "; \($0)" } ?? "")
    }
}

/// A checksums.xxh64 that cannot be read, or does not list each file it should: the files themselves may be intact.
public struct DamagedChecksumListError: Error, CustomStringConvertible {
    public let path: String
    /// What is wrong with it.
    public let problem: String
    /// The files it should list.
    let names: [String]

    public var description: String {
        let folder = FileSystem.directoryName(path)
        return "\(path) is damaged: \(problem). The files it checks may be intact: in \(folder), check them with "
            + "`xxhsum -c \(ChecksumList.fileName)`, or, if you know them to be right, write the list again with "
            + "`xxhsum \(names.joined(separator: " ")) > \(ChecksumList.fileName)`"
    }
}
