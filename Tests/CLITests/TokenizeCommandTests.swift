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

    @Test func printsOneIdPerLineFromStdin() throws {
        let result = try runGPT2(arguments: ["tokenize"] + vocabulary, stdin: Data(text.utf8))
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

    @Test(arguments: ["[15496, 995,338 ,220]", "15496 995\n338\t220\n"])
    func decodeWritesTheBytesBack(input: String) throws {
        let result = try runGPT2(arguments: ["tokenize", "--decode"] + vocabulary, stdin: Data(input.utf8))
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == "Hello world's ")
    }

    @Test func mirrorComesFromTheEnvironment() throws {
        let result = try runGPT2(
            arguments: ["tokenize", "--json"], stdin: Data("Hello world".utf8),
            environment: ["GPT2_DATA_MIRROR": TestPaths.mirror.path])
        #expect(result.status == 0, "\(result.stderrText)")
        #expect(result.stdoutText == "[15496,995]\n")
    }

    @Test func statsGoToStderr() throws {
        let result = try runGPT2(arguments: ["tokenize", "--stats"] + vocabulary, stdin: Data(text.utf8))
        #expect(result.status == 0)
        #expect(result.stderrText.contains("\(text.utf8.count) bytes, \(ids.count) tokens"))
    }

    @Test func threadCountsGiveIdenticalIds() throws {
        let file = TestPaths.mirror.appendingPathComponent("tinyshakespeare.txt").path
        let one = try runGPT2(arguments: ["tokenize", "--threads", "1", file] + vocabulary)
        let three = try runGPT2(arguments: ["tokenize", "--threads", "3", file] + vocabulary)
        #expect(one.status == 0 && three.status == 0)
        #expect(one.stdout.count > 1_000_000 && one.stdout == three.stdout)
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
            (["tokenize"] + vocabulary, [0x61, 0x62, 0xFF], "offset 2"),
            (["tokenize", "--decode"] + vocabulary, Array("1 50257".utf8), "50257"),
            (["tokenize", "--decode"] + vocabulary, Array("1 two".utf8), "\"two\""),
            (["tokenize", "--vocab-dir", "/no/vocab"], [], "/no/vocab/encoder.json"),
            (["tokenize", "--threads", "-1"] + vocabulary, [], "--threads"),
        ]
        for (arguments, stdin, message) in cases {
            let result = try runGPT2(arguments: arguments, stdin: Data(stdin))
            #expect(result.status != 0 && result.status < 128, "\(arguments)")
            #expect(result.stderrText.contains(message), "\(arguments): \(result.stderrText)")
        }
        let unset = try runGPT2(arguments: ["tokenize"], stdin: Data("x".utf8), environment: ["GPT2_DATA_MIRROR": ""])
        #expect(unset.status != 0 && unset.stderrText.contains("--mirror"))
    }

    @Test func helpShowsExamples() throws {
        let result = try runGPT2(arguments: ["tokenize", "--help"])
        #expect(result.status == 0)
        #expect(result.stdoutText.contains("Examples:"))
    }
}
