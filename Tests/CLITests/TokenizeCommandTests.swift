/// `gpt2 tokenize` run as a user would: ids of files and stdin as lines or JSON, decoding back, thread
/// counts that give identical ids, and errors that exit non-zero with a message instead of crashing.

import Foundation
import GPT2TestSupport
import Testing

@Suite("gpt2 tokenize")
struct TokenizeCommandTests {
    let vocabulary = ["--vocab-dir", TokenizerFixture.vocabularyDirectory]
    /// From tiktoken's `gpt2` encoding (scripts/tiktoken_gpt2.py), the independent reference.
    let text = "Hello world's  \n\n   I'LL don't"
    let ids = [15496, 995, 338, 220, 220, 628, 220, 220, 314, 6, 3069, 836, 470]

    /// With no file, or `-` (it read a file named -), the text comes from standard input.
    @Test(arguments: [[], ["-"]]) func printsOneIdPerLineFromStdin(_ file: [String]) throws {
        let result = try runGPT2(arguments: ["tokenize"] + vocabulary + file, stdin: Data(text.utf8))
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == ids.map { "\($0)\n" }.joined())
    }

    @Test func printsAJSONArrayForAFile() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("in.txt")
        try Data(text.utf8).write(to: file)
        let result = try runGPT2(
            arguments: ["tokenize", "--json", "--mirror", TestPaths.mirror.path, file.path])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(try JSONDecoder().decode([Int].self, from: result.stdout) == ids)
    }

    /// (CRLF line ends, as from a Windows editor, are whitespace too.)
    @Test(arguments: ["[15496, 995,338 ,220]", " [ 15496,995 , 338,\n220 ]\n", "15496 995\n338\t220\n", "15496\r\n995\r\n338\r\n220\r\n"])
    func decodeWritesTheBytesBack(input: String) throws {
        let result = try runGPT2(arguments: ["tokenize", "--decode"] + vocabulary, stdin: Data(input.utf8))
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == "Hello world's ")
    }

    @Test(arguments: ["[]", " [ ]\n", "", "\n"])
    func decodeOfNoIdsWritesNothing(input: String) throws {
        let result = try runGPT2(arguments: ["tokenize", "--decode"] + vocabulary, stdin: Data(input.utf8))
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdout.isEmpty)
    }

    @Test func mirrorComesFromTheEnvironment() throws {
        let result = try runGPT2(
            arguments: ["tokenize", "--json"], stdin: Data("Hello world".utf8),
            environment: ["GPT2_DATA_MIRROR": TestPaths.mirror.path])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == "[15496,995]\n")
    }

    /// --stats adds a line to stderr and nothing to stdout, which holds exactly the ids, as without it.
    @Test func statsGoToStderr() throws {
        let result = try runGPT2(arguments: ["tokenize", "--stats"] + vocabulary, stdin: Data(text.utf8))
        #expect(result.status == 0)
        #expect(result.stderrText.contains("\(text.utf8.count) bytes, \(ids.count) tokens"))
        #expect(result.stdoutText == ids.map { "\($0)\n" }.joined())
    }

    /// With --decode, --stats counts the ids read and the bytes written: 4 ids, the 14 bytes of "Hello world's ".
    @Test func decodeStatsCountTokensAndBytes() throws {
        let result = try runGPT2(arguments: ["tokenize", "--decode", "--stats"] + vocabulary, stdin: Data("15496 995 338 220".utf8))
        #expect(result.status == 0 && result.stdoutText == "Hello world's ", "\(result.stderrText)")
        #expect(result.stderrText == "4 tokens, 14 bytes\n", "\(result.stderrText)")
    }

    @Test func threadCountsGiveIdenticalIds() throws {
        let file = TestPaths.mirror.appendingPathComponent("tinyshakespeare.txt").path
        let one = try runGPT2(arguments: ["tokenize", "--threads", "1", file] + vocabulary)
        let three = try runGPT2(arguments: ["tokenize", "--threads", "3", file] + vocabulary)
        #expect(one.status == 0 && three.status == 0)
        #expect(one.stdout.count > 1_000_000 && one.stdout == three.stdout)
    }

    /// No text: no lines, or an empty JSON array.
    @Test(arguments: [([], ""), (["--json"], "[]\n")])
    func anEmptyTextHasNoIds(format: [String], expected: String) throws {
        let result = try runGPT2(arguments: ["tokenize"] + format + vocabulary, stdin: Data())
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == expected)
    }

    /// `gpt2 tokenize` reads 8 MiB at a time (`TokenizeCommand.chunkBytes`).
    private static let chunkBytes = 8 << 20

    /// Shakespeare (ASCII, LF) up to one byte before the end of the first chunk, so that the chunk ends inside "日", then
    /// CRLF lines; `lineEnd` replaces every "\n" (" \n" leaves no safe cut anywhere).
    private func textPastOneChunk(lineEnd: String = "\n") throws -> [UInt8] {
        let shakespeare = try Data(contentsOf: TestPaths.mirror.appendingPathComponent("tinyshakespeare.txt"))
        let head = Array(repeating: shakespeare, count: Self.chunkBytes / shakespeare.count + 1).joined().prefix(Self.chunkBytes - 1)
        let text = String(decoding: head, as: UTF8.self) + "日本語のテキスト.\r\n"
            + String(decoding: shakespeare.prefix(100_000), as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n")
        return Array(text.replacingOccurrences(of: "\n", with: lineEnd).utf8)
    }

    /// A text longer than a chunk, from a pipe or a file, with safe cuts or none, gives the ids of the whole text
    /// encoded at once, in exactly the bytes of the lines or the JSON array written whole.
    @Test(arguments: ["\n", " \n"])
    func aTextLongerThanAChunkGivesTheWholeTextsIds(lineEnd: String) throws {
        let text = try textPastOneChunk(lineEnd: lineEnd)
        let ids = try text.withUnsafeBufferPointer { try TokenizerFixture.tokenizer().encode(utf8: $0) }
        let piped = try runGPT2(arguments: ["tokenize", "--threads", "1"] + vocabulary, stdin: Data(text))
        #expect(piped.status == 0, "\(piped.stderrText)")
        #expect(piped.stdoutText == ids.map { "\($0)\n" }.joined())

        let directory = try TestPaths.temporaryDirectory("tokenize-long")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("long.txt")
        try Data(text).write(to: file)
        let json = try runGPT2(arguments: ["tokenize", "--json", "--threads", "2", file.path] + vocabulary)
        #expect(json.status == 0, "\(json.stderrText)")
        #expect(json.stdoutText == "[" + ids.map(String.init).joined(separator: ",") + "]\n")
    }

    /// A bad byte after the first chunk comes when the ids of the text before its chunk are written: the error says so
    /// at the bad byte's offset in the whole text, and the status is non-zero.
    @Test func aBadByteAfterTheFirstChunkFailsAfterTheIdsBeforeIt() throws {
        var text = try textPastOneChunk()
        text[Self.chunkBytes + 40] = 0xFF
        let result = try runGPT2(arguments: ["tokenize", "--json"] + vocabulary, stdin: Data(text))
        #expect(result.status != 0 && result.status < 128)
        #expect(result.stderrText.contains("standard input: the text is not valid UTF-8: bad byte at offset \(Self.chunkBytes + 40)"))
        #expect(result.stderrText.contains("written already: the output is incomplete"), "\(result.stderrText)")
        #expect(result.stdoutText.hasPrefix("[") && !result.stdoutText.hasSuffix("]\n"))
    }

    @Test(.enabled(if: TiktokenReference.isAvailable, "tiktoken is not installed"))
    func idsOfAFileMatchTiktoken() throws {
        let file = TestPaths.mirror.appendingPathComponent("tinyshakespeare.txt")
        let ours = try runGPT2(arguments: ["tokenize", file.path] + vocabulary)
        let script = TestPaths.repositoryRoot.appendingPathComponent("scripts/tiktoken_gpt2.py").path
        let reference = try runCommand(
            "python3", arguments: [script, TokenizerFixture.vocabularyDirectory], stdin: Data(contentsOf: file))
        #expect(reference.status == 0, "\(reference.stderrText)")
        #expect(ours.stdout == reference.stdout)
    }

    @Test func errorsExitNonZeroWithAMessage() throws {
        let cases: [(arguments: [String], stdin: [UInt8], message: String)] = [
            (["tokenize", "/no/such/file.txt"] + vocabulary, [], "/no/such/file.txt"),
            // (a file named as standard output is in error messages is still a file that cannot be read)
            (["tokenize", "<stdout>"] + vocabulary, [], "<stdout>: No such file or directory"),
            (["tokenize"] + vocabulary, [0x61, 0x62, 0xFF], "standard input: the text is not valid UTF-8: bad byte at offset 2"),
            (["tokenize", ""] + vocabulary, [], "the file to read is an empty path (omit it, or give -, to read standard input)"),
            (["tokenize", "--decode"] + vocabulary, Array("1 50257".utf8), "50257"),
            (["tokenize", "--decode"] + vocabulary, Array("1 two".utf8), "\"two\""),
            (["tokenize", "--decode"] + vocabulary, Array("[1, 2".utf8), "no closing \"]\" (at byte 5)"),
            (["tokenize", "--decode"] + vocabulary, Array("[1,".utf8), "the ids end early (at byte 3)"),
            (["tokenize", "--decode"] + vocabulary, Array("[1,,2]".utf8), "a token id is missing (at byte 3)"),
            (["tokenize", "--decode"] + vocabulary, Array("[1 2]".utf8), "expected \",\" or \"]\" after a token id (at byte 3)"),
            (["tokenize", "--decode"] + vocabulary, Array("[[1]]".utf8), "\"[1\" at byte 1"),
            (["tokenize", "--decode"] + vocabulary, Array("[1]\n[2]".utf8), "text follows the JSON array's closing \"]\" (at byte 4)"),
            (["tokenize", "--decode"] + vocabulary, Array("1,2".utf8), "\"1,2\" at byte 0"),
            (["tokenize", "--decode"] + vocabulary, Array("1 -2".utf8), "\"-2\" at byte 2"),
            (["tokenize", "--decode"] + vocabulary, Array("1 99999999999999999999".utf8), "\"99999999999999999999\" at byte 2"),
            (["tokenize", "--decode"] + vocabulary, Array("1 9223372036854775808".utf8), "\"9223372036854775808\" at byte 2"),
            (["tokenize", "--vocab-dir", "/no/vocab"], [], "/no/vocab/encoder.json"),
            (["tokenize", "--threads", "-1"] + vocabulary, [], "--threads"),
            (["tokenize", "--decode", "--json"] + vocabulary, Array("1".utf8), "--decode prints text, so give one of them"),
        ]
        for (arguments, stdin, message) in cases {
            let result = try runGPT2(arguments: arguments, stdin: Data(stdin))
            #expect(result.status != 0 && result.status < 128, "\(arguments)")
            #expect(result.stderrText.contains(message), "\(arguments): \(result.stderrText)")
        }
        // a file's bad byte is placed in that file (the message named no file)
        let directory = try TestPaths.temporaryDirectory("tokenize-bad-utf8")
        defer { try? FileManager.default.removeItem(at: directory) }
        let bad = directory.appendingPathComponent("bad.txt")
        try Data([0x61, 0xFF]).write(to: bad)
        let named = try runGPT2(arguments: ["tokenize", bad.path] + vocabulary)
        expectOneLineError(named, mentioning: "\(bad.path): the text is not valid UTF-8: bad byte at offset 1")
        let unset = try runGPT2(arguments: ["tokenize"], stdin: Data("x".utf8), environment: ["GPT2_DATA_MIRROR": ""])
        #expect(unset.status != 0 && unset.stderrText.contains("--mirror"))
    }

    @Test func helpShowsExamples() throws {
        let result = try runGPT2(arguments: ["tokenize", "--help"])
        #expect(result.status == 0)
        #expect(result.stdoutText.contains("Examples:"))
    }
}
