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
        _ = try preparing(into: directory, name: name) { preparer in
            preparer.waitsForOutput = isPrepared   // (another run started together may be preparing it: its shards are these)
            return try preparer.prepareTinyShakespeare(downloader: downloader, encoder: try tokenizer())
        }
        return directory
    }

    /// `prepare` run with a preparer of `name` into `directory` as the commands make one: Ctrl-C stops it, and the
    /// folders it makes for the shards (`data/` too, in a new working folder) are removed, when empty, if it fails or a
    /// signal stops it (a half-done download keeps its own folder).
    func preparing(into directory: String, name: String,
                   _ prepare: (inout CorpusPreparer) throws -> PreparedShards) throws -> PreparedShards {
        var preparer = CorpusPreparer(outputDirectory: directory, name: name)
        preparer.stopsOnSignals = true
        preparer.madeFolders = FileSystem.missingDirectories(directory)
        do {
            return try prepare(&preparer)
        } catch {
            FileSystem.removeEmptyDirectories(preparer.madeFolders)
            throw error
        }
    }
}
