/// The `gpt2` command: prepares data, trains, evaluates, samples and benchmarks GPT-2.
/// Each subcommand lives in its own file as a `…Command` type.

import ArgumentParser

@main
struct GPT2Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt2",
        abstract: "Train GPT-2 from scratch: prepare data, train on CPU or GPU, evaluate, sample.",
        discussion: """
            Examples:
              gpt2 prepare                       # tokenise tinyshakespeare into data/tinyshakespeare
              gpt2 train                         # train a small model on it for a few minutes
              gpt2 tokenize --json notes.txt     # GPT-2 token ids of a file
            """,
        subcommands: [
            PrepareCommand.self,
            TrainCommand.self,
            EvalCommand.self,
            SampleCommand.self,
            ExportCommand.self,
            BenchCommand.self,
            InfoCommand.self, KernelsCommand.self,
        ]
    )
}
