/// Where the data pipeline gets GPT-2's tokenizer: its two files fetched through a `Downloader` (mirror, cache
/// or download), and the conformance that lets `CorpusPreparer` tokenise with it.

extension GPT2Tokenizer: DocumentEncoder {}

extension Downloader {
    /// GPT-2's tokenizer, its `encoder.json` and `vocab.bpe` fetched and checksum-verified first.
    public func tokenizer() throws -> GPT2Tokenizer {
        let encoder = try fetch(.gpt2Encoder)
        let vocabulary = try fetch(.gpt2Vocabulary)
        return try GPT2Tokenizer(encoderJSONPath: encoder, vocabBPEPath: vocabulary)
    }
}
