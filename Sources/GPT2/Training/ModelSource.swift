/// Finding trained weights from what a user types: a checkpoint folder, a run folder (its newest
/// checkpoint), an llm.c model file, or a Hugging Face GPT-2 (`FILE.safetensors` or a folder holding
/// `model.safetensors`).

public enum ModelSource {
    /// The checkpoint folder `path` names: itself (a folder with a state.json, or named like a checkpoint and holding
    /// none: opening it says what it lacks), or the newest `ckpt_*` inside a run folder.
    public static func checkpointFolder(_ path: String) throws -> String {
        if Checkpoint.holdsState(path) { return path }
        if FileSystem.isDirectory(path), Checkpoint.step(ofFolder: path) != nil, Checkpoint.steps(in: path).isEmpty { return path }
        guard FileSystem.isDirectory(path) else {
            guard !FileSystem.isFile(path) else { throw FileError("\(path) is a file, not a run or checkpoint folder" + advice(forFile: path)) }
            guard FileSystem.realPath(path) != nil else {   // (nothing there, or a link that leads nowhere)
                throw FileError("\(path) does not exist" + (FileSystem.linkContents(path).map { " (a link to \($0), which leads nowhere)" } ?? ""))
            }
            throw FileError("\(path) is neither a file nor a folder (a pipe or a device); give a run or checkpoint folder, or a model file")
        }
        guard let newest = Checkpoint.steps(in: path).last else {
            if !ShardSelection.split(directory: path, split: "train").paths().isEmpty || !ShardSelection.split(directory: path, split: "val").paths().isEmpty {
                throw FileError("\(path) is a folder of token shards (training data), not a run or checkpoint; it goes with --data")
            }
            throw FileError("\(path) holds no checkpoint (no ckpt_STEP folder); train with --checkpoint-every or let a run finish")
        }
        return FileSystem.join(path, Checkpoint.folderName(step: newest))
    }

    /// The weights `path` names, as a path of their own: a run folder's newest checkpoint folder (so that a command can
    /// say which one it read, and read that one), else `path` itself. Fails as loading `path` would on a path that
    /// names no weights, a file among them (its header is read).
    public static func resolve(_ path: String) throws -> String {
        if FileSystem.isFile(path) {
            _ = try config(path)
            return path
        }
        guard case .llmc = try file(path) else { return path }   // (a Hugging Face folder)
        return try checkpointFolder(path)
    }

    /// What to do with a file given for a run: a model file has weights but no run to continue (--init-from takes it);
    /// a token shard goes with --data, in its folder; anything else, nothing to suggest.
    private static func advice(forFile path: String) -> String {
        let magic = try? FileSource(path: path).read(1, of: Int32.self).first
        if path.hasSuffix(".safetensors") || magic == LLMCModelFile.magic {
            return "; to start a new run from a model file's weights, use --init-from \(path)"
        }
        return magic == ShardFormat.magic ? "; it is a token shard: training data goes with --data \(FileSystem.directoryName(path))" : ""
    }

    /// The model shape and weights at `path` (checkpoint folder, run folder, llm.c `.bin` file, or safetensors).
    public static func load(_ path: String) throws -> (config: ModelConfig, parameters: [Float]) {
        try reading(path) { weights in
            switch weights {
            case .llmc(let file): try LLMCModelFile.read(path: file, checksum: Checkpoint.recordedChecksum(ofModelFile: file))
            case .huggingFace(let file): try HuggingFaceGPT2.load(file)
            }
        }
    }

    /// The model shape at `path`, reading no more than it needs (an llm.c file's header; a safetensors header and
    /// config.json).
    public static func config(_ path: String) throws -> ModelConfig {
        try reading(path) { weights in
            switch weights {
            case .llmc(let file): try LLMCModelFile.open(path: file).config
            case .huggingFace(let file): try HuggingFaceGPT2.config(file)
            }
        }
    }

    /// The model `make(config)` builds for the shape at `path`, holding the weights there, which move into it a piece
    /// (llm.c files, as in every checkpoint) or a tensor (safetensors) at a time, with no whole host copy of them.
    public static func loadModel<Ops: Backend>(_ path: String, make: (ModelConfig) throws -> GPT2Model<Ops>) throws -> GPT2Model<Ops> {
        func upload(into model: GPT2Model<Ops>) -> (Range<Int>, UnsafeRawBufferPointer) throws -> Void {
            { range, piece in model.backend.upload(piece, to: model.layout.whole(.parameters).slice(range.lowerBound, range.count)) }
        }
        let opened: any OpenWeightsFile = try reading(path) { weights in
            switch weights {
            case .llmc(let file): try LLMCModelFile.open(path: file, checksum: Checkpoint.recordedChecksum(ofModelFile: file))
            case .huggingFace(let file): try HuggingFaceGPT2.open(file)
            }
        }
        let model = try make(opened.config)
        try namingTheWayOn { try opened.readParameters(upload(into: model)) }
        return model
    }

    /// `body`'s result; the error of a damaged checkpoint file also names the newest complete checkpoint of its run
    /// before it, which may be whole.
    private static func namingTheWayOn<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch var damage as DamagedFileError {
            damage.wayOn = SavedRun.newestCompleteCheckpoint(before: FileSystem.directoryName(damage.path))
                .map { "the newest complete checkpoint of the run before it is \($0)" }
            throw damage
        }
    }

    /// Replaces `model`'s weights with those at `path`, which must have the model's shape (see `loadModel`).
    public static func loadParameters<Ops: Backend>(_ path: String, into model: GPT2Model<Ops>) throws {
        _ = try loadModel(path) { config in
            guard config == model.config else { throw ConfigError("\(path) holds a different model shape than the options") }
            return model
        }
    }

    enum WeightsFile {
        case llmc(String)
        case huggingFace(String)
    }

    /// `read` of the weights file `path` names. When `path` is a run folder whose newest checkpoint went between
    /// finding it and opening it (pruned by a run training there with --keep-last), the newest is found again.
    static func reading<T>(_ path: String, _ read: (WeightsFile) throws -> T) throws -> T {
        var attempts = 0
        while true {
            let weights = try file(path)
            do {
                return try namingTheWayOn { try read(weights) }
            } catch {
                attempts += 1
                guard attempts < 5, case .llmc(let model) = weights, FileSystem.directoryName(model) != path,
                      !FileSystem.exists(FileSystem.directoryName(model)), FileSystem.isDirectory(path) else { throw error }
            }
        }
    }

    /// The file holding the weights `path` names. A folder holding both checkpoints and a model.safetensors (an
    /// export into the run folder) is refused rather than read as either: one of them is older than the other.
    private static func file(_ path: String) throws -> WeightsFile {
        if FileSystem.isFile(path) { return path.hasSuffix(".safetensors") ? .huggingFace(path) : .llmc(path) }
        let safetensors = FileSystem.join(path, HuggingFaceGPT2.modelFileName)
        guard FileSystem.isFile(safetensors) else { return .llmc(FileSystem.join(try checkpointFolder(path), "model.bin")) }
        if Checkpoint.holdsState(path) {   // a checkpoint folder: its weights are model.bin
            throw FileError("\(path) holds both a checkpoint and a model.safetensors; name the one you mean: "
                            + "\(FileSystem.join(path, "model.bin")) or \(safetensors)")
        }
        if !Checkpoint.steps(in: path).isEmpty {
            throw FileError("\(path) holds both checkpoints and a model.safetensors; name the one you mean: "
                            + "\(try checkpointFolder(path)) (the newest checkpoint) or \(safetensors)")
        }
        return .huggingFace(path)
    }
}

/// A weights file opened and its header checked (an llm.c model file, a safetensors GPT-2): the model's shape, and
/// its parameters, in `ParameterKind` order, a piece at a time as fp32.
public protocol OpenWeightsFile {
    var config: ModelConfig { get }
    func readParameters(_ put: (Range<Int>, UnsafeRawBufferPointer) throws -> Void) throws
}
