/// What `gpt2 eval` and `gpt2 sample` options do, seen in their output: eval's default sequence length, the split its
/// text names, the note for batches beyond the split; sampling's --top-k, its empty prompt and its last newline (found
/// by mutation testing: each could change without a test noticing).

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct EvalAndSampleOptionEffectsTests {
    private func eval(_ options: [String]) throws -> CommandResult {
        let result = try runGPT2(arguments: ["eval", "--checkpoint", try CLIFixtures.trainedRun(), "--data", try ShakespeareShards.directory(),
                                             "--threads", "2"] + options)
        try #require(result.status == 0, "\(result.stderrText)")
        return result
    }

    /// Without --seq, eval reads sequences of the model's context (tiny's 64 tokens, under the cap of 1,024): one batch
    /// of 2 is 128 tokens.
    @Test func evalSequencesAreTheModelsContextByDefault() throws {
        let result = try eval(["--micro-batch", "2", "--batches", "1", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], "\(result.stdoutText)")
        #expect(object["tokens"] as? Int == 128, "\(object)")
    }

    /// The text result names the split evaluated: `train loss X over 16 tokens` for one batch of 1 × 16 of --split train.
    @Test func evalTextNamesTheSplit() throws {
        let text = try eval(["--split", "train", "--micro-batch", "1", "--seq", "16", "--batches", "1"]).stdoutText
        #expect(text.hasPrefix("train loss ") && text.hasSuffix(" over 16 tokens\n"), "\(text)")
    }

    /// One batch more than the split holds is noted too: the 32,768 validation tokens make (32,768 − 1) / (4 × 64) = 127
    /// batches (each needs its targets, one token further), so --batches 128 evaluates 127, 32,512 tokens.
    @Test func evalNotesEvenOneBatchTooMany() throws {
        let result = try eval(["--micro-batch", "4", "--seq", "64", "--batches", "128", "--json"])
        #expect(result.stderrText.contains("note: the val split holds 127 batches of 4 × 64 tokens: evaluating those"), "\(result.stderrText)")
        let object = try #require(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any], "\(result.stdoutText)")
        #expect(object["tokens"] as? Int == 127 * 256, "\(object)")
    }

    private func sample(_ options: [String]) throws -> CommandResult {
        try runGPT2(arguments: ["sample", "--checkpoint", try CLIFixtures.trainedRun(), "--tokens", "6", "--mirror", TestPaths.mirror.path,
                                "--threads", "2"] + options)
    }

    /// Sampling among the one most likely token is greedy decoding whatever the temperature and seed, so --top-k 1 at
    /// temperature 1 prints what temperature 0 does; --top-k 0 (all tokens) is taken too.
    @Test func topKOneSamplesAsGreedyDecodingDoes() throws {
        let greedy = try sample(["--prompt", "ROMEO:", "--temperature", "0"])
        let topOne = try sample(["--prompt", "ROMEO:", "--temperature", "1", "--top-k", "1", "--seed", "5"])
        try #require(greedy.status == 0 && topOne.status == 0, "\(greedy.stderrText)\(topOne.stderrText)")
        #expect(topOne.stdoutText == greedy.stdoutText, "top-k 1: \(topOne.stdoutText), greedy: \(greedy.stdoutText)")
        let all = try sample(["--prompt", "ROMEO:", "--top-k", "0"])
        #expect(all.status == 0 && all.stdoutText.hasPrefix("ROMEO:"), "\(all.stderrText)")
    }

    /// The sample is UTF-8 however its tokens split characters: from all 50,257 tokens, this seed draws pieces of
    /// characters that the next token does not complete, which are printed as U+FFFD (they were written as they came,
    /// and `gpt2 sample … | gpt2 tokenize` refused the text).
    @Test func aSampleIsUTF8WhereItsTokensSplitCharacters() throws {
        let result = try runGPT2(arguments: ["sample", "--checkpoint", try CLIFixtures.trainedRun(), "--tokens", "300", "--top-k", "0",
                                             "--mirror", TestPaths.mirror.path, "--threads", "2"])
        try #require(result.status == 0, "\(result.stderrText)")
        let text = try #require(String(validating: result.stdout, as: UTF8.self), "not UTF-8: \(Array(result.stdout))")
        #expect(text.contains("\u{FFFD}"), "no character was split here, so this checks nothing: \(text)")
    }

    /// An empty prompt samples a document's start (after <|endoftext|>), and the text ends with a newline.
    @Test func anEmptyPromptSamplesADocumentsStart() throws {
        let result = try sample(["--prompt", "", "--temperature", "0"])
        #expect(result.status == 0 && result.stdoutText.count > 1 && result.stdoutText.hasSuffix("\n"), "\(result.stderrText)")
        let prompted = try sample(["--prompt", "ROMEO:"])
        #expect(prompted.status == 0 && prompted.stdoutText.hasSuffix("\n"), "\(prompted.stdoutText)")
    }
}
