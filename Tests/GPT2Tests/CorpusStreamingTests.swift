/// Streaming `gpt2 prepare`: JSONL read in chunks far smaller than the file and tokenised in small batches gives
/// the same shards as the whole-file expectation, errors in later chunks keep their file:line and byte offset,
/// and what the reader holds stays within a chunk plus the longest line.

import Testing
import Foundation
import GPT2TestSupport
@testable import GPT2

/// `ByteEncoder` that also records the size of every batch it is handed.
final class BatchRecordingEncoder: DocumentEncoder, @unchecked Sendable {
    static let endOfText = 256
    private(set) var batchSizes: [Int] = []
    func encodeDocuments(_ documents: [String], threads: Int) -> [[Int]] {
        batchSizes.append(documents.count)
        return documents.map { $0.utf8.map(Int.init) }
    }
}

@Suite struct CorpusStreamingTests {
    private static let chunkBytes = 64

    private func withDirectory(_ body: (URL) throws -> Void) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory)
    }

    private func tokens(of summary: PreparedShards) throws -> [Int] {
        try (summary.validationShards + summary.trainShards).flatMap { shard in
            try ShardReader(path: shard.path, vocabularySize: nil).withTokens { $0.map(Int.init) }
        }
    }

    private func preparer(_ directory: URL, out: String = "out", streaming: Bool) -> CorpusPreparer {
        var preparer = CorpusPreparer(outputDirectory: directory.appendingPathComponent(out).path, name: "corpus")
        preparer.shardTokens = 50
        preparer.validationTokens = 20
        if streaming {
            preparer.chunkBytes = Self.chunkBytes
            preparer.batchBytes = 1 << 30
            preparer.batchDocuments = 3
        }
        return preparer
    }

    /// A JSON object line holding `document` (escaped by JSONEncoder, as a user's export would be).
    private func line(_ document: String, key: String = "text") throws -> String {
        String(decoding: try JSONEncoder().encode([key: document]), as: UTF8.self)
    }

    /// Documents of mixed length and script, the longest several chunks long, multi-byte characters throughout.
    private let documents: [String] = (0..<23).map { index in
        let pieces = ["short", "café crème", "日本語のテキスト", "emoji 🦀🚀 mixed", "Ünïcödé  and   spaces\n",
                      String(repeating: "long line ", count: 5 * index)]
        return "\(index): " + pieces[index % pieces.count] + String(repeating: "é", count: index % 7)
    }

    @Test func jsonlStreamedInSmallChunksAndBatchesEqualsEachDocumentTokenised() throws {
        try withDirectory { directory in
            // CRLF on some lines, blank lines between, and no newline after the last line.
            var text = ""
            for (index, document) in documents.enumerated() {
                text += try line(document) + (index % 4 == 1 ? "\r\n" : "\n")
                if index % 5 == 2 { text += "\n  \n" }
            }
            text.removeLast()
            let bytes = Array(text.utf8)
            #expect(bytes.count > 20 * Self.chunkBytes)
            let boundaries = stride(from: Self.chunkBytes, to: bytes.count, by: Self.chunkBytes)
            #expect(boundaries.contains { bytes[$0] & 0xC0 == 0x80 }, "a multi-byte character straddles a chunk boundary")
            let input = directory.appendingPathComponent("docs.jsonl")
            try Data(bytes).write(to: input)

            let expected = documents.flatMap { [256] + $0.utf8.map(Int.init) }
            let encoder = BatchRecordingEncoder()
            let streamed = try preparer(directory, streaming: true).prepare([.detect(path: input.path)], encoder: encoder)
            #expect(try tokens(of: streamed) == expected)
            #expect(encoder.batchSizes == Array(repeating: 3, count: 7) + [2], "batches of at most 3 documents")

            let whole = try preparer(directory, out: "whole", streaming: false)
                .prepare([.detect(path: input.path)], encoder: ByteEncoder())
            #expect(try tokens(of: whole) == expected)
            #expect(streamed.trainShards.map(\.tokens) == whole.trainShards.map(\.tokens))
            for (a, b) in zip(streamed.validationShards + streamed.trainShards, whole.validationShards + whole.trainShards) {
                #expect(try Data(contentsOf: URL(fileURLWithPath: a.path)) == Data(contentsOf: URL(fileURLWithPath: b.path)))
            }
        }
    }

    @Test func batchesCloseAtTheirByteLimit() throws {
        try withDirectory { directory in
            let input = directory.appendingPathComponent("docs.jsonl")
            try Data(documents.map { try line($0) }.joined(separator: "\n").utf8).write(to: input)
            var preparer = preparer(directory, streaming: true)
            (preparer.batchBytes, preparer.batchDocuments) = (100, 1000)
            let encoder = BatchRecordingEncoder()
            let summary = try preparer.prepare([.detect(path: input.path)], encoder: encoder)
            #expect(try tokens(of: summary) == documents.flatMap { [256] + $0.utf8.map(Int.init) })
            #expect(encoder.batchSizes.count > 3 && encoder.batchSizes.reduce(0, +) == documents.count)
        }
    }

    /// A text file's parts are enough for every thread to get four of a chunk's (the tokenizer hands each part to one
    /// thread: cut in eighths, a chunk kept at most eight threads busy), but no smaller than 64 KiB where a chunk's
    /// eighth is more; one or two threads keep eighths.
    @Test func aTextFilesPartsAreSizedForTheThreads() throws {
        #expect(IndependentPartCutter.partBytes(chunkBytes: 8 << 20, workers: 1) == 1 << 20)
        #expect(IndependentPartCutter.partBytes(chunkBytes: 8 << 20, workers: 2) == 1 << 20)
        #expect(IndependentPartCutter.partBytes(chunkBytes: 8 << 20, workers: 16) == 128 << 10)
        #expect(IndependentPartCutter.partBytes(chunkBytes: 8 << 20, workers: 1000) == 64 << 10)
        #expect(IndependentPartCutter.partBytes(chunkBytes: 8 << 20, workers: .max) == 64 << 10)
        #expect(IndependentPartCutter.partBytes(chunkBytes: 64, workers: 16) == 8)
        #expect(IndependentPartCutter.partBytes(chunkBytes: 4, workers: 1) == 1)
        try withDirectory { directory in
            let input = directory.appendingPathComponent("lines.txt")
            let text = String(repeating: "to be or not to be\n", count: 8 << 16)   // 9.4 MB, a safe cut on every line
            try Data(text.utf8).write(to: input)
            for workers in [1, 16] {
                var parts = 0
                try CorpusReader.forEachPart(of: .detect(path: input.path), chunkBytes: 8 << 20, workers: workers) { _ in parts += 1 }
                let expected = text.utf8.count / IndependentPartCutter.partBytes(chunkBytes: 8 << 20, workers: workers)
                #expect(abs(parts - expected) <= 1 && parts >= 8 * workers / 2, "\(workers) workers: \(parts) parts")
            }
        }
    }

    /// A text file is read and tokenised in parts cut where no token can cross, not whole (a 200 MB text took 1 GB, on
    /// one thread, with no progress until the end): with chunks far smaller than the file, the parts join to the text
    /// without its byte-order mark, and the shards hold one `<|endoftext|>` and then GPT-2's tokens of the whole text.
    @Test func aTextFileIsTokenisedInPartsThatJoinToTheWholeDocument() throws {
        try withDirectory { directory in
            let tokenizer = try TokenizerFixture.tokenizer()
            // multi-byte characters, contractions, trailing spaces (before which no cut may come), CRLF, long lines
            let kinds = ["ROMEO: café crème, 日本語!\r", "  indented and trailing  ", "emoji 🦀🚀\r", "numbers 12345 678", "'tis it's we'll\r"]
            let text = (0..<200).map { $0 % 6 == 5 ? String(repeating: "word ", count: $0 % 30) + "end" : kinds[$0 % 6] }
                .joined(separator: "\n")
            let input = directory.appendingPathComponent("book.txt")
            try Data([0xEF, 0xBB, 0xBF] + Array(text.utf8)).write(to: input)
            var parts: [DocumentPart] = []
            let held = try CorpusReader.forEachPart(of: .detect(path: input.path), chunkBytes: Self.chunkBytes) { parts.append($0) }
            #expect(parts.count > 20 && parts.first?.startsDocument == true && !parts.dropFirst().contains { $0.startsDocument })
            #expect(parts.map(\.text).joined() == text)
            #expect(held < text.utf8.count / 10, "held \(held) of \(text.utf8.count) bytes")

            var preparer = preparer(directory, streaming: true)
            (preparer.shardTokens, preparer.validationTokens) = (1000, 100)
            let streamed = try preparer.prepare([.detect(path: input.path)], encoder: tokenizer)
            #expect(try tokens(of: streamed) == [GPT2Tokenizer.endOfText] + tokenizer.encode(text))

            // a Windows text, whose every line ends in CRLF, is cut too (before each "\r"; only before "\n" it was held
            // whole), with the same tokens
            let windows = (0..<100).map { "line \($0) of a Windows text, \($0 % 3 == 0 ? "ending" : "going on")." }.joined(separator: "\r\n")
            try Data(windows.utf8).write(to: input)
            var windowsParts: [String] = []
            try CorpusReader.forEachPart(of: .detect(path: input.path), chunkBytes: Self.chunkBytes) { windowsParts.append($0.text) }
            #expect(windowsParts.count > 20 && windowsParts.joined() == windows)
            #expect(Array(tokenizer.encodeDocuments(windowsParts).joined()) == tokenizer.encode(windows))
        }
    }

    /// The check before tokenising tells its progress chunk by chunk, for text and JSON lines alike, up to the whole file
    /// (a 220 MB JSONL was checked for 8 s without a word; the preparer shows a line from `checkProgressBytes`).
    @Test func theCheckTellsTheBytesReadChunkByChunk() throws {
        try withDirectory { directory in
            let text = directory.appendingPathComponent("book.txt"), lines = directory.appendingPathComponent("docs.jsonl")
            try Data(documents.joined(separator: "\n").utf8).write(to: text)
            try Data(documents.map { try line($0) }.joined(separator: "\n").utf8).write(to: lines)
            for input in [text, lines] {
                var reads: [Int] = []
                _ = try CorpusReader.documentBytes(of: .detect(path: input.path), chunkBytes: Self.chunkBytes) { reads.append($0) }
                let size = try #require(FileSystem.size(input.path))
                #expect(reads.count == (size + Self.chunkBytes - 1) / Self.chunkBytes && reads.reduce(0, +) == size, "\(input.lastPathComponent): \(reads)")
            }
        }
    }

    @Test func readerHoldsAtMostAChunkPlusTheLongestLine() throws {
        try withDirectory { directory in
            let lines = try documents.map { try line($0) }
            let input = directory.appendingPathComponent("docs.jsonl")
            try Data(lines.joined(separator: "\n").utf8).write(to: input)
            var count = 0
            let held = try CorpusReader.forEachPart(of: .detect(path: input.path), chunkBytes: Self.chunkBytes) { _ in
                count += 1
            }
            #expect(count == documents.count)
            let longest = lines.map(\.utf8.count).max()!
            #expect(held <= Self.chunkBytes + longest, "held \(held) bytes")
            #expect(held < lines.joined().utf8.count / 2)
        }
    }

    /// Each error lies past the first chunks: it still names the right line or byte offset.
    @Test(arguments: [
        ("late.jsonl", Data((String(repeating: #"{"text": "fine document"}"# + "\n", count: 30) + "{oops}\n").utf8),
         "late.jsonl:31: not a valid JSON object"),
        ("field.jsonl", Data((String(repeating: #"{"text": "fine"}"# + "\r\n", count: 20) + "\n" + #"{"body": "x"}"#).utf8),
         "field.jsonl:22: no string field \"text\""),
        // Invalid UTF-8 is reported before an earlier bad line, as when the file was checked whole.
        ("both.jsonl", Data(("{oops}\n" + String(repeating: "x", count: 293)).utf8 + [0xFF]), "offset 300"),
        ("latin1.txt", Data(String(repeating: "a", count: 200).utf8 + [0xE9, 0x21]), "offset 200"),
        // E6 97 then "x": a three-byte sequence cut by a chunk boundary (64) and then broken.
        ("cut.txt", Data(String(repeating: "a", count: 63).utf8 + [0xE6, 0x97, 0x78]), "offset 63"),
        ("cut.jsonl", Data((#"{"text": ""# + String(repeating: "a", count: 53)).utf8 + [0xE6, 0x97] + Array(#""}"#.utf8)),
         "offset 63"),
        // A sequence the file ends inside, after a chunk boundary.
        ("truncated.txt", Data(String(repeating: "a", count: 130).utf8 + [0xF0, 0x9F, 0xA6]), "offset 130"),
    ] as [(String, Data, String)])
    func errorsInLaterChunksKeepLineAndOffset(name: String, contents: Data, message: String) throws {
        try withDirectory { directory in
            let bad = directory.appendingPathComponent(name)
            try contents.write(to: bad)
            let error = #expect(throws: PrepareError.self) {
                try preparer(directory, streaming: true).prepare([.detect(path: bad.path)], encoder: ByteEncoder())
            }
            #expect(error?.description.contains(message) == true, "\(String(describing: error))")
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("out").path))
        }
    }

    /// The chunked check finds the same first bad byte for every chunk size, and agrees with the standard
    /// library on which byte strings are valid.
    @Test func utf8CheckIsIndependentOfChunkSize() {
        var random = SeededRandom(seed: 7)
        let alphabet: [[UInt8]] = [[0x61], [0x0A], [0xC3, 0xA9], [0xE6, 0x97, 0xA5], [0xF0, 0x9F, 0xA6, 0x80],
                                   [0xE0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90], [0xC0], [0xBF], [0xF0, 0x9F],
                                   [0xF4, 0x90, 0x80, 0x80]]   // (U+110000: past Unicode's last code point, U+10FFFF)
        for _ in 0..<300 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(random.next() % 12) {
                let pick = Int(random.next() % 40)
                bytes += alphabet[pick < 30 ? pick % 5 : 5 + pick % 7]
            }
            let whole = bytes.withUnsafeBufferPointer { UTF8Validator.firstInvalidOffset($0) }
            #expect((whole == nil) == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
            for chunk in 1...5 {
                var validator = UTF8Validator()
                var found: Int?
                for start in stride(from: 0, to: bytes.count, by: chunk) where found == nil {
                    found = bytes[start..<min(start + chunk, bytes.count)].withUnsafeBufferPointer { validator.validate($0) }
                }
                #expect((found ?? validator.finish()) == whole, "\(bytes) in chunks of \(chunk)")
            }
        }
    }

    /// A line longer than the limit is refused at its number, however the chunks cut it, with the lines before it
    /// taken; one at the limit is taken (a stream without a line break grew one line until memory ran out).
    @Test(arguments: [1, 2, 5, 64])
    func aLineLongerThanTheLimitIsRefused(chunkBytes: Int) throws {
        let stream = Array("abcd\n\nxyz\n12345\nok\n".utf8)
        var splitter = LineSplitter(path: "<stdin>", maxLineBytes: 4)
        var taken: [String] = []
        let error = #expect(throws: PrepareError.self) {
            for start in stride(from: 0, to: stream.count, by: chunkBytes) {
                try stream[start..<min(start + chunkBytes, stream.count)].withUnsafeBufferPointer { (chunk) throws(PrepareError) in
                    try splitter.split(chunk) { taken.append(String(decoding: $0, as: UTF8.self)) }
                }
            }
        }
        #expect(error?.description.hasPrefix("<stdin>:4: a line longer than 4 B without a line break") == true, "\(String(describing: error))")
        #expect(taken == ["abcd", "", "xyz"])
    }
}
