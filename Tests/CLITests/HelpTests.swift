/// Every command's `--help`, found by walking the SUBCOMMANDS lists from `gpt2 --help`: it shows examples, and
/// each example stays on its own lines at 80 columns (a wrapped example, copied, ran something else).

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
        for command in [[]] + commands where command != ["selftest"] {   // (a group of one, whose one command has them)
            let result = try runGPT2(arguments: command + ["--help"])
            let name = (["gpt2"] + command).joined(separator: " ")
            #expect(result.status == 0, "\(name) --help: \(result.stderrText)")
            let lines = result.stdoutText.split(separator: "\n", omittingEmptySubsequences: false)
            guard let start = lines.firstIndex(of: "Examples:") else {
                Issue.record("\(name) --help shows no examples:\n\(result.stdoutText)")
                continue
            }
            // An example block runs to the first blank line; each line in it is indented (an example, or the
            // continuation of one after a backslash), and one that wrapped starts at column 0.
            for line in lines[(start + 1)...].prefix(while: { !$0.isEmpty }) {
                #expect(line.hasPrefix("  ") && line.count <= 80, "\(name) --help: an example wraps at 80 columns: '\(line)'")
            }
        }
    }
}
