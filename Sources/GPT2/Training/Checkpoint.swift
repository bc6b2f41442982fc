/// Checkpoints: `RUN/ckpt_STEP/` holding the weights (an llm.c fp32 model file), the AdamW moments,
/// and a JSON state (step, options, data-loader and RNG state). Written whole or not at all.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

public enum Checkpoint {
    static let optimizerMagic: Int32 = 20241125

    /// The folder name of the checkpoint taken after `step`.
    public static func folderName(step: Int) -> String { "ckpt_" + String(step) }

    /// The run folder holding checkpoint folder `folder` (`RUN/ckpt_STEP` → `RUN`).
    public static func runDirectory(of folder: String) -> String {
        var path = Substring(folder)
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        return FileSystem.directoryName(String(path))
    }

    /// Writes a checkpoint into `runDirectory`: a temporary folder, each file fsynced, then renamed.
    public static func save<State: Encodable>(runDirectory: String, step: Int, config: ModelConfig, parameters: [Float],
                                              firstMoment: [Float], secondMoment: [Float], state: State) throws {
        let final = runDirectory + "/" + folderName(step: step)
        let partial = runDirectory + "/." + folderName(step: step) + ".partial"
        let files = FileManager.default
        try? files.removeItem(atPath: partial)
        do {
            try files.createDirectory(atPath: partial, withIntermediateDirectories: true)
        } catch {
            throw FileError("cannot create checkpoint folder \(partial): \(error)")
        }
        try LLMCModelFile.write(path: partial + "/model.bin", config: config, parameters: parameters)
        try AtomicFile.write(partial + "/optimizer.bin") { sink in
            try sink.write([optimizerMagic, 1, Int32(truncatingIfNeeded: firstMoment.count), Int32(truncatingIfNeeded: firstMoment.count >> 32)])
            try sink.write(firstMoment)
            try sink.write(secondMoment)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = try encoder.encode(state)
        try AtomicFile.write(partial + "/state.json") { sink in try sink.write(Array(json)) }
        try? files.removeItem(atPath: final)
        guard rename(partial, final) == 0 else { throw FileError.system("rename \(partial) to", final) }
        AtomicFile.syncDirectory(containing: final)
    }

    /// Loads a checkpoint folder, checking that its parts agree with one another.
    public static func load<State: Decodable>(_ folder: String, as: State.Type) throws
        -> (config: ModelConfig, parameters: [Float], firstMoment: [Float], secondMoment: [Float], state: State) {
        guard FileSystem.isFile(folder + "/state.json") else {
            throw FileError("\(folder) is not a checkpoint (no state.json); pass a ckpt_STEP folder or a run folder")
        }
        let (config, parameters) = try LLMCModelFile.read(path: folder + "/model.bin")
        let moments = try ByteFile.contents(ofFile: folder + "/optimizer.bin")
        let count = parameters.count
        guard moments.count == 16 + 8 * count else {
            throw FileError("\(folder)/optimizer.bin has \(moments.count) bytes; the model needs \(16 + 8 * count) — the checkpoint is corrupt")
        }
        let (header, first, second): ([Int32], [Float], [Float]) = moments.withUnsafeBytes { raw in
            let header = (0..<4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) }
            let first = (0..<count).map { raw.loadUnaligned(fromByteOffset: 16 + $0 * 4, as: Float.self) }
            let second = (0..<count).map { raw.loadUnaligned(fromByteOffset: 16 + (count + $0) * 4, as: Float.self) }
            return (header, first, second)
        }
        guard header[0] == optimizerMagic, header[1] == 1 else {
            throw FileError("\(folder)/optimizer.bin is not an optimizer state file (bad magic or version)")
        }
        let json = try ByteFile.contents(ofFile: folder + "/state.json")
        let state: State
        do {
            state = try JSONDecoder().decode(State.self, from: Data(json))
        } catch {
            throw FileError("\(folder)/state.json is corrupt: \(error)")
        }
        return (config, parameters, first, second, state)
    }

    /// Steps of the complete checkpoints in `runDirectory`, ascending.
    public static func steps(in runDirectory: String) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runDirectory)) ?? []
        return names.compactMap { name in
            guard name.hasPrefix("ckpt_") else { return nil }
            return Int(name.dropFirst(5))
        }.sorted()
    }

    /// Removes all but the newest `keep` checkpoints (keep ≤ 0 keeps all).
    public static func prune(runDirectory: String, keep: Int) {
        guard keep > 0 else { return }
        for step in steps(in: runDirectory).dropLast(keep) {
            try? FileManager.default.removeItem(atPath: runDirectory + "/" + folderName(step: step))
        }
    }
}
