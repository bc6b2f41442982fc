/// The mark a prepare leaves beside a corpus's shards while it changes them (`NAME.prepare-unfinished` in the
/// output folder): set once the new shards are all written, before they are moved into place, and cleared once they
/// are (or, after a failure, removed whole). A prepare killed in between leaves it, and its shards, which may be a mix
/// of two preparations, are refused by the data loaders until a prepare of that name finishes.

public enum UnfinishedPrepareMark {
    static let suffix = ".prepare-unfinished"

    /// The mark of corpus `name` in `directory`.
    public static func path(directory: String, name: String) -> String { FileSystem.join(directory, name + suffix) }

    /// Sets the mark before a prepare changes `name`'s shards; it holds the command that was preparing them.
    static func set(directory: String, name: String) throws(PrepareError) {
        let command = CommandLine.arguments.map(shellQuoted).joined(separator: " ")
        let text = "A gpt2 prepare began replacing the \(name) shards of this folder and did not finish; data loaders refuse "
            + "them until a prepare of \(name) does.\ncommand: \(command)\n"
        do {
            try AtomicFile.write(path(directory: directory, name: name)) { sink in try sink.write(Array(text.utf8)) }
        } catch {
            throw .cannotMark(path: path(directory: directory, name: name), reason: "\(error)")
        }
    }

    /// Clears the mark once `name`'s shards are complete, or gone.
    static func clear(directory: String, name: String) {
        FileSystem.remove(path(directory: directory, name: name))
    }

    /// The marks in `directory` of the corpora among `shardPaths` (their names from `NAME_split_N.bin`).
    public static func marks(in directory: String, for shardPaths: [String]) -> [String] {
        let names = Set(shardPaths.compactMap { ShardFileName.corpusName(of: FileSystem.baseName($0)) })
        return names.sorted().map { path(directory: directory, name: $0) }.filter(FileSystem.exists)
    }

    /// The command the mark at `path` recorded, if it can be read.
    public static func command(ofMarkAt path: String) -> String? {
        guard let bytes = try? ByteFile.contents(ofFile: path) else { return nil }
        let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("command: ") }
        return line.map { String($0.dropFirst("command: ".count)) }
    }

    /// `argument` as a POSIX shell reads it back: as it is when it needs no quoting, else in single quotes.
    private static func shellQuoted(_ argument: String) -> String {
        let plain = !argument.isEmpty && argument.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0)) }
        return plain ? argument : "'" + argument.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
