/// The datasets `gpt2 prepare` knows by name: tinyshakespeare (downloaded text, tokenised here) and
/// fineweb10B (kjj0/fineweb10B-gpt2: shards already tokenised for GPT-2, downloaded, validated and linked).

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public enum NamedDataset: String, CaseIterable, Sendable {
    case tinyshakespeare
    case fineweb10B

    /// llm.c's validation split for tinyshakespeare: the first 32,768 of its 338,028 tokens (~9.7%).
    public static let tinyShakespeareValidationTokens = 32_768
}

extension CorpusPreparer {
    /// Tokenises tinyshakespeare as llm.c does: each blank-line-separated section is a document, and unless
    /// `validationTokens` is set the first 32,768 tokens are the validation split.
    public func prepareTinyShakespeare(downloader: Downloader, encoder: some DocumentEncoder)
        throws(PrepareError) -> PreparedShards
    {
        let path: String
        do { path = try downloader.fetch(.tinyShakespeare) } catch { throw .download(error) }
        var preparer = self
        preparer.validationTokens = validationTokens ?? NamedDataset.tinyShakespeareValidationTokens
        return try preparer.prepare([.blankLineSeparated(path: path)], encoder: encoder)
    }

    /// Fetches fineweb10B's validation shard and its first `trainShards` train shards (each ~100M tokens,
    /// 200 MB) into the download cache (or finds them in the mirror), where the downloader checks each one's header,
    /// size and every token, then links them into the output directory as `NAME_val_000000.bin` and
    /// `NAME_train_000000.bin`… (renumbered from 0). Links of this name beyond them (from a run with more `--shards`)
    /// are removed. A fetch that fails, or a file (not a link) where a link goes, leaves this name's links as they were;
    /// a link that fails to be made or removed leaves the `UnfinishedPrepareMark` over a mix of old and new links.
    public func prepareFineweb10B(trainShards: Int, downloader: Downloader) throws(PrepareError) -> PreparedShards {
        precondition((1...DataFile.fineweb10BTrainShardCount).contains(trainShards), "1…103 train shards")
        let lock = try lockOutput()
        defer { withExtendedLifetime(lock) {} }
        let files = [DataFile.fineweb10BValidation] + (1...trainShards).map { DataFile.fineweb10BTrain($0) }
        var sources: [(path: String, tokens: Int)] = []
        for file in files {
            let source: String
            do { source = try downloader.fetch(file) } catch { throw .download(error) }
            do { sources.append((source, try ShardFormat.tokenCount(ofShardAt: source))) } catch { throw .shard(error) }
        }
        let links = sources.indices.map { position in
            SplitShardWriter.path(directory: outputDirectory, name: name, split: position == 0 ? "val" : "train",
                                  index: position == 0 ? 0 : position - 1)
        }
        if let file = links.first(where: { FileSystem.exists($0) && FileSystem.linkContents($0) == nil }) { throw Self.fileInPlace(of: file) }
        try UnfinishedPrepareMark.set(directory: outputDirectory, name: name)   // (until the links are complete)
        var summary = PreparedShards()
        for (position, ((source, tokens), link)) in zip(sources, links).enumerated() {
            do {
                if try Self.link(link, to: source) { summary.skippedShards += 1 }
            } catch {
                throw replacementUnfinished(because: error.description)
            }
            if position == 0 { summary.validationShards.append((link, tokens)) } else { summary.trainShards.append((link, tokens)) }
            Console.log("\(FileSystem.baseName(link)) → \(source) (\(tokens) tokens, every one checked)")
        }
        try removeStaleShards(except: summary, linksOnly: true, why: "a link from an earlier run with more --shards")
        UnfinishedPrepareMark.clear(directory: outputDirectory, name: name)
        return summary
    }

    /// The error of a file, not a link gpt2 made, where the link `path` goes.
    private static func fileInPlace(of path: String) -> PrepareError {
        .shard(.cannotWrite(path: path, reason: "a file is there, not a link gpt2 made: prepare fineweb10B into another "
                                + "--out (its shards are linked there from the mirror or the download cache, not copied)"))
    }

    /// Makes `link` a symlink to `target` (absolute); returns true when it already was one.
    private static func link(_ link: String, to target: String) throws(PrepareError) -> Bool {
        guard let resolved = realpath(target, nil) else {
            throw .missingInput(path: target, reason: FileSystem.lastErrorMessage)
        }
        let absolute = String(cString: resolved)
        free(resolved)
        let existing = FileSystem.linkContents(link)
        if existing == absolute { return true }
        // (with --out the mirror's or the cache's own folder and a matching --name, the "link" is the shard itself)
        if existing == nil && FileSystem.exists(link) { throw fileInPlace(of: link) }
        FileSystem.remove(link)
        guard symlink(absolute, link) == 0 else {
            throw .shard(.cannotWrite(path: link, reason: FileSystem.lastErrorMessage))
        }
        return false
    }
}
