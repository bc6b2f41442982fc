/// Every command's `--help`, found by walking the SUBCOMMANDS lists from `gpt2 --help`: it shows examples, and
/// each example stays on its own lines at 80 columns (a wrapped example, copied, ran something else). And
/// `gpt2 --version`.

import Foundation
import GPT2TestSupport
import Testing

@Suite("gpt2 --help")
struct HelpTests {
    /// The command paths under `path` named in its help's SUBCOMMANDS section (`loss (default)` is `loss`).
    private func subcommands(of path: [String]) throws -> [[String]] {
        let help = try runGPT2(arguments: path + ["--help"]).stdoutText
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "SUBCOMMANDS:") else { return [] }
        // `  name   abstract`, its abstract's wrapped lines indented further, up to the first blank line
        let names = lines[(start + 1)...].prefix(while: { !$0.isEmpty })
            .filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }
            .compactMap { $0.split(separator: " ").first.map(String.init) }
        return try names.flatMap { name in [path + [name]] + (try subcommands(of: path + [name])) }
    }

    @Test func everyCommandShowsExamplesThatDoNotWrap() throws {
        let commands = try subcommands(of: [])
        #expect(commands.contains(["eval", "hellaswag"]) && commands.contains(["selftest", "cuda"]) && commands.count >= 14,
                "\(commands)")
        let environment = ProcessInfo.processInfo.environment.merging(["COLUMNS": "80"]) { $1 }   // (the parser reads it)
        for command in [[]] + commands {
            let result = try runGPT2(arguments: command + ["--help"], environment: environment)
            let name = (["gpt2"] + command).joined(separator: " ")
            #expect(result.status == 0, "\(name) --help: \(result.stderrText)")
            let lines = result.stdoutText.split(separator: "\n", omittingEmptySubsequences: false)
            let starts = lines.indices.filter { lines[$0] == "Examples:" }
            #expect(!starts.isEmpty, "\(name) --help shows no examples:\n\(result.stdoutText)")
            for start in starts {
                // A block runs to the first blank line. Each line in it starts an example (indented 2), or goes on with
                // one after a backslash or is a comment on it (indented further); one that wrapped starts at column 0,
                // and one split without a backslash would run as two commands.
                let block = Array(lines[(start + 1)...].prefix(while: { !$0.isEmpty }))
                #expect(block.first.map { $0.hasPrefix("  ") && !$0.hasPrefix("   ") } == true, "\(name) --help: an empty example block")
                for (previous, line) in zip([Substring("")] + block, block) {
                    let startsExample = line.hasPrefix("  ") && !line.hasPrefix("   ")
                    let continues = line.hasPrefix("   ") && (previous.hasSuffix("\\") || line.trimmingCharacters(in: .whitespaces).hasPrefix("#"))
                    #expect((startsExample || continues) && line.count <= 80, "\(name) --help: an example wraps at 80 columns, or goes on without a backslash: '\(line)'")
                }
            }
        }
    }

    /// The commit the repository is at; nil outside a git checkout, or where git cannot read it.
    private static let checkoutCommit: String? = {
        guard let head = try? runCommand("git", arguments: ["-C", TestPaths.repositoryRoot.path, "rev-parse", "HEAD"]),
              head.status == 0 else { return nil }
        return head.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    @Test(.enabled(if: checkoutCommit != nil, "needs the sources in a git checkout that git can read"))
    func theVersionNamesTheCommitTheBinaryWasBuiltFrom() throws {
        let commit = try #require(Self.checkoutCommit)
        let version = try runGPT2(arguments: ["--version"])
        #expect(version.status == 0)
        let words = version.stdoutText.split(separator: " ")
        #expect(words.count == 2 && words[0] == "gpt2-swift", "\(version.stdoutText)")
        let built = words.last.map { String($0.trimmingCharacters(in: .newlines).split(separator: "-").first ?? "") } ?? ""
        #expect(built.count >= 7 && commit.hasPrefix(built), "built from \(built), the checkout is at \(commit)")
        let info = try runGPT2(arguments: ["info"])
        #expect(info.stdoutText.hasPrefix("build     " + version.stdoutText), "\(info.stdoutText)")
    }
}
