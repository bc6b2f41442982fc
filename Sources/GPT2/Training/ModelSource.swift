/// Finding trained weights from what a user types: a checkpoint folder, a run folder (its newest
/// checkpoint), an llm.c model file, or a Hugging Face GPT-2 (`FILE.safetensors` or a folder holding
/// `model.safetensors`).

public enum ModelSource {
    /// The checkpoint folder `path` names: itself, or the newest `ckpt_*` inside a run folder.
    public static func checkpointFolder(_ path: String) throws -> String {
        if FileSystem.isFile(FileSystem.join(path, "state.json")) { return path }
        guard FileSystem.isDirectory(path) else { throw FileError("\(path) does not exist") }
        guard let newest = Checkpoint.steps(in: path).last else {
            throw FileError("\(path) holds no checkpoint (no ckpt_STEP folder); train with --checkpoint-every or let a run finish")
        }
        return FileSystem.join(path, Checkpoint.folderName(step: newest))
    }

    /// The model shape and weights at `path` (checkpoint folder, run folder, llm.c `.bin` file, or safetensors).
    public static func load(_ path: String) throws -> (config: ModelConfig, parameters: [Float]) {
        if FileSystem.isFile(path) {
            return path.hasSuffix(".safetensors") ? try HuggingFaceGPT2.load(path) : try LLMCModelFile.read(path: path)
        }
        if FileSystem.isFile(FileSystem.join(path, "model.safetensors")) { return try HuggingFaceGPT2.load(path) }
        return try LLMCModelFile.read(path: FileSystem.join(try checkpointFolder(path), "model.bin"))
    }
}
