/// `gpt2 tokenize`: GPT-2 token ids of a text (a file or stdin), one per line or as a JSON array, and back
/// from ids to bytes with `--decode`; `--stats` reports bytes, tokens and speed on stderr.

import ArgumentParser
import GPT2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode text to GPT-2 token ids, or decode ids back to text.",
        discussion: """
            The ids are exactly those of tiktoken's "gpt2" encoding (encode_ordinary: the text \
            "<|endoftext|>" is encoded as ordinary text). Ids go to stdout, everything else to stderr.
            The text is read, and its ids written, 8 MiB at a time: a text of any size takes little memory (one \
            without safe cuts, no line ending right after a letter, digit or punctuation mark, is held whole). \
            Invalid UTF-8 is an error (a non-zero exit status); past the first 8 MiB it is found after the ids of the \
            text before it were written, and the message says how many bytes those were.
            The tokenizer files come from --vocab-dir DIR, from DIR/gpt2/ with --mirror DIR or \
            GPT2_DATA_MIRROR=DIR, or are downloaded once from OpenAI into the cache.

            Examples:
              gpt2 tokenize --mirror ~/gpt2-data notes.txt         # one id per line
              echo "Hello world" | gpt2 tokenize --vocab-dir ~/gpt2-data/gpt2 --json
              export GPT2_DATA_MIRROR=~/gpt2-data
              gpt2 tokenize --json notes.txt | gpt2 tokenize --decode > roundtrip.txt
              gpt2 tokenize --stats --threads 1 big.txt > /dev/null  # bytes, tokens, MB/s
            """)

    @Argument(help: "The text file to read (UTF-8); standard input when omitted or -.")
    var file: String?

    @Flag(help: "Print the ids as one JSON array instead of one per line.")
    var json = false

    @Flag(help: "Read token ids (a JSON array or whitespace-separated) and write the bytes they stand for.")
    var decode = false

    @Flag(help: "Print bytes, tokens, time and MB/s to stderr.")
    var stats = false

    @Option(help: "Encoding threads (0: one per core). A long text is cut where cuts cannot change the ids.")
    var threads = 0

    @Option(help: ArgumentHelp("Folder holding encoder.json and vocab.bpe.", valueName: "dir"))
    var vocabDir: String?

    @OptionGroup var dataSource: DataSourceOptions

    /// The file to read, or nil for standard input (no file, or -).
    private var inputPath: String? { file == "-" ? nil : file }

    func validate() throws {
        try WorkerThreads.require(threads)
        if file == "" { throw ValidationError("the file to read is an empty path (omit it, or give -, to read standard input)") }
        // --json formats ids; decoded text is written as it is.
        if decode && json { throw ValidationError("--json formats the ids that encoding prints; --decode prints text, so give one of them") }
    }

    /// The bytes of text read at a time: ids are written chunk by chunk, so a long text is never held whole (only the
    /// text since its last safe cut, `IndependentPartCutter`, is), as `gpt2 prepare` reads one.
    static let chunkBytes = 8 << 20

    func run() throws {
        let tokenizer = try vocabDir.map { try GPT2Tokenizer(directory: $0) } ?? dataSource.tokenizer()
        if decode {
            let input = try inputPath.map { try ByteFile.contents(ofFile: $0) } ?? ByteFile.standardInput()
            let ids = try TokenIDList.parse(input)
            let bytes = try tokenizer.decode(ids)
            try ByteFile.writeAll(bytes, to: 1)
            if stats { Console.log("\(ids.count) tokens, \(bytes.count) bytes") }
            return
        }
        let (bytes, tokens, seconds) = try encode(with: tokenizer)
        if stats {
            let megabytesPerSecond = Double(bytes) / 1e6 / max(seconds, 1e-9)
            Console.log(
                "\(bytes) bytes, \(tokens) tokens, \(formatFixed(seconds, digits: 3)) s, "
                    + "\(formatFixed(megabytesPerSecond, digits: 2)) MB/s")
        }
    }

    /// Reads the text a chunk at a time and writes the ids of the parts each completes; returns the bytes read, the ids
    /// written and the seconds spent encoding (checking and cutting the text included, reading and writing not).
    private func encode(with tokenizer: GPT2Tokenizer) throws -> (bytes: Int, tokens: Int, seconds: Double) {
        let clock = ContinuousClock()
        var encoding = Duration.zero
        let workers = WorkerThreads.count(threads)
        var encoder = StreamingEncoder(tokenizer: tokenizer, threads: workers,
                                       partBytes: IndependentPartCutter.partBytes(chunkBytes: Self.chunkBytes, workers: workers))
        var writer = TokenIDWriter(json: json)
        func write(_ encode: () throws -> [[Int]]) throws {
            var parts: [[Int]] = []
            encoding += try clock.measure { parts = try encode() }
            for ids in parts { try writer.write(ids) }
        }
        let bytes: Int
        do {
            bytes = try ByteFile.forEachChunk(ofFile: inputPath, chunkBytes: Self.chunkBytes) { chunk in
                try write { try encoder.ids(appending: chunk) }
            }
            try write { try encoder.finish() }
        } catch let error as TokenizerError {   // (the bad byte's offset is in this file, or in standard input)
            // Found in a later chunk, it comes after the ids of the text up to that chunk's held part were written.
            let written = encoder.encodedBytes == 0 ? "" : "; the ids of its first \(encoder.encodedBytes) bytes were "
                + "written already: the output is incomplete"
            throw FileError("\(inputPath ?? "standard input"): \(error)\(written)")
        }
        try writer.finish()
        return (bytes, writer.count, encoding / .seconds(1))
    }

    /// A bad input or setting found while running, with the message to show.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
