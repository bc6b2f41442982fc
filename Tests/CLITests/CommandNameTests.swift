/// A mistyped command word is refused as such, naming the nearest command, whether it comes first, after `help`, or
/// under a group (`gpt2 eval hellaswg`), or the group a command belongs to (`gpt2 hellaswag`). The parser alone
/// blamed the options that followed (`gpt2 trian --steps 3` said "Unknown option '--steps'") or printed the general
/// help with exit status 0 (`gpt2 help trian`).

import Foundation
import GPT2TestSupport
import Testing

@Suite struct CommandNameTests {
    @Test(arguments: [
        (["trian", "--steps", "3"], "'trian' is not a gpt2 command (did you mean 'train'?)", "gpt2 --help"),
        (["help", "sampel"], "'sampel' is not a gpt2 command (did you mean 'sample'?)", "gpt2 --help"),
        (["eval", "hellaswg", "--checkpoint", "runs/x"], "'hellaswg' is not a command of 'gpt2 eval' (did you mean 'hellaswag'?)",
         "gpt2 eval --help"),
        (["help", "selftest", "cdua"], "'cdua' is not a command of 'gpt2 selftest' (did you mean 'cuda'?)", "gpt2 selftest --help"),
        // a command of a group, named without it
        (["hellaswag", "--checkpoint", "runs/x"], "'hellaswag' is not a gpt2 command (did you mean 'gpt2 eval hellaswag'?)",
         "gpt2 --help"),
    ])
    func aMistypedCommandIsNamedWithTheNearestOne(arguments: [String], message: String, help: String) throws {
        let result = try runGPT2(arguments: arguments)
        #expect(result.status == 64 && result.stdoutText.isEmpty, "\(arguments): \(result.status) \(result.stdoutText)")
        #expect(result.stderrText.contains(message) && result.stderrText.contains("(see '\(help)')"),
                "\(arguments): \(result.stderrText)")
    }

    /// A word far from every command gets the list without a guess; the list is the commands of that level.
    @Test func aWordLikeNoCommandGetsTheListAlone() throws {
        let result = try runGPT2(arguments: ["foo"])
        #expect(result.status == 64, "\(result.stderrText)")
        #expect(result.stderrText.contains("'foo' is not a gpt2 command; the commands are prepare, train, eval,")
                && !result.stderrText.contains("did you mean"), "\(result.stderrText)")
        let group = try runGPT2(arguments: ["eval", "perplexity"])
        #expect(group.status == 64 && group.stderrText.contains("the commands are loss, hellaswag"), "\(group.stderrText)")
    }

    /// Command lines that name commands are the parser's as before: help for a nested command, and a leaf command's
    /// own arguments even when they read like command names (a file called `train` to tokenize).
    @Test func commandLinesThatNameCommandsAreUntouched() throws {
        let help = try runGPT2(arguments: ["help", "eval", "hellaswag"])
        #expect(help.status == 0 && help.stdoutText.contains("HellaSwag"), "\(help.stderrText)")
        let folder = try TestPaths.temporaryDirectory("cli-command-names")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("To be, or not to be".utf8).write(to: folder.appendingPathComponent("train"))
        let tokenized = try runGPT2(arguments: ["tokenize", "--json", "train", "--mirror", TestPaths.mirror.path],
                                    workingDirectory: folder.path)
        #expect(tokenized.status == 0 && tokenized.stdoutText.hasPrefix("["), "\(tokenized.stderrText)")
    }
}
