/// A file the data pipeline needs, named by its path relative to a mirror/cache root, with where to download
/// it and how a copy is checked (its SHA-256 where known). The catalogue of real sources lives here as static members.

public struct DataFile: Sendable, Hashable, CustomStringConvertible {
    /// Path under the mirror or cache root, e.g. `gpt2/encoder.json`.
    public var relativePath: String
    /// Where to download it from when no mirror is given.
    public var url: String
    /// How a copy is known to be the original; nil: it is used as found.
    public var integrity: Integrity?

    /// How a copy of a file is checked.
    public enum Integrity: Sendable, Hashable {
        /// Its SHA-256 (lowercase hex).
        case sha256(String)
        /// A token shard (llm.c format) of at least one token, its header, size and every token checked (where no
        /// hash is pinned).
        case tokenShard
        /// A text file that downloads with exactly this many lines (where no hash is pinned): a download cut short has
        /// fewer. A mirror's copy is used as found, so that it can hold a subset for quick checks.
        case downloadLines(Int)
    }

    public init(relativePath: String, url: String, integrity: Integrity? = nil) {
        self.relativePath = relativePath
        self.url = url
        self.integrity = integrity
    }

    public var description: String { relativePath }
}

extension DataFile {
    private static let openAIModelBlob = "https://openaipublic.blob.core.windows.net/gpt-2/models/124M/"
    private static let fineweb10BRepository = "https://huggingface.co/datasets/kjj0/fineweb10B-gpt2/resolve/main/"

    /// GPT-2's token → id table (OpenAI's original release).
    public static let gpt2Encoder = DataFile(
        relativePath: "gpt2/encoder.json", url: openAIModelBlob + "encoder.json",
        integrity: .sha256("196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"))

    /// GPT-2's BPE merge list (OpenAI's original release).
    public static let gpt2Vocabulary = DataFile(
        relativePath: "gpt2/vocab.bpe", url: openAIModelBlob + "vocab.bpe",
        integrity: .sha256("1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"))

    /// Karpathy's tiny Shakespeare (1,115,394 bytes of plays), from char-rnn.
    public static let tinyShakespeare = DataFile(
        relativePath: "tinyshakespeare.txt",
        url: "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        integrity: .sha256("86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"))

    /// Number of train shards in `kjj0/fineweb10B-gpt2` (`fineweb_train_000001.bin` … `_000103.bin`).
    public static let fineweb10BTrainShardCount = 103

    /// The validation shard of `kjj0/fineweb10B-gpt2` (pre-tokenised, llm.c shard format).
    public static let fineweb10BValidation = fineweb10BShard("fineweb_val_000000.bin")

    /// Train shard `index` (1…103) of `kjj0/fineweb10B-gpt2`.
    public static func fineweb10BTrain(_ index: Int) -> DataFile {
        precondition((1...fineweb10BTrainShardCount).contains(index), "fineweb10B train shards are 1…103")
        return fineweb10BShard("fineweb_train_" + zeroPadded(index, width: 6) + ".bin")
    }

    private static func fineweb10BShard(_ name: String) -> DataFile {
        DataFile(relativePath: "fineweb10B/" + name, url: fineweb10BRepository + name, integrity: .tokenShard)
    }
}
