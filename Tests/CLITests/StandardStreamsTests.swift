/// gpt2 under unusual standard streams and text, run through bash so that descriptors can be closed or sent to
/// /dev/full: results that cannot be written fail the command, a log reader that goes away does not stop a run,
/// a closed stderr is not taken by a file, and bytes that are not UTF-8 are refused instead of read as U+FFFD.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct StandardStreamsTests {
    /// Runs `script` in bash with $G the gpt2 binary, in `directory`.
    private func bash(_ script: String, in directory: String) throws -> CommandResult {
        let gpt2 = buildProductsDirectory.appendingPathComponent("gpt2").path
        return try runCommand("/bin/bash", arguments: ["-c", "G=\"$0\"; " + script, gpt2], workingDirectory: directory)
    }

    /// Results on standard output that do not all arrive (a full disk) or have nowhere to go (stdout closed) fail the
    /// command with the reason: plan, eval, sample and help exited 0 with nothing written.
    @Test func resultsThatCannotBeWrittenFailTheCommand() throws {
        let directory = try TestPaths.temporaryDirectory("streams-results").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = try CLIFixtures.trainedRun()
        let full = "the results could not be written to standard output: No space left on device"
        for (command, redirect, reason) in [("$G plan --device cpu --model tiny --json", "> /dev/full", full),
                                            ("$G sample --checkpoint '\(run)/ckpt_3' --tokens 3 --threads 1", "> /dev/full", full),
                                            ("echo Hello | $G tokenize --vocab-dir '\(TestPaths.mirror.path)/gpt2'", "> /dev/full", full),
                                            ("$G plan --device cpu --model tiny --json", ">&-", "standard output is closed"),
                                            // help is a result too (it exited 0 with nothing written)
                                            ("$G help", "> /dev/full", full),
                                            ("$G train --help", "> /dev/full", full)] {
            let result = try bash("\(command) \(redirect)", in: directory)
            expectOneLineError(result, mentioning: reason)
        }
    }

    /// train's log reader going away (`2>&1 | head -c 1`) leaves the run to finish and checkpoint (SIGPIPE killed it
    /// with nothing saved), and a run with stderr closed writes nothing into its lock file (which took descriptor 2).
    @Test func aRunOutlivesItsLogReaderAndAClosedStderr() throws {
        let directory = try TestPaths.temporaryDirectory("streams-train").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let arguments = try CLIFixtures.trainArguments(out: "RUN", steps: 3).map { "'\($0)'" }.joined(separator: " ")
        let piped = try bash("$G \(arguments.replacingOccurrences(of: "RUN", with: "piped")) 2>&1 | head -c 1 > /dev/null; "
                             + "exit ${PIPESTATUS[0]}", in: directory)
        #expect(piped.status == 0, "\(piped.stderrText)")
        #expect(Checkpoint.steps(in: directory + "/piped") == [3])
        let closed = try bash("$G \(arguments.replacingOccurrences(of: "RUN", with: "closed")) 2>&-", in: directory)
        #expect(closed.status == 0)
        #expect(Checkpoint.steps(in: directory + "/closed") == [3])
        let lock = try FileManager.default.attributesOfItem(atPath: directory + "/closed/.lock")[.size] as? Int
        #expect(lock == 0, "the lock file holds the run's log")
    }

    /// An argument or a variable gpt2 reads that is not UTF-8 is refused by name: read as U+FFFD, it named another
    /// path, which prepare created and filled.
    @Test func textThatIsNotUTF8IsRefused() throws {
        let directory = try TestPaths.temporaryDirectory("streams-utf8").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let argument = try bash("$G tokenize \"$(printf 'in\\377.txt')\"", in: directory)
        expectOneLineError(argument, mentioning: "argument 2 (in\u{FFFD}.txt) is not valid UTF-8: gpt2 takes paths and text in UTF-8")
        let variable = try bash("HOME=\"$(printf '/tmp/h\\377')\" $G plan --device cpu --model tiny", in: directory)
        expectOneLineError(variable, mentioning: "the environment variable HOME is not valid UTF-8")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }
}
