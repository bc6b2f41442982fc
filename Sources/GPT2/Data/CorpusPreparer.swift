/// Turns text and JSONL corpora into token shards: every document is `<|endoftext|>` + its tokens, the first
/// `validationTokens` of the stream become `NAME_val_*.bin`, the rest `NAME_train_*.bin` (llm.c's layout).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the preparer needs from a tokenizer (`GPT2Tokenizer` conforms); tests substitute a simple one.
public protocol DocumentEncoder: Sendable {
    /// The id that precedes every document.
    static var endOfText: Int { get }
    /// Token ids of each document, tokenised on up to `threads` threads (0: all cores).
    func encodeDocuments(_ documents: [String], threads: Int) -> [[Int]]
}

public struct CorpusPreparer: Sendable {
    public var outputDirectory: String
    /// Shard file prefix: `NAME_train_000000.bin`.
    public var name: String
    public var shardTokens = 100_000_000
    /// Tokens at the start of the stream that form the validation split; nil: `defaultValidationTokens`.
    public var validationTokens: Int?
    public var threads = 0
    /// nil: a prepare already writing the output folder is refused. Set for the demo corpus that two runs started
    /// together both prepare: that prepare is waited for, and then this is asked, holding the folder, whether it left
    /// nothing to do; if so, this prepare writes nothing and returns an empty summary at once (preparing again would
    /// change the shards the other run reads). Asked too when runs are reading the folder (see `lockOutput`).
    public var waitsForOutput: (@Sendable () -> Bool)?
    /// The folders made for this prepare (`FileSystem.missingDirectories` of the output folder, taken before it), which
    /// a Ctrl-C that deletes its shards removes too, when empty: an error's clean-up, the caller's, never runs then.
    public var madeFolders: [String] = []
    /// Whether Ctrl-C, SIGTERM and SIGHUP stop the prepare at once, deleting what it wrote (`StopRequest`): the CLI's
    /// choice. Off, the process's signal dispositions are left alone (a library caller's, or parallel tests', whose
    /// children inherited the ignored signals that a `StopRequest` sets while it listens).
    public var stopsOnSignals = false
    /// Bytes read from an input file at a time (a text file is tokenised in parts of an eighth of this, or less for more
    /// threads: `IndependentPartCutter.partBytes`).
    var chunkBytes = 8 << 20
    /// A batch of documents handed to the tokenizer closes at this many bytes of text, or documents.
    var batchBytes = 8 << 20
    var batchDocuments = 4096
    /// The inputs' size from which their check shows progress.
    var checkProgressBytes = 64 << 20

    public init(outputDirectory: String, name: String) {
        self.outputDirectory = outputDirectory
        self.name = name
    }

    /// Default validation size when none is given: about 10% of the corpus, estimated from its UTF-8 size at
    /// GPT-2's ~4 bytes per token (so it is known before tokenising), capped at 10M tokens.
    public static func defaultValidationTokens(corpusBytes: Int) -> Int { min(10_000_000, max(1, corpusBytes / 40)) }

    /// Validates every input, then tokenises them in order into shards. The new shards wait under temporary names
    /// until the whole corpus is written, so that a prepare that fails (bad input, a full disk, a corpus that leaves
    /// nothing to train on once the validation split is taken) or is interrupted leaves this name's shards as they
    /// were. Then they are moved into place: complete identical shards from an earlier run are kept, stale shards of
    /// this name removed. A prepare interrupted while moving them leaves its `UnfinishedPrepareMark`.
    public func prepare(_ inputs: [CorpusInput], encoder: some DocumentEncoder) throws(PrepareError) -> PreparedShards {
        try tokenise(inputs, corpusBytes: try validate(inputs), encoder: encoder)
    }

    /// As `prepare(_:encoder:)`, but the encoder (e.g. a tokenizer that may need downloading) is only made
    /// once the inputs have been found valid; throws its error or a `PrepareError`.
    public func prepare<Encoder: DocumentEncoder>(_ inputs: [CorpusInput], makeEncoder: () throws -> Encoder) throws
        -> PreparedShards
    {
        let corpusBytes = try validate(inputs)
        return try tokenise(inputs, corpusBytes: corpusBytes, encoder: try makeEncoder())
    }

    /// Throws the error reading input `path` would (missing, a folder, no regular file), for a check before anything is
    /// taken from its name (the shards' default name: `notes/` has none).
    public static func requireReadableInput(_ path: String) throws(PrepareError) { _ = try CorpusFile(path: path) }

    /// Reads every input once, in chunks, to check it (exists, non-empty, UTF-8, JSON); returns the documents'
    /// total bytes. Inputs of `checkProgressBytes` or more show a progress line meanwhile (JSON lines are checked at
    /// tens of MB/s: minutes of a large file, which went without a word). A stream, read once, is left to be checked as
    /// it is tokenised (and its bytes are not counted), so the validation size must be given with one.
    public func validate(_ inputs: [CorpusInput]) throws(PrepareError) -> Int {
        if let stream = inputs.first(where: \.isStream), validationTokens == nil { throw .streamNeedsValidationTokens(path: stream.path) }
        let files = inputs.filter { !$0.isStream }
        let fileBytes = files.reduce(0) { $0 + (FileSystem.size($1.path) ?? 0) }
        let progress = fileBytes >= checkProgressBytes ? ProgressBar("checking", total: fileBytes, unit: "MB", unitScale: 1e6) : nil
        var corpusBytes = 0, read = 0
        for input in files {
            corpusBytes += try CorpusReader.documentBytes(of: input, chunkBytes: chunkBytes) { bytes in
                read += bytes
                progress?.update(read)
            }
        }
        progress?.finish()
        return corpusBytes
    }

    private func tokenise(_ inputs: [CorpusInput], corpusBytes: Int, encoder: some DocumentEncoder)
        throws(PrepareError) -> PreparedShards
    {
        let lock = try lockOutput()
        defer { withExtendedLifetime(lock) {} }
        if let isDone = waitsForOutput, isDone() { return PreparedShards() }
        let gate = StagingGate()
        // (a failure drops the writer below, which deletes the shards it wrote, none of them in place yet; Ctrl-C
        // (`stopsOnSignals`), which would have left them all under temporary names until the next prepare of this name,
        // deletes them too, unless they are being moved into place already, which is finished then; listening from as
        // soon as the folder is held, so that a Ctrl-C after it was made takes it away)
        let quitting = "second signal: quitting now; the shards of \(name) moved so far stay marked unfinished until a prepare of it finishes"
        let stop = !stopsOnSignals ? nil : StopRequest(answer: nil, quitting: quitting) { [outputDirectory, name, madeFolders] number in
            gate.abandon(signal: number) {
                Console.log("interrupted: deleting the shards this prepare wrote; those of \(name) in \(outputDirectory) stay as they were")
                FileSystem.removeAbandonedTemporaries(in: outputDirectory) { ShardFileName.isShard($0, of: name) }
                FileSystem.removeEmptyDirectories(madeFolders)
                _exit(128 + number)
            }
            Console.log("interrupted while moving the new shards of \(name) into place: finishing that, then stopping (signal "
                        + "again to quit now, leaving them to be prepared again)")
        }
        removeAbandonedShards()
        let validation = validationTokens ?? Self.defaultValidationTokens(corpusBytes: corpusBytes)
        let writer = SplitShardWriter(directory: outputDirectory, name: name, shardTokens: shardTokens,
                                      validationTokens: validation, gate: gate)
        // (a stream's size is not known: the line then says how much is done, without a fraction)
        let progress = ProgressBar("tokenising", total: inputs.contains(where: \.isStream) ? nil : corpusBytes, unit: "MB", unitScale: 1e6)
        var doneBytes = 0, doneTokens = 0
        var batch: [DocumentPart] = [], batchTextBytes = 0
        func encodeBatch() throws(PrepareError) {
            for (part, tokens) in zip(batch, encoder.encodeDocuments(batch.map(\.text), threads: threads)) {
                if part.startsDocument {
                    try writer.append([type(of: encoder).endOfText])
                    doneTokens += 1
                }
                try writer.append(tokens)
                doneTokens += tokens.count
            }
            doneBytes += batchTextBytes
            progress.update(doneBytes, detail: "\(doneTokens) tokens")
            batch.removeAll(keepingCapacity: true)
            batchTextBytes = 0
        }
        let workers = WorkerThreads.count(threads)
        for input in inputs {  // a batch never spans inputs
            try CorpusReader.forEachPart(of: input, chunkBytes: chunkBytes, workers: workers) { (part) throws(PrepareError) in
                batch.append(part)
                batchTextBytes += part.text.utf8.count
                if batchTextBytes >= batchBytes || batch.count >= batchDocuments { try encodeBatch() }
            }
            if !batch.isEmpty { try encodeBatch() }
        }
        try writer.finish()
        guard !writer.summary.trainShards.isEmpty else {
            throw .noTrainingTokens(totalTokens: writer.summary.validationTokens, validationTokens: validation,
                                    defaultFromBytes: validationTokens == nil ? corpusBytes : nil)
        }
        progress.finish()
        gate.close()
        try publish(writer)
        stop?.close()
        if let number = gate.stopSignal { throw .stoppedOnceComplete(signal: number, name: name, directory: outputDirectory) }
        return writer.summary
    }

    /// Moves the new shards into place and removes this name's shards the corpus no longer has, under the
    /// `UnfinishedPrepareMark`: a prepare killed meanwhile, or failing (a rename or a removal refused), leaves a mix of
    /// two preparations there, which loaders refuse until a prepare of this name finishes.
    private func publish(_ writer: SplitShardWriter) throws(PrepareError) {
        try UnfinishedPrepareMark.set(directory: outputDirectory, name: name)
        do throws(PrepareError) {
            try writer.publish()
        } catch {
            throw replacementUnfinished(because: error.description)
        }
        try removeStaleShards(except: writer.summary, why: "a stale shard from an earlier run")
        UnfinishedPrepareMark.clear(directory: outputDirectory, name: name)
    }

    /// The error of a prepare that stopped between the old shards and the new, its mark left (see `publish`).
    func replacementUnfinished(because reason: String) -> PrepareError {
        .replacementUnfinished(reason: reason, name: name, mark: UnfinishedPrepareMark.path(directory: outputDirectory, name: name))
    }

    /// Makes the output folder and holds it (an exclusive lock on the folder itself, dropped however the process ends)
    /// for the whole prepare: a second prepare into it is refused (two of the same name left a mixture of both corpora's
    /// shards), and so is a run reading it meanwhile (`DataLoader`); a folder that runs are reading (they hold it shared)
    /// is refused to the prepare, whose shards would change under them. With `waitsForOutput`, another prepare is waited
    /// for, and a folder runs are reading is left to them when `waitsForOutput` says its shards are there (nil is
    /// returned then, as on a filesystem without locks, where the prepare goes on unguarded).
    func lockOutput() throws(PrepareError) -> FileLock? {
        guard FileSystem.makeDirectories(outputDirectory) else {
            throw .cannotCreateDirectory(path: outputDirectory, reason: FileSystem.lastErrorMessage)
        }
        var triedAgain = false
        while true {
            do {
                let lock = try FileLock(folder: outputDirectory, shared: false)
                return lock.unsupportedReason == nil ? lock : nil
            } catch is FileLock.Busy {
                if FileLock.isHeldByAnother(outputDirectory) {   // held exclusively: a prepare
                    guard waitsForOutput != nil else { throw .outputInUse(path: outputDirectory) }
                    triedAgain = false
                    usleep(100_000)
                    continue
                }
                // Held shared (readers), or let go since: the second time, it is readers.
                if !triedAgain {
                    triedAgain = true
                    continue
                }
                guard let isDone = waitsForOutput, isDone() else { throw .outputBeingRead(path: outputDirectory) }
                return nil
            } catch {
                throw .cannotCreateDirectory(path: outputDirectory, reason: "\(error)")
            }
        }
    }

    /// Deletes the shards an earlier prepare of this name that was killed left under temporary names
    /// (`NAME_*.bin.tmp-PID`, half-written or waiting to be moved into place), before this one writes.
    private func removeAbandonedShards() {
        let removed = FileSystem.removeAbandonedTemporaries(in: outputDirectory) { ShardFileName.isShard($0, of: name) }
        for path in removed { Console.log("removed \(path), a shard an interrupted prepare left under a temporary name") }
    }

    /// Deletes this name's shards (`NAME_{train,val}_*.bin`) in the output directory that `summary` does not list, an
    /// earlier run's, so that a loader never mixes them in, saying `why` of each. Throws `replacementUnfinished` where
    /// one cannot be removed (after trying the rest). `linksOnly`: only symbolic links (fineweb10B's shards are links;
    /// a file there is nobody's to delete).
    func removeStaleShards(except summary: PreparedShards, linksOnly: Bool = false, why: String) throws(PrepareError) {
        let kept = Set((summary.validationShards + summary.trainShards).map { FileSystem.baseName($0.path) })
        var failure: String?
        for file in FileSystem.contents(of: outputDirectory) ?? [] where ShardFileName.isShard(file, of: name) && !kept.contains(file) {
            let path = FileSystem.join(outputDirectory, file)
            // (a folder of a shard's name is no shard: it is not removed, and its own error says so where it is in the way)
            guard !FileSystem.isDirectory(path), !linksOnly || FileSystem.isSymbolicLink(path) else { continue }
            if unlink(path) == 0 {
                Console.log("removed \(path): \(why)")
            } else if failure == nil {
                failure = "cannot remove \(path), \(why): \(FileSystem.lastErrorMessage)"
            }
        }
        if let failure { throw replacementUnfinished(because: failure) }
    }
}
