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
              gpt2 prepare                 # tinyshakespeare → data/tinyshakespeare
              gpt2 train                   # a small model on it, a few minutes
              gpt2 sample --checkpoint runs/default --prompt "ROMEO:"
              gpt2 tokenize --json notes.txt
            """,
        subcommands: [
            PrepareCommand.self,
            TrainCommand.self,
            EvalCommand.self,
            SampleCommand.self,
            ExportCommand.self,
            BenchCommand.self,
            TokenizeCommand.self,
        ]
    )
}
