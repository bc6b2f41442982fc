/// `gpt2 prepare`: tokenises text/JSONL files or a named dataset into llm.c-format token shards
/// (`DIR/NAME_val_000000.bin`, `DIR/NAME_train_000000.bin`, …) for `gpt2 train`.

import ArgumentParser
import GPT2

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Tokenise a corpus into GPT-2 token shards (llm.c / modded-nanogpt format).",
        discussion: """
            Every document is preceded by <|endoftext|> (50256). The first --val-tokens \
            tokens form the val split, the rest the train split, in shards of \
            --shard-tokens. Re-running keeps shards that are already complete; shards \
            are written atomically. A prepare of other inputs or options (--val-tokens, \
            --shard-tokens) under the same name replaces that name's shards, and says how many.

            Inputs: a UTF-8 text file is one document; a .jsonl (or .ndjson or .json) file \
            holds one JSON object per line whose --field is the document. - reads standard \
            input, and a pipe such as <(zstdcat F) works too: a stream is read once, checked \
            as it is tokenised, and needs --format (text or jsonl) and --val-tokens (and \
            --name if it comes first). Or name a dataset:
              tinyshakespeare  sections split at blank lines (as llm.c does); val is
                               the first 32,768 tokens (~10%). The default.
              fineweb10B       kjj0/fineweb10B-gpt2, already tokenised: the val shard
                               and --shards N train shards (100M tokens each) are
                               downloaded into the cache and checked.
            For your own files, --val-tokens defaults to the documents' bytes / 40 (the \
            text, not a JSONL file's JSON around it: about a tenth at 4 bytes a token, \
            a twelfth for English prose), at most 10M.

            Examples:
              gpt2 prepare                        # tinyshakespeare
              gpt2 prepare fineweb10B --shards 8  # 800M tokens
              gpt2 prepare notes/*.txt --name notes
              gpt2 prepare corpus.jsonl --field body --out data/corpus
              zstdcat web.jsonl.zst | gpt2 prepare - --format jsonl \\
                  --name web --val-tokens 1000000
              gpt2 prepare --mirror /srv/gpt2-data  # offline mirror
            """)

    @Argument(help: "Text or .jsonl/.ndjson/.json files (- for standard input), or a dataset name (tinyshakespeare, fineweb10B).")
    var inputs: [String] = []

    @Option(help: "How to read - (standard input) and other streams, which have no file name to tell by: text (one document) or jsonl (one JSON object per line). Files go by their extension.")
    var format: InputFormat?

    @Option(help: "Output folder (default: data/NAME).")
    var out: String?

    @Option(help: "Shard file prefix (default: the dataset name, or the first input's file name).")
    var name: String?

    @Option(help: "JSON field holding each document in .jsonl/.ndjson/.json inputs. (default: text)")
    var field: String?

    static let minimumShardTokens = 1 << 16

    @Option(help: "Tokens per shard (at least 65536). (default: 100000000, llm.c's)")
    var shardTokens: Int?

    @Option(help: "Tokens at the start of the stream that form the val split (default: see above).")
    var valTokens: Int?

    @Option(help: "fineweb10B only: how many of its 103 train shards to fetch. (default: 8)")
    var shards: Int?

    @Option(help: "Tokeniser threads (0: one per core). (default: 0)")
    var threads: Int?

    @OptionGroup var dataSource: DataSourceOptions

    func validate() throws {
        // (below 64Ki tokens, 128 KiB, a corpus becomes more files than data: --shard-tokens 1 made one per token)
        if let shardTokens, !(Self.minimumShardTokens...Int(Int32.max)).contains(shardTokens) {
            throw ValidationError("--shard-tokens must be between \(Self.minimumShardTokens) and 2^31-1 (got \(shardTokens); llm.c's shards hold 100M)")
        }
        if let valTokens, valTokens < 0 { throw ValidationError("--val-tokens must be 0 or more") }
        if let shards, !(1...DataFile.fineweb10BTrainShardCount).contains(shards) {
            throw ValidationError("--shards must be in 1…\(DataFile.fineweb10BTrainShardCount)")
        }
        if let threads { try WorkerThreads.require(threads) }
        if let name { try Self.requireShardName(name, from: "--name") }
    }

    /// How `--format` reads a stream.
    enum InputFormat: String, ExpressibleByArgument, CaseIterable {
        case text, jsonl

        func input(_ path: String, field: String) -> CorpusInput {
            self == .text ? .text(path: path) : .jsonLines(path: path, field: field)
        }
    }

    /// fineweb10B's train shards fetched when --shards is not given.
    static let defaultFinewebShards = 8

    func run() throws {
        let dataset = namedDataset
        if dataset == nil { try Self.requireNoMistypedDatasetName(inputs) }
        let corpus = corpusInputs(), streams = corpus.filter(\.isStream)
        // Options that do not apply to what is prepared are refused rather than ignored.
        let given = [("--val-tokens", valTokens != nil), ("--shard-tokens", shardTokens != nil), ("--field", field != nil),
                     ("--shards", shards != nil), ("--threads", threads != nil), ("--format", format != nil)].filter(\.1).map(\.0)
        // --field names the document in JSONL lines, so it applies only where a JSONL file is given.
        let hasJSONLines = corpus.contains { if case .jsonLines = $0 { true } else { false } }
        let applicable: Set<String> = switch dataset {
        case .fineweb10B: ["--shards"]   // (its shards come tokenised and cut, its validation shard with them)
        case .tinyshakespeare: ["--val-tokens", "--shard-tokens", "--threads"]
        case nil: Set(["--val-tokens", "--shard-tokens", "--threads"] + (hasJSONLines ? ["--field"] : []) + (streams.isEmpty ? [] : ["--format"]))
        }
        if let option = given.first(where: { !applicable.contains($0) }) {
            let files = switch option {
            case "--field": "text inputs, only to JSON lines: .jsonl, .ndjson and .json files, and streams read with --format jsonl"
            case "--format": "files, which go by their extension; only to - (standard input) and other streams"
            default: "text and JSONL files"
            }
            throw ValidationError("\(option) does not apply to \(dataset.map { "the \($0.rawValue) dataset" } ?? files)")
        }
        func shown(_ path: String) -> String { path == CorpusInput.standardInput ? "- (standard input)" : path }
        var seen: [FileSystem.Identity: String] = [:]
        for stream in streams {
            guard let identity = stream.identity else { continue }
            if let first = seen[identity] {
                throw ValidationError((first == stream.path ? "\(shown(first)) is given more than once"
                                                             : "\(shown(first)) and \(shown(stream.path)) are one stream") + "; a stream can be read only once")
            }
            seen[identity] = stream.path
        }
        if dataset == nil, let stream = streams.first {
            if format == nil {
                throw ValidationError("\(shown(stream.path)) is a stream, read once: give --format text or --format jsonl to say how to read it")
            }
            if stream == corpus[0] && name == nil {
                throw ValidationError("\(shown(stream.path)) has no file name to name the shards after: give --name")
            }
        }
        let prefix = try name ?? dataset?.rawValue ?? {
            try CorpusPreparer.requireReadableInput(inputs[0])   // (a folder, `notes/`, is said as such, not as a name '')
            let stem = Self.stem(of: inputs[0])
            try Self.requireShardName(stem, from: "the first input's file name (choose another with --name)")
            return stem
        }()
        try prepare(dataset, corpus, into: out ?? "data/\(prefix)", name: prefix)
    }

    private func prepare(_ dataset: NamedDataset?, _ corpus: [CorpusInput], into outputDirectory: String, name prefix: String) throws {
        let summary = try dataSource.preparing(into: outputDirectory, name: prefix) { preparer in
            if let shardTokens { preparer.shardTokens = shardTokens }
            preparer.validationTokens = valTokens
            preparer.threads = threads ?? 0
            switch dataset {
            case .tinyshakespeare:
                return try preparer.prepareTinyShakespeare(downloader: dataSource.downloader, encoder: try dataSource.tokenizer())
            case .fineweb10B:
                return try preparer.prepareFineweb10B(trainShards: shards ?? Self.defaultFinewebShards, downloader: dataSource.downloader)
            case nil:
                return try preparer.prepare(corpus, makeEncoder: dataSource.tokenizer)
            }
        }
        if dataset == nil {
            var times: [String: Int] = [:]
            for input in inputs { times[FileSystem.realPath(input) ?? input, default: 0] += 1 }
            for (path, count) in times.sorted(by: { $0.key < $1.key }) where count > 1 {
                Console.log("note: \(path) is given \(count) times, so its documents are in the corpus as often")
            }
        }
        // (train and eval read every name's shards in a folder as one split; fineweb10B's shards are named fineweb_*)
        let others = dataset == .fineweb10B ? []
            : Set((FileSystem.contents(of: outputDirectory) ?? []).compactMap(ShardFileName.corpusName(of:))).subtracting([prefix])
        if !others.isEmpty {
            Console.log("note: \(outputDirectory) also holds the shards of \(others.sorted().joined(separator: ", ")), which train and eval "
                        + "read with these as one corpus; prepare into another --out to keep them apart")
        }
        Console.log("\(outputDirectory): val \(summary.validationTokens) tokens in "
                    + "\(summary.validationShards.count) shard(s), train \(summary.trainTokens) tokens in "
                    + "\(summary.trainShards.count) shard(s); \(summary.skippedShards) already complete"
                    + (summary.replacedShards > 0 ? ", \(summary.replacedShards) replaced (they held other tokens: an earlier prepare of "
                       + "other inputs or options under the name \(prefix), or of the same by an earlier gpt2 that read them "
                       + "otherwise; a run that trained on them no longer resumes on these)" : ""))
    }

    /// The inputs: files by their extensions, streams as --format says (text where it is not given, which is refused).
    private func corpusInputs() -> [CorpusInput] {
        inputs.map { path in
            let file = CorpusInput.detect(path: path, field: field ?? "text")
            return file.isStream ? (format ?? .text).input(path, field: field ?? "text") : file
        }
    }

    /// The dataset the inputs name: none given → tinyshakespeare; one name that is not a file → that dataset.
    private var namedDataset: NamedDataset? {
        if inputs.isEmpty { return .tinyshakespeare }
        guard inputs.count == 1, !FileSystem.isFile(inputs[0]) else { return nil }
        return NamedDataset(rawValue: inputs[0])
    }

    /// An input that is no file and looks like a name (no '/', no extension) was meant as a dataset: refused with the
    /// names, before the options are checked against text files (`fineweb10b --shards 1` was told --shards does not apply);
    /// a dataset's name among files, as prepared alone.
    private static func requireNoMistypedDatasetName(_ inputs: [String]) throws {
        guard let name = inputs.first(where: { $0 != CorpusInput.standardInput && !FileSystem.exists($0) && !$0.contains("/") && !$0.contains(".") })
        else { return }
        if let dataset = NamedDataset(rawValue: name) {
            throw ValidationError("\(name) is a dataset, prepared on its own (gpt2 prepare \(dataset.rawValue)), not with other inputs")
        }
        let names = NamedDataset.allCases.map(\.rawValue)
        let meant = names.first { $0.lowercased() == name.lowercased() }.map { " (did you mean \($0)? names are case-sensitive)" }
        throw ValidationError("\(name) is neither a file nor a dataset name; the datasets are \(names.joined(separator: " and "))"
                              + (meant ?? ""))
    }

    /// The name starts the shards' file names in --out, and training finds a split by `_train_` / `_val_` in them.
    private static func requireShardName(_ name: String, from source: String) throws {
        if let problem = ShardFileName.problem(withName: name) {
            throw ValidationError("the shards' name '\(name)', from \(source), \(problem)")
        }
    }

    /// `dir/name.ext` → `name`.
    private static func stem(of path: String) -> String {
        let base = FileSystem.baseName(path)
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return base }
        return String(base[..<dot])
    }
}
