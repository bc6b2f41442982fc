/// Why `gpt2 prepare` could not turn its inputs into shards: each case names the file (and line or byte
/// offset) and says what to do. Bad input in a file is detected before any shard is written, and no failure but one
/// while the new shards are moved into place (`replacementUnfinished`) changes the output folder's shards.

public enum PrepareError: Error, CustomStringConvertible {
    case missingInput(path: String, reason: String)
    case emptyInput(path: String)
    /// `leadingBytes`: the file's first bytes, which may say what it is instead (`NonTextAdvice`).
    case invalidUTF8(path: String, byteOffset: Int, leadingBytes: [UInt8])
    /// A NUL in a text file: valid UTF-8, but no text has one (UTF-16 text without a byte-order mark, a binary file).
    case nulByte(path: String, byteOffset: Int, leadingBytes: [UInt8])
    case invalidJSON(path: String, line: Int)
    /// A `\uD800`-style escape with no partner: valid JSON syntax, but no Unicode character (nothing UTF-8 can hold).
    case loneSurrogate(path: String, line: Int, escape: String)
    case missingField(path: String, line: Int, field: String)
    /// A JSON line longer than `limit` bytes, not held (one without an end grew until memory ran out).
    case lineTooLong(path: String, line: Int, limit: Int)
    /// `defaultFromBytes`: the corpus's bytes, when the validation size was the default taken from them.
    case noTrainingTokens(totalTokens: Int, validationTokens: Int, defaultFromBytes: Int?)
    /// A stream among the inputs and no validation size, whose default comes from the corpus's size.
    case streamNeedsValidationTokens(path: String)
    case cannotCreateDirectory(path: String, reason: String)
    /// Another `gpt2 prepare` holds the output folder.
    case outputInUse(path: String)
    /// A `gpt2 train` or `gpt2 eval` is reading the output folder's shards.
    case outputBeingRead(path: String)
    /// The `UnfinishedPrepareMark` could not be written (no shard is moved into place without it).
    case cannotMark(path: String, reason: String)
    /// A failure while the new shards of `name` replaced the old (a rename or a removal refused): the mark at `mark` is
    /// left, over a mix of the two.
    case replacementUnfinished(reason: String, name: String, mark: String)
    /// A signal asked for a stop while the shards were moved into place, which was finished first: the preparation is
    /// complete, and the process ends as the signal asked (128 + `signal`), so that what comes after it does not run.
    case stoppedOnceComplete(signal: Int32, name: String, directory: String)
    case download(DownloadError)
    case shard(ShardError)

    public var description: String {
        switch self {
        case .missingInput(let path, let reason):
            return "cannot read input \(Self.shown(path)): \(reason)"
        case .emptyInput(let path):
            return "input \(Self.shown(path)) is empty (no documents); remove it from the inputs"
        case .invalidUTF8(let path, let offset, let leadingBytes):
            return "input \(Self.shown(path)) is not valid UTF-8 (first bad byte at offset \(offset)); "
                + NonTextAdvice.advice(leadingBytes: leadingBytes,
                                       otherwise: "convert it to UTF-8 first (e.g. `iconv -f latin1 -t utf-8` for Latin-1 text)")
        case .nulByte(let path, let offset, let leadingBytes):
            return "input \(Self.shown(path)) holds a NUL byte (at offset \(offset)), which text does not; "
                + NonTextAdvice.advice(leadingBytes: leadingBytes, otherwise: "a binary file is no corpus")
        case .invalidJSON(let path, let line):
            return "\(Self.shown(path)):\(line): not a valid JSON object; JSON lines inputs (\(CorpusInput.jsonLinesExtensions.joined(separator: ", "))) "
                + "hold one JSON object per line, not an array or an object over several lines"
        case .loneSurrogate(let path, let line, let escape):
            return "\(Self.shown(path)):\(line): the escape \(escape) is half of a UTF-16 surrogate pair without its other half, which is no "
                + "character; remove or replace it in the file"
        case .missingField(let path, let line, let field):
            return "\(Self.shown(path)):\(line): no string field \"\(field)\"; pick the document field with --field NAME"
        case .lineTooLong(let path, let line, let limit):
            return "\(Self.shown(path)):\(line): a line longer than \(formatBytes(limit)) without a line break; JSON lines inputs hold one "
                + "document per line, and a document this long is more likely a file of another kind"
        case .noTrainingTokens(let total, let validation, let corpusBytes):
            let taken = corpusBytes.map { bytes in
                "the default --val-tokens (its \(bytes) bytes / 40, for GPT-2's ~4 bytes a token; this text has "
                    + "\(formatFixed(Double(bytes) / Double(max(1, total)), digits: 1))) takes"
            } ?? "--val-tokens takes"
            let advice = corpusBytes == nil ? "lower --val-tokens"
                : total >= 2 ? "give --val-tokens, such as \(max(1, total / 10)) (a tenth)"
                : "a corpus of one token cannot be split: give more text, or --val-tokens 0 for no validation split"
            return "the corpus has \(total) tokens and \(taken) \(validation) of them, leaving none to train on (the output folder's "
                + "shards of this name are as they were); " + advice
        case .streamNeedsValidationTokens(let path):
            return "\(Self.shown(path)) is read once, as it is tokenised, so the corpus's size is not known beforehand to take the default "
                + "--val-tokens from; give --val-tokens (such as 10000000 for a corpus of 100M tokens or more, llm.c's FineWeb split)"
        case .cannotCreateDirectory(let path, let reason):
            return "cannot create output directory \(path): "
                + (FileSystem.isFile(path) ? "a file of that name is there; give --out a folder" : reason)
        case .outputInUse(let path):
            return "another gpt2 prepare is writing into \(path); let it finish, or prepare into another --out"
        case .outputBeingRead(let path):
            return "a gpt2 train or eval is reading the shards in \(path), which a prepare would change under it; let it finish "
                + "(or stop it), or prepare into another --out"
        case .cannotMark(let path, let reason):
            return "\(reason) (\(FileSystem.baseName(path)) marks a corpus's shards as unfinished while a prepare replaces them)"
        case .replacementUnfinished(let reason, let name, let mark):
            return "\(reason); the \(name) shards in \(FileSystem.directoryName(mark)) are now part this prepare's and part an earlier "
                + "one's, which train and eval refuse (\(FileSystem.baseName(mark)) says so) until a prepare of \(name) finishes there: "
                + "run it again once the cause is fixed"
        case .stoppedOnceComplete(_, let name, let directory):
            return "stopped as asked, once the new shards of \(name) in \(directory) were in place: that preparation is complete"
        case .download(let error):
            return error.description
        case .shard(let error):
            return error.description
        }
    }

    /// An input's name in a message: standard input (`-`) as `<stdin>`.
    private static func shown(_ path: String) -> String { path == CorpusInput.standardInput ? "<stdin>" : path }
}
