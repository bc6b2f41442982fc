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

    func run() throws {
        let tokenizer = try vocabDir.map { try GPT2Tokenizer(directory: $0) } ?? dataSource.tokenizer()
        let input = try inputPath.map { try ByteFile.contents(ofFile: $0) } ?? ByteFile.standardInput()
        if decode {
            let ids = try TokenIDList.parse(input)
            let bytes = try tokenizer.decode(ids)
            try ByteFile.writeAll(bytes, to: 1)
            if stats { Console.log("\(ids.count) tokens, \(bytes.count) bytes") }
            return
        }
        let clock = ContinuousClock()
        let start = clock.now
        let ids: [Int]
        do {
            ids = try encode(input, with: tokenizer)
        } catch let error as TokenizerError {   // (the bad byte's offset is in this file, or in standard input)
            throw FileError("\(inputPath ?? "standard input"): \(error)")
        }
        let seconds = (clock.now - start) / .seconds(1)
        try ByteFile.writeAll(json ? TokenIDList.json(ids) : TokenIDList.lines(ids), to: 1)
        if stats {
            let megabytesPerSecond = Double(input.count) / 1e6 / max(seconds, 1e-9)
            Console.log(
                "\(input.count) bytes, \(ids.count) tokens, \(formatFixed(seconds, digits: 3)) s, "
                    + "\(formatFixed(megabytesPerSecond, digits: 2)) MB/s")
        }
    }

    /// Encodes the whole input, cut into independent parts for the threads when there is more than one.
    private func encode(_ input: [UInt8], with tokenizer: GPT2Tokenizer) throws -> [Int] {
        try input.withUnsafeBufferPointer { text in
            let workers = WorkerThreads.count(threads)
            if workers <= 1 { return try tokenizer.encode(utf8: text) }
            try GPT2Tokenizer.validateUTF8(text)
            let boundaries = GPT2Tokenizer.independentPartBoundaries(
                in: text, targetLength: max(1 << 16, text.count / (workers * 4)))
            let parts = zip(boundaries, boundaries.dropFirst()).map {
                String(decoding: UnsafeBufferPointer(rebasing: text[$0..<$1]), as: UTF8.self)
            }
            var ids: [Int] = []
            ids.reserveCapacity(text.count / 3)
            for part in tokenizer.encodeDocuments(parts, threads: workers) { ids.append(contentsOf: part) }
            return ids
        }
    }

    /// A bad input or setting found while running, with the message to show.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
