/// The GPT-2 tokenizer loaded once per test process from the data mirror's `gpt2/` folder.

import GPT2

public enum TokenizerFixture {
    private static let loaded = Result { try GPT2Tokenizer(directory: TestPaths.mirror.appendingPathComponent("gpt2").path) }

    /// The shared tokenizer (it is immutable and Sendable), or the error loading it gave.
    public static func tokenizer() throws -> GPT2Tokenizer { try loaded.get() }

    /// The folder holding encoder.json and vocab.bpe.
    public static var vocabularyDirectory: String { TestPaths.mirror.appendingPathComponent("gpt2").path }
}
