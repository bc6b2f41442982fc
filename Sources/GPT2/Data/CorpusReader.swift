/// Reads documents out of corpus files: a text file is one document, a JSONL file one document per line (a
/// string field, `text` by default), both streamed in chunks. Bad input (missing, empty, invalid UTF-8 or JSON) is a
/// `PrepareError`.

/// One input of `gpt2 prepare`.
public enum CorpusInput: Sendable, Equatable, CustomStringConvertible {
    /// The whole file is one document.
    case text(path: String)
    /// The file split at blank lines (`\n\n`), each section one document keeping its separator, as llm.c
    /// prepares tinyshakespeare.
    case blankLineSeparated(path: String)
    /// One JSON object per line; the document is its string field `field`. Blank lines are skipped.
    case jsonLines(path: String, field: String)

    /// `.jsonl`, `.ndjson` and `.json` files (in any case: `DATA.JSONL`) are JSON lines, anything else text. (A `.json`
    /// file is often JSON lines under another name; read as text, its keys and quotes became the corpus. JSON that is
    /// not one object per line is refused at its first line.)
    public static func detect(path: String, field: String = "text") -> CorpusInput {
        let name = FileSystem.baseName(path).lowercased()
        return jsonLinesExtensions.contains { name.hasSuffix($0) } ? .jsonLines(path: path, field: field) : .text(path: path)
    }

    /// The file-name endings of JSON lines inputs.
    public static let jsonLinesExtensions = [".jsonl", ".ndjson", ".json"]

    public var path: String {
        switch self { case .text(let path), .blankLineSeparated(let path), .jsonLines(let path, _): return path }
    }

    /// The path that stands for standard input.
    public static let standardInput = "-"

    /// Whether the input is a stream, read once: standard input, a pipe or a device. It is checked as it is tokenised,
    /// not before.
    public var isStream: Bool { path == Self.standardInput || FileSystem.isStream(path) }

    /// What the input reads (standard input's, for `-`): two streams of one identity are one stream, read once.
    public var identity: FileSystem.Identity? {
        path == Self.standardInput ? FileSystem.identity(ofDescriptor: 0) : FileSystem.identity(of: path)
    }

    public var description: String { path }
}

/// A document, or a part of one: a text file's document comes in parts cut where no token can cross
/// (`GPT2Tokenizer.isIndependentCut`), so that it is read, tokenised on every thread and shown in progress a
/// chunk at a time; the parts' tokens, joined, are the document's.
struct DocumentPart {
    var text: String
    /// Whether this part starts a document (its `<|endoftext|>` goes before it), or goes on with the one before.
    var startsDocument: Bool
}

enum CorpusReader {
    /// Calls `body` with each document of `input`, or part of one, in file order. A JSONL file streams in chunks of
    /// `chunkBytes` (held: a chunk plus the longest line), a text file too (held: a chunk plus the text since its last
    /// safe cut: one long line is held whole), in parts sized for `workers` threads to share. Returns the most bytes
    /// held at once (for a JSONL file, chunk plus unfinished line).
    @discardableResult
    static func forEachPart(of input: CorpusInput, chunkBytes: Int, workers: Int = 1,
                            _ body: (DocumentPart) throws(PrepareError) -> Void) throws(PrepareError) -> Int
    {
        switch input {
        case .text(let path):
            let partBytes = IndependentPartCutter.partBytes(chunkBytes: chunkBytes, workers: workers)
            return try forEachTextPart(path: path, chunkBytes: chunkBytes, partBytes: partBytes, body)
        case .blankLineSeparated(let path):   // (the demo corpus, 1 MB: read whole)
            let file = try CorpusFile(path: path)
            try forEachSection(of: withoutByteOrderMark(try file.text())) { (section) throws(PrepareError) in
                try body(DocumentPart(text: section, startsDocument: true))
            }
            return file.size ?? 0   // (read whole: a file)
        case .jsonLines(let path, let field):
            return try forEachJSONDocument(path: path, field: field, chunkBytes: chunkBytes) { (document) throws(PrepareError) in
                try body(DocumentPart(text: document, startsDocument: true))
            }
        }
    }

    /// The one document of a text file, in parts of `partBytes` or more, cut where the text has safe cuts
    /// (`IndependentPartCutter`), without the byte-order mark. (The mark is always in the first part: no cut follows a
    /// byte of it.)
    private static func forEachTextPart(path: String, chunkBytes: Int, partBytes: Int,
                                        _ body: (DocumentPart) throws(PrepareError) -> Void) throws(PrepareError) -> Int
    {
        let file = try CorpusFile(path: path)
        var validator = UTF8Validator()
        var cutter = IndependentPartCutter(partBytes: partBytes)
        var startsDocument = true, offset = 0
        func emit(_ bytes: ArraySlice<UInt8>) throws(PrepareError) {
            let text = startsDocument && bytes.starts(with: byteOrderMark) ? bytes.dropFirst(byteOrderMark.count) : bytes
            try body(DocumentPart(text: String(decoding: text, as: UTF8.self), startsDocument: startsDocument))
            startsDocument = false
        }
        let total = try file.forEachChunk(chunkBytes: chunkBytes) { (chunk) throws(PrepareError) in
            // (checked again as it is read: the file may have changed since it was checked, and a stream is checked only now)
            try checkText(chunk, at: &offset, of: file, validator: &validator)
            try cutter.append(chunk, emit)
        }
        guard total > 0 else { throw .emptyInput(path: path) }
        if let bad = validator.finish() { throw .invalidUTF8(path: path, byteOffset: bad, leadingBytes: file.leadingBytes()) }
        let rest = cutter.finish()
        if !rest.isEmpty || startsDocument { try emit(rest[...]) }
        return cutter.peakHeldBytes
    }

    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Throws where `chunk`, the next of a text `file` at byte `offset` (moved past it), is not UTF-8 so far or holds a
    /// NUL, which no text has.
    private static func checkText(_ chunk: UnsafeBufferPointer<UInt8>, at offset: inout Int, of file: CorpusFile,
                                  validator: inout UTF8Validator) throws(PrepareError)
    {
        if let bad = validator.validate(chunk) { throw .invalidUTF8(path: file.path, byteOffset: bad, leadingBytes: file.leadingBytes()) }
        if let nul = chunk.firstIndex(of: 0) { throw .nulByte(path: file.path, byteOffset: offset + nul, leadingBytes: file.leadingBytes()) }
        offset += chunk.count
    }

    /// `text` without the byte-order mark an editor may start a UTF-8 file with (JSONL lines drop it too): kept, it would
    /// be three tokens at the start of the document of every such file.
    private static func withoutByteOrderMark(_ text: String) -> String {
        text.unicodeScalars.first == "\u{FEFF}" ? String(text.unicodeScalars.dropFirst()) : text
    }

    /// Checks `input` (exists, non-empty, UTF-8, JSON) reading it in chunks of `chunkBytes`, telling `bytesRead` the size
    /// of each; returns the UTF-8 bytes of its documents.
    static func documentBytes(of input: CorpusInput, chunkBytes: Int, bytesRead: (Int) -> Void = { _ in }) throws(PrepareError) -> Int {
        switch input {
        case .text(let path), .blankLineSeparated(let path):  // the documents are the whole file
            let file = try CorpusFile(path: path)
            var validator = UTF8Validator()
            var offset = 0
            let total = try file.forEachChunk(chunkBytes: chunkBytes) { (chunk) throws(PrepareError) in
                try checkText(chunk, at: &offset, of: file, validator: &validator)
                bytesRead(chunk.count)
            }
            guard total > 0 else { throw .emptyInput(path: path) }
            if let bad = validator.finish() { throw .invalidUTF8(path: path, byteOffset: bad, leadingBytes: file.leadingBytes()) }
            return total
        case .jsonLines(let path, let field):
            var total = 0
            _ = try forEachJSONDocument(path: path, field: field, chunkBytes: chunkBytes, bytesRead: bytesRead) { total += $0.utf8.count }
            return total
        }
    }

    /// The documents of a JSONL file. As when the file was checked whole: invalid UTF-8 anywhere is reported
    /// before a bad line (so the rest is still read for it), and a file without documents is empty. A stream fails at
    /// its first bad line (the rest of it, read for nothing, may never end).
    private static func forEachJSONDocument(path: String, field: String, chunkBytes: Int, bytesRead: (Int) -> Void = { _ in },
                                            _ body: (String) throws(PrepareError) -> Void) throws(PrepareError) -> Int
    {
        let file = try CorpusFile(path: path)
        var validator = UTF8Validator()
        var lines = LineSplitter(path: path)
        var reader = JSONLineReader(path: path, field: field)
        var badLine: PrepareError?
        var documents = 0
        func take(_ line: UnsafeBufferPointer<UInt8>) throws(PrepareError) {
            guard badLine == nil else { return }
            let document: String?
            do { document = try reader.document(in: line) } catch {
                if file.size == nil { throw error }
                badLine = error
                return
            }
            guard let document else { return }
            documents += 1
            try body(document)
        }
        let total = try file.forEachChunk(chunkBytes: chunkBytes) { (chunk) throws(PrepareError) in
            if let bad = validator.validate(chunk) { throw .invalidUTF8(path: path, byteOffset: bad, leadingBytes: file.leadingBytes()) }
            if badLine == nil {
                do throws(PrepareError) { try lines.split(chunk, take) } catch {
                    guard case .lineTooLong = error, file.size != nil else { throw error }
                    badLine = error   // (a file's, said after its UTF-8 is checked, as a bad line is)
                }
            }
            bytesRead(chunk.count)
        }
        guard total > 0 else { throw .emptyInput(path: path) }
        if let bad = validator.finish() { throw .invalidUTF8(path: path, byteOffset: bad, leadingBytes: file.leadingBytes()) }
        try lines.finish(take)
        if let badLine { throw badLine }
        guard documents > 0 else { throw .emptyInput(path: path) }
        return min(chunkBytes, total) + lines.peakPartialBytes
    }

    /// Calls `body` with each section of `text` split at "\n\n"; every section but the last keeps the separator.
    static func forEachSection<E: Error>(of text: String, _ body: (String) throws(E) -> Void) throws(E) {
        var rest = Substring(text)
        while let range = rest.firstRange(of: "\n\n") {
            try body(String(rest[..<range.upperBound]))
            rest = rest[range.upperBound...]
        }
        try body(String(rest))
    }
}

/// Numbers JSONL lines as they come and reads each one's document field.
private struct JSONLineReader {
    let path: String
    let field: String
    private var reader: JSONLineField
    private var lineNumber = 0

    init(path: String, field: String) {
        self.path = path
        self.field = field
        reader = JSONLineField(named: field)
    }

    /// The document on the next line, nil for a blank line; a bad line is `invalidJSON`, `loneSurrogate` or `missingField`.
    mutating func document(in line: UnsafeBufferPointer<UInt8>) throws(PrepareError) -> String? {
        lineNumber += 1
        guard !isBlankLine(line) else { return nil }
        switch reader.value(in: line) {
        case .string(let document): return document
        case .missing: throw .missingField(path: path, line: lineNumber, field: field)
        case .invalid: throw .invalidJSON(path: path, line: lineNumber)
        case .loneSurrogate(let escape): throw .loneSurrogate(path: path, line: lineNumber, escape: escape)
        }
    }
}
