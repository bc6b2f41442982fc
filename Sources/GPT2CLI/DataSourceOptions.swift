/// The `--mirror` option and what it finds: the GPT-2 tokenizer files and the default corpus,
/// from the offline mirror, the download cache, or the real sources.

import ArgumentParser
import GPT2

struct DataSourceOptions: ParsableArguments {
    @Option(help: "Offline mirror folder standing in for the network, laid out as the download cache: gpt2/encoder.json, gpt2/vocab.bpe, tinyshakespeare.txt, fineweb10B/fineweb_val_000000.bin and fineweb_train_NNNNNN.bin, hellaswag/hellaswag_val.jsonl (default: $GPT2_DATA_MIRROR).")
    var mirror: String?

    var downloader: Downloader { Downloader.fromEnvironment(mirror: mirror) }

    /// The GPT-2 tokenizer, its files fetched from the mirror or downloaded once.
    func tokenizer() throws -> GPT2Tokenizer { try downloader.tokenizer() }

    /// Prepares tinyshakespeare into data/tinyshakespeare if it is not there; returns the folder.
    func prepareDefaultCorpus() throws -> String {
        let directory = "data/tinyshakespeare"
        let name = NamedDataset.tinyshakespeare.rawValue
        let shards = ShardFileName.splits.map { FileSystem.join(directory, ShardFileName.make(name: name, split: $0, index: 0)) }
        @Sendable func isPrepared() -> Bool {
            shards.allSatisfy(ShardFormat.isCompleteShard(at:)) && !FileSystem.exists(UnfinishedPrepareMark.path(directory: directory, name: name))
        }
        if isPrepared() { return directory }
        Console.log("preparing tinyshakespeare into \(directory)")
        var preparer = CorpusPreparer(outputDirectory: directory, name: name)
        preparer.waitsForOutput = isPrepared   // (another run started together may be preparing it: its shards are these)
        preparer.stopsOnSignals = true
        preparer.madeFolders = FileSystem.missingDirectories(directory)   // (data/ too, in a new working folder)
        do {
            _ = try preparer.prepareTinyShakespeare(downloader: downloader, encoder: try tokenizer())
        } catch {
            FileSystem.removeEmptyDirectories(preparer.madeFolders)
            throw error
        }
        return directory
    }
}
