/// The `gpt2` command: prepares data, trains, evaluates, samples and benchmarks GPT-2.
/// Each subcommand lives in its own file as a `…Command` type.

import ArgumentParser
import GPT2

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

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
              gpt2 plan --gpu rtx4070 --model d12 --seq 1024 \\
                --total-batch-tokens 524288 --steps 12000
            """,
        version: BuildInfo.version,
        subcommands: [
            PrepareCommand.self,
            TrainCommand.self,
            EvalCommand.self,
            SampleCommand.self,
            ExportCommand.self,
            BenchCommand.self,
            TokenizeCommand.self,
            InfoCommand.self,
            KernelsCommand.self,
            PlanCommand.self,
            SelfTestCommand.self,
        ]
    )

    /// What `--checkpoint` takes, in every command that reads a model (see `ModelSource`).
    static let checkpointHelp = "A checkpoint folder, a run folder (its newest checkpoint), an llm.c model file, or a safetensors GPT-2."

    /// Which checkpoint the run folder given as `--checkpoint` stood for (`source`, from `ModelSource.resolve`):
    /// "RUN/ckpt_N, the newest checkpoint in RUN"; nil when the path named the weights itself.
    static func resolution(_ source: String, of checkpoint: String) -> String? {
        source == checkpoint ? nil : "\(source), the newest checkpoint in \(checkpoint)"
    }

    /// Logs `resolution`, once the weights have loaded.
    static func logResolved(_ source: String, from checkpoint: String) {
        if let resolution = resolution(source, of: checkpoint) { Console.log("model: " + resolution) }
    }

    /// Parses as usual (a parse or validation error prints usage; a negative number after an option is its
    /// value), but an error thrown while a command runs is a problem with its input, not its usage: it prints
    /// as one `Error: …` line on stderr, exit status 1.
    static func main() {
        // A write beyond the file-size limit (ulimit -f) fails with EFBIG, which is reported like a full disk, rather
        // than killing the process without a word and leaving a half-written file.
        signal(SIGXFSZ, SIG_IGN)
        let closedAtStart = StandardStreams.openClosedOnes()
        if let problem = StandardStreams.undecodableText() { fail(problem) }
        var command: ParsableCommand
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let option = EmptyPathOptions.firstEmpty(in: arguments) {
            fail("\(option) needs a path, and was given an empty one (use . for the current folder)")
        }
        if let problem = CommandNames.problem(in: arguments, root: GPT2Command.self) {
            Console.log("Error: " + problem)
            exit(withError: ExitCode.validationFailure)
        }
        do {
            command = try parseAsRoot(DashedOptionValues.attached(arguments))
        } catch {
            exitAsTheParserDoes(error)
        }
        // train and prepare write their results to files, and only their log to stderr: a reader of it that goes away
        // (`gpt2 train 2>&1 | head`) no longer kills them mid-run (SIGPIPE), losing the work since the last checkpoint.
        // The other commands' results are their standard output, which must then be open and take every byte.
        let writesFiles = command is TrainCommand || command is PrepareCommand
        if writesFiles {
            signal(SIGPIPE, SIG_IGN)
        } else if closedAtStart.contains(1) {
            fail("standard output is closed, and this command's results go there")
        }
        do {
            try command.run()
            if !writesFiles, let problem = StandardStreams.unwrittenOutput() { fail(problem) }
        } catch let error as ValidationError {
            fail(error.message)
        } catch let error as ByteFileError where error.writingStandardOutput {   // (as print's failures read)
            fail(StandardStreams.unwritten(because: error.reason))
        } catch PrepareError.stoppedOnceComplete(let signal, let name, let directory) {   // (no failure: a stop asked for)
            Console.log(PrepareError.stoppedOnceComplete(signal: signal, name: name, directory: directory).description)
            exit(withError: ExitCode(128 + signal))
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            exitAsTheParserDoes(error)  // help requests, clean exits and exit codes keep the parser's handling
        } catch {
            fail(String(describing: error))
        }
    }

    /// Exits as ArgumentParser does for `error`, except that help printed for a clean exit (`--help`, `gpt2 help`) that
    /// does not all reach standard output (a full disk) fails with the reason, as a command's results do; it exited 0.
    private static func exitAsTheParserDoes(_ error: any Error) -> Never {
        guard exitCode(for: error) == .success else { exit(withError: error) }
        let message = fullMessage(for: error)
        if !message.isEmpty { print(message) }
        if let problem = StandardStreams.unwrittenOutput() { fail(problem) }
        exit(withError: ExitCode.success)
    }

    private static func fail(_ message: String) -> Never {
        Console.log("Error: " + message.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: " "))
        exit(withError: ExitCode.failure)
    }
}
