/// `gpt2 export`: writes a trained model in another program's format: an llm.c model file, or a folder
/// Hugging Face transformers loads as `GPT2LMHeadModel` (model.safetensors + config.json).

import ArgumentParser
import GPT2

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a model's weights to another format.",
        discussion: """
            Examples:
              gpt2 export --checkpoint runs/demo --format llmc --out demo.bin
              gpt2 export --checkpoint runs/demo --format llmc --precision bf16 \\
                --out demo_bf16.bin
              gpt2 export --checkpoint runs/demo --format safetensors --out hf/demo
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case llmc, safetensors }
    enum Precision: String, ExpressibleByArgument, CaseIterable { case fp32, bf16 }

    @Option(help: ArgumentHelp(GPT2Command.checkpointHelp))
    var checkpoint: String

    @Option(help: "Output format: llmc (llm.c's GPT-2 model file) or safetensors (a transformers GPT-2 folder).")
    var format: Format = .llmc

    @Option(help: "Weight precision for llmc: fp32 (version 3) or bf16 (version 5); safetensors is always fp32.")
    var precision: Precision = .fp32

    @Option(help: "File to write for llmc, folder for safetensors (files written atomically, existing ones replaced, a symbolic link's file through it, but never a checkpoint's files, nor a run's own: its folder, ckpt_N, metrics.jsonl, even through a link).")
    var out: String

    func run() throws {
        // checked before the weights load
        if format == .safetensors {
            guard precision == .fp32 else { throw ValidationError("--format safetensors writes fp32 weights; drop --precision") }
            guard !FileSystem.isFile(out) else { throw ValidationError("--out \(out) is a file, and --format safetensors writes a folder") }
        } else if FileSystem.isDirectory(out) || out.hasSuffix("/") {   // (`new/`: made, then refused as a folder)
            throw ValidationError(Checkpoint.holdsState(out)
                ? "--out \(out) is a checkpoint folder, whose files an export would replace; export elsewhere"
                : "--out \(out) is a folder, and --format llmc writes one file (e.g. \(Self.llmcFileSuggestion(for: out)))")
        }
        // A checkpoint's files are its run's: an export there would replace the fp32 weights a resume continues from. Each
        // file is checked where it lands: a symbolic link there is kept and the file it names replaced, which may be a
        // checkpoint's or a run's own (a link to ckpt_N/model.bin let the export replace it).
        let folder = format == .llmc ? FileSystem.directoryName(out) : out
        let writes = format == .llmc ? [out] : [HuggingFaceGPT2.modelFileName, HuggingFaceGPT2.configFileName].map { FileSystem.join(out, $0) }
        for path in writes {
            let landing = try Self.landing(of: path), linked = FileSystem.isSymbolicLink(path)
            let link = linked ? ": \(path) is a link to \(landing)," : ""
            if Checkpoint.holdsState(FileSystem.directoryName(landing)) {
                let checkpoint = FileSystem.directoryName(linked ? landing : path)
                throw ValidationError("--out \(out)\(link) \(linked ? "in" : "is in") checkpoint folder \(checkpoint), whose files it would "
                                      + "replace; export elsewhere")
            }
            if linked && FileSystem.baseName(landing) == MetricsLog.fileName {
                throw ValidationError("--out \(out)\(link) a run's history; export under another name")
            }
        }
        // A model.safetensors beside a run's checkpoints makes its folder name two models to every command that reads it.
        if format == .safetensors, let run = RunFolder.earlierRun(in: out) {
            throw ValidationError("--out \(out) holds a run (\(run)), and a model.safetensors there would leave commands given that "
                                  + "folder two models to choose from; export to a folder of its own, such as \(FileSystem.withoutTrailingSlashes(out))-hf")
        }
        // A name gpt2 train gives its own files: inside a run, a ckpt_N that is no checkpoint stops its resume (and the
        // resume's advice, --overwrite, removes it), and metrics.jsonl is the run's history; anywhere, a trap for later.
        let name = FileSystem.baseName(FileSystem.withoutTrailingSlashes(out))
        if Checkpoint.step(ofFolder: out) != nil || name == MetricsLog.fileName {
            throw ValidationError("--out \(out): \(name) is a name gpt2 train gives the files of a run; export under another name")
        }
        let source = try ModelSource.resolve(checkpoint)
        // Files an export killed part-way left half-written beside its output (a checkpoint's weights each, 0.5 GB for d12).
        let written = format == .llmc ? [FileSystem.baseName(out)] : [HuggingFaceGPT2.modelFileName, HuggingFaceGPT2.configFileName]
        for path in FileSystem.removeAbandonedTemporaries(in: folder, where: written.contains) {
            Console.log("removed \(path), which an interrupted export left unfinished")
        }
        let (config, parameters) = try ModelSource.load(source)
        let from = GPT2Command.resolution(source, of: checkpoint).map { " from " + $0 } ?? ""
        if format == .safetensors {
            // (transformers' vocabulary is unpadded: the padding rows of wte are left out)
            let count = try HuggingFaceGPT2.export(directory: out, config: config, parameters: parameters)
            Console.log("wrote \(out)/\(HuggingFaceGPT2.modelFileName) and \(out)/\(HuggingFaceGPT2.configFileName) (\(count) parameters, fp32)\(from)")
            return
        }
        // The file's folder is created as the safetensors folder is.
        guard FileSystem.makeDirectories(folder) else { throw FileError("cannot create folder \(folder): \(FileSystem.lastErrorMessage)") }
        try LLMCModelFile.write(path: out, config: config, parameters: parameters,
                                precision: precision == .fp32 ? .float32 : .bfloat16)
        let padding = config.paddingParameterCount > 0 ? ", \(config.paddingParameterCount) of them the vocabulary's padding" : ""
        Console.log("wrote \(out) (\(config.parameterCount) parameters\(padding), \(precision.rawValue))\(from)")
    }

    /// Where a write to `path` lands, as an absolute path with its folders' links resolved: the file a symbolic link
    /// there names (the link is kept), else `path`; what the write would refuse (a folder, a device) is refused here.
    private static func landing(of path: String) throws -> String {
        let destination = try AtomicFile.regularFileDestination(path)
        let folder = FileSystem.directoryName(destination)
        return FileSystem.realPath(folder).map { FileSystem.join($0, FileSystem.baseName(destination)) } ?? FileSystem.absolutePath(destination)
    }

    /// A file to suggest for an --out folder: one inside it, or beside a run folder (where a run folder is read as its
    /// newest checkpoint, so a model.bin inside it would be passed over).
    private static func llmcFileSuggestion(for folder: String) -> String {
        guard RunFolder.earlierRun(in: folder) != nil else { return FileSystem.join(folder, "model.bin") }
        return (FileSystem.realPath(folder) ?? FileSystem.withoutTrailingSlashes(folder)) + ".bin"   // (`.` is a name too)
    }
}
