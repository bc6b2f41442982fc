/// The `--mirror` option and what it finds: the GPT-2 tokenizer files and the default corpus,
/// from the offline mirror, the download cache, or the real sources.

import ArgumentParser
import GPT2

struct DataSourceOptions: ParsableArguments {
    @Option(help: "Offline mirror folder standing in for the network (default: $GPT2_DATA_MIRROR).")
    var mirror: String?

    var downloader: Downloader { Downloader.fromEnvironment(mirror: mirror) }

    /// The GPT-2 tokenizer, its files fetched from the mirror or downloaded once.
    func tokenizer() throws -> GPT2Tokenizer {
        let downloader = self.downloader
        return try GPT2Tokenizer(encoderJSONPath: downloader.fetch(.gpt2Encoder),
                                 vocabBPEPath: downloader.fetch(.gpt2Vocabulary))
    }

    /// Prepares tinyshakespeare into data/tinyshakespeare if it is not there; returns the folder.
    func prepareDefaultCorpus() throws -> String {
        throw ValidationError("PENDING prepare")
    }
}
