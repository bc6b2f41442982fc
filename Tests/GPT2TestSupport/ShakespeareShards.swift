/// tinyshakespeare as token shards for training and CLI tests, built here (not by `gpt2 prepare`) once per
/// test process: the mirror's text, GPT-2 tokenised, the first 32,768 tokens as val and the rest as train (llm.c's split).

import Foundation
import GPT2

public enum ShakespeareShards {
    /// Tokens held out for validation, as llm.c's tinyshakespeare preparation does.
    public static let validationTokens = 32_768

    private static let built = Result { try build() }

    /// A folder holding `tinyshakespeare_train_000000.bin` and `tinyshakespeare_val_000000.bin`.
    /// Shared by every test in the process: treat it as read-only.
    public static func directory() throws -> String { try built.get().directory }

    /// The whole text's token ids (val tokens first, then train).
    public static func tokens() throws -> [Int] { try built.get().tokens }

    private static func build() throws -> (directory: String, tokens: [Int]) {
        let text = try String(contentsOf: TestPaths.mirror.appendingPathComponent("tinyshakespeare.txt"), encoding: .utf8)
        let tokens = try TokenizerFixture.tokenizer().encode(text)
        let directory = try TestPaths.temporaryDirectory("shakespeare-shards").path
        try ShardWriter.write(Array(tokens.prefix(validationTokens)), to: directory + "/tinyshakespeare_val_000000.bin")
        try ShardWriter.write(Array(tokens.dropFirst(validationTokens)), to: directory + "/tinyshakespeare_train_000000.bin")
        return (directory, tokens)
    }
}
