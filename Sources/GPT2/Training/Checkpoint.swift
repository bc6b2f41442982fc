/// Checkpoints: `RUN/ckpt_STEP/` holding the weights (an llm.c fp32 model file), the AdamW moments,
/// a JSON state (step, options, data-loader and RNG state), and the three files' checksums. Written whole or not at
/// all; read only when their bytes are those written.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The three vectors a checkpoint holds, each `parameterCount` fp32 values, in the order they are written.
public enum CheckpointTensor: Hashable, Sendable {
    case parameters, firstMoment, secondMoment

    /// The model buffer the vector lives in.
    public var buffer: BufferKind {
        switch self {
        case .parameters: .parameters
        case .firstMoment: .adamM
        case .secondMoment: .adamV
        }
    }
}

public enum Checkpoint {
    static let optimizerMagic: Int32 = 20241125

    /// The checkpoint format this gpt2 writes, and the newest it reads. 2: state.json names its format and the gpt2
    /// that wrote it, and a checkpoint without its checksums.xxh64 is incomplete. 1: state.json names no format
    /// (written by a gpt2 from before commit 5f4f3c2 of 2026-12-05; its checksums.xxh64 may be missing, a checkpoint
    /// older still had none).
    public static let format = 2

    /// What state.json says of its own format, read before the rest (whose fields a newer format may have changed).
    private struct FormatRecord: Decodable {
        var format: Int?
        var writtenBy: String?
    }

    /// The folder name of the checkpoint taken after `step`.
    public static func folderName(step: Int) -> String { folderPrefix + String(step) }

    /// The step of checkpoint folder `path` (`RUN/ckpt_40` → 40), nil when its name is not a checkpoint's.
    public static func step(ofFolder path: String) -> Int? {
        let base = FileSystem.baseName(FileSystem.withoutTrailingSlashes(path))
        guard base.hasPrefix(folderPrefix), let step = Int(base.dropFirst(folderPrefix.count)), step >= 0 else { return nil }
        return step
    }
    private static let folderPrefix = "ckpt_"
    /// A checkpoint being written is `.ckpt_STEP.partial` (see `partialFolderName`); one being removed,
    /// `.ckpt_STEP.removed`.
    private static let partialPrefix = "." + folderPrefix, partialSuffix = ".partial", removedSuffix = ".removed"

    /// Whether `path` is a folder holding a checkpoint's state.json: a checkpoint, complete or not yet checked.
    public static func holdsState(_ path: String) -> Bool { FileSystem.isFile(FileSystem.join(path, "state.json")) }

    /// The checkpoint folder that `path` is, or is inside (the nearest such ancestor of its deepest existing folder's
    /// real path: a `ckpt_STEP` folder holding a state.json, not any folder with a file of that name); nil for none.
    public static func enclosingCheckpoint(of path: String) -> String? {
        var existing = FileSystem.absolutePath(path)
        while !FileSystem.isDirectory(existing) {
            let parent = FileSystem.directoryName(existing)
            guard parent != existing else { return nil }
            existing = parent
        }
        guard var folder = FileSystem.realPath(existing) else { return nil }
        while true {
            if step(ofFolder: folder) != nil && holdsState(folder) { return folder }
            let parent = FileSystem.directoryName(folder)
            guard parent != folder else { return nil }
            folder = parent
        }
    }

    /// The run folder holding checkpoint folder `folder` (`RUN/ckpt_STEP` → `RUN`): the parent of `realFolder(folder)`.
    public static func runDirectory(of folder: String) -> String {
        FileSystem.directoryName(realFolder(folder))
    }

    /// Checkpoint folder `folder` under the name it really has, whose parent is its run: for a symbolic link, the
    /// folder it leads to (not the link's own folder, where a resume would have gone on as another run); for a `.` or
    /// `..` at the end (`--resume .` inside `RUN/ckpt_3`), its real path (not the checkpoint folder itself, or its run
    /// folder, taken for the run's); else `folder` as given, without trailing slashes.
    public static func realFolder(_ folder: String) -> String {
        let path = FileSystem.withoutTrailingSlashes(folder), name = FileSystem.baseName(path)
        guard FileSystem.isSymbolicLink(path) || name == "." || name == ".." else { return path }
        return FileSystem.realPath(path) ?? path
    }

    /// Writes a checkpoint into `runDirectory`, which must exist (a run folder moved away meanwhile is not made anew
    /// at its path): a temporary folder, each file fsynced, their checksums (`ChecksumList`), then renamed. The three
    /// vectors come from `fill(tensor, range, buffer)` a piece at a time (fp32 values of elements `range`), so that
    /// saving needs no whole copy of them.
    public static func save<State: Encodable>(runDirectory: String, step: Int, config: ModelConfig, state: State,
                                              tensors fill: (CheckpointTensor, Range<Int>, UnsafeMutableRawBufferPointer) throws -> Void) throws {
        let final = runDirectory + "/" + folderName(step: step)
        let partial = runDirectory + "/" + partialFolderName(step: step)
        let files = FileManager.default
        try? files.removeItem(atPath: partial)
        // (mkdir rather than FileManager, whose error is an NSError dump; and no missing run folder is made anew)
        guard mkdir(partial, 0o755) == 0 else { throw FileError.system("create checkpoint folder", partial) }
        do {
            let count = config.parameterCount
            let model = try LLMCModelFile.write(path: partial + "/model.bin", config: config) { range, piece in try fill(.parameters, range, piece) }
            let moments = try AtomicFile.write(partial + "/optimizer.bin") { sink in
                try sink.write([optimizerMagic, 1, Int32(truncatingIfNeeded: count), Int32(truncatingIfNeeded: count >> 32)])
                try sink.writeFloats(count: count) { range, piece in try fill(.firstMoment, range, piece) }
                try sink.writeFloats(count: count) { range, piece in try fill(.secondMoment, range, piece) }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let json = try encoder.encode(state)
            let stateChecksum = try AtomicFile.write(partial + "/state.json") { sink in try sink.write(Array(json)) }
            try ChecksumList(Array(zip(checksummedFiles, [model, moments, stateChecksum]))).write(into: partial)
        } catch {
            try? files.removeItem(atPath: partial)   // a failed save (a full disk) leaves nothing behind
            throw error
        }
        // A checkpoint of the same step is set aside, not deleted, until the new one is in its place.
        let replaced: String?
        do {
            replaced = FileSystem.exists(final) ? try setAside(step: step, in: runDirectory) : nil
        } catch {
            try? files.removeItem(atPath: partial)
            throw error
        }
        guard rename(partial, final) == 0 else { throw FileError.system("rename \(partial) to", final) }
        AtomicFile.syncDirectory(containing: final)
        if let replaced { try? files.removeItem(atPath: replaced) }
    }

    /// Opens a checkpoint folder: reads its state and checks that its files agree with one another and with
    /// their sizes, before any vector is read (`Saved.restore`, which checks their checksums). A checkpoint written
    /// before checksums were has none to check.
    public static func open<State: Decodable>(_ folder: String, as: State.Type) throws -> Saved<State> {
        let (stateBytes, checksums) = try checkedState(folder)
        let model = try LLMCModelFile.open(path: folder + "/model.bin", checksum: checksums?.checksum(of: "model.bin"))
        let moments = try FileSource(path: folder + "/optimizer.bin")
        let count = model.config.parameterCount
        guard moments.size == 16 + 8 * count else {
            throw FileError("\(folder)/optimizer.bin has \(moments.size) bytes; the model needs \(16 + 8 * count) — the checkpoint is corrupt")
        }
        let header = try moments.read(4, of: Int32.self)
        guard header[0] == optimizerMagic, header[1] == 1 else {
            throw FileError("\(folder)/optimizer.bin is not an optimizer state file (bad magic or version)")
        }
        let recordedCount = Int(UInt32(bitPattern: header[2])) | Int(header[3]) << 32
        guard recordedCount == count else {
            throw FileError("\(folder)/optimizer.bin says it holds the moments of \(recordedCount) parameters; the model has \(count) "
                            + "— the checkpoint is corrupt")
        }
        return Saved(config: model.config, state: try decodeState(stateBytes, of: folder, as: State.self), model: model,
                     moments: moments, momentsChecksum: checksums?.checksum(of: "optimizer.bin"))
    }

    /// Reads checkpoint `folder`'s state.json alone, checked against its checksums.xxh64 when there is one, for a reader
    /// that needs what the run saved but none of its vectors (eval finding the run's data).
    public static func readState<State: Decodable>(_ folder: String, as: State.Type) throws -> State {
        try decodeState(checkedState(folder).bytes, of: folder, as: State.self)
    }

    /// Checkpoint `folder`'s state.json, checked against its checksums.xxh64, and that list (nil for a format-1
    /// checkpoint without one). Throws when the folder holds no state.json, the list is damaged or missing where the
    /// format has one, or the format is one this gpt2 does not read.
    private static func checkedState(_ folder: String) throws -> (bytes: [UInt8], checksums: ChecksumList?) {
        guard holdsState(folder) else {
            throw FileError("\(folder) is not a complete checkpoint (no state.json)")
        }
        // The format first: a newer one may list other files (read as this one's, its list would be "damaged").
        let bytes = try ByteFile.contents(ofFile: folder + "/state.json")
        let format = try readableFormat(of: bytes, in: folder)
        let checksums = try ChecksumList.read(in: folder, listing: checksummedFiles)
        try ChecksumList.verify(folder + "/state.json", actual: XXHash64.digest(of: bytes), expected: checksums?.checksum(of: "state.json"))
        if checksums == nil { try refuseMissingChecksums(format: format, in: folder) }
        return (bytes, checksums)
    }

    /// The format state.json `bytes` of checkpoint `folder` names (1 when it names none); throws for one this gpt2 does
    /// not read, naming the gpt2 that wrote it. (A state.json that is no JSON object is refused when decoded whole.)
    private static func readableFormat(of bytes: [UInt8], in folder: String) throws -> Int {
        let record = (try? JSONDecoder().decode(FormatRecord.self, from: Data(bytes))) ?? FormatRecord()
        let format = record.format ?? 1
        guard (1...Self.format).contains(format) else {
            guard format > Self.format else { throw FileError("\(folder)/state.json is corrupt: it names checkpoint format \(format)") }
            throw FileError("\(folder) was written by a newer gpt2 (\(BuildInfo.describe(record.writtenBy ?? "")), checkpoint format "
                            + "\(format)); this one (\(BuildInfo.version)) reads formats up to \(Self.format): "
                            + "use that gpt2, or a later one than this")
        }
        return format
    }

    /// Throws when a checkpoint of `format` comes without the checksums.xxh64 every one of it has.
    private static func refuseMissingChecksums(format: Int, in folder: String) throws {
        guard format >= 2 else { return }
        throw FileError("\(folder) has no checksums.xxh64, which every checkpoint of its format (\(format)) has, so its files "
                        + "cannot be checked against what was saved: put the file back, or go on from another checkpoint")
    }

    private static func decodeState<State: Decodable>(_ bytes: [UInt8], of folder: String, as: State.Type) throws -> State {
        let json = Data(bytes)
        do {
            return try JSONDecoder().decode(State.self, from: json)
        } catch {
            throw FileError("\(folder)/state.json is corrupt: \(decodingErrorText(error, in: json))")
        }
    }

    /// The XXH64 recorded for model file `path` when it is a checkpoint's model.bin (beside a state.json, and listed in
    /// the checksums.xxh64 there), for `LLMCModelFile.open`; nil for any other file (a list beside one is not ours), and
    /// for a format-1 checkpoint without a list. The weights alone need nothing else of the checkpoint: its state.json
    /// is read (unchecked) only when the list is missing, for the format.
    public static func recordedChecksum(ofModelFile path: String) throws -> UInt64? {
        let folder = FileSystem.directoryName(path)
        guard FileSystem.baseName(path) == "model.bin", holdsState(folder) else { return nil }
        if let list = try ChecksumList.read(in: folder, listing: checksummedFiles) { return list.checksum(of: "model.bin") }
        let state = try ByteFile.contents(ofFile: folder + "/state.json")
        try refuseMissingChecksums(format: (try? readableFormat(of: state, in: folder)) ?? 1, in: folder)
        return nil
    }

    /// Reads the files of checkpoint `folder` whole, and throws `DamagedFileError` for the first whose bytes are not
    /// those its checksums.xxh64 lists (with no list, there is nothing to check).
    public static func verifyFiles(in folder: String) throws {
        guard let list = try checkedState(folder).checksums else { return }
        for name in checksummedFiles {
            let file = try FileSource(path: FileSystem.join(folder, name))
            try file.readRest()
            try ChecksumList.verify(file.path, actual: file.checksumOfBytesRead.digest, expected: list.checksum(of: name))
        }
    }

    /// The files of a checkpoint that its checksums.xxh64 lists.
    private static let checksummedFiles = ["model.bin", "optimizer.bin", "state.json"]

    /// An opened checkpoint: its model shape and state, and its vectors ready to be read.
    public struct Saved<State> {
        public let config: ModelConfig
        public let state: State
        let model: LLMCModelFile.OpenFile
        let moments: FileSource
        let momentsChecksum: UInt64?

        /// Reads the three vectors once, handing them to `put(tensor, range, buffer)` a piece at a time (fp32 values
        /// of elements `range`), so that loading needs no whole copy of them; then throws `DamagedFileError` if a file's
        /// bytes are not those its checksum lists (what was handed over is then not what was saved).
        public func restore(_ put: (CheckpointTensor, Range<Int>, UnsafeRawBufferPointer) throws -> Void) throws {
            try model.readParameters { range, piece in try put(.parameters, range, piece) }
            try moments.readFloats(count: config.parameterCount) { range, piece in try put(.firstMoment, range, piece) }
            try moments.readFloats(count: config.parameterCount) { range, piece in try put(.secondMoment, range, piece) }
            try ChecksumList.verify(moments.path, actual: moments.checksumOfBytesRead.digest, expected: momentsChecksum)
        }
    }

    /// The folder a checkpoint is written into before it is renamed to `folderName(step:)`.
    static func partialFolderName(step: Int) -> String { partialPrefix + String(step) + partialSuffix }

    /// Removes the half-written or half-removed checkpoint folders that a save or a removal interrupted for good (a
    /// second Ctrl-C, a crash, a power cut) left in `runDirectory`; call it only while no save can be running there
    /// (holding its `RunLock`).
    static func removeUnfinished(in runDirectory: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: runDirectory)) ?? []
        where name.hasPrefix(partialPrefix) && (name.hasSuffix(partialSuffix) || name.hasSuffix(removedSuffix)) {
            try? FileManager.default.removeItem(atPath: runDirectory + "/" + name)
        }
    }

    /// Steps of the complete checkpoints in `runDirectory`, ascending: the folders named as `folderName(step:)`
    /// names them (not `ckpt_-3` or `ckpt_007`, which no save writes and a load of that step would not find).
    public static func steps(in runDirectory: String) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runDirectory)) ?? []
        return names.compactMap { name in
            step(ofFolder: name).flatMap { folderName(step: $0) == name ? $0 : nil }
        }.sorted()
    }

    /// Removes all but the newest `keep` checkpoints (keep ≤ 0 keeps all). One that cannot be removed is left, with
    /// a warning: it takes the disk space --keep-last was given to free (a d48 checkpoint is ~18 GB). Returns the steps removed.
    @discardableResult
    public static func prune(runDirectory: String, keep: Int) -> [Int] {
        guard keep > 0 else { return [] }
        return steps(in: runDirectory).dropLast(keep).filter { step in
            do {
                try remove(step: step, in: runDirectory)
                return true
            } catch {
                Console.log("warning: --keep-last could not remove checkpoint \(step) (\(error)); remove it yourself to free its space")
                return false
            }
        }
    }

    /// What `prune` did, for the log: "removed ckpt_2, ckpt_3 (--keep-last 1)"; nil when it removed none.
    public static func pruneNote(removed: [Int], keep: Int) -> String? {
        removed.isEmpty ? nil : "removed \(removed.map(folderName(step:)).joined(separator: ", ")) (--keep-last \(keep))"
    }

    /// Removes checkpoint `step` from `runDirectory` so that `steps(in:)` never lists a half-removed one (a resume
    /// would pick it up as the newest): renamed to `.ckpt_STEP.removed` first, which `removeUnfinished` clears if the
    /// removal is cut short, then deleted.
    public static func remove(step: Int, in runDirectory: String) throws {
        try FileSystem.removeTree(try setAside(step: step, in: runDirectory))
    }

    /// Renames checkpoint `step` out of `steps(in:)`'s sight, to `.ckpt_STEP.removed`, and returns that path.
    private static func setAside(step: Int, in runDirectory: String) throws -> String {
        let folder = runDirectory + "/" + folderName(step: step)
        let removed = runDirectory + "/" + partialPrefix + String(step) + removedSuffix
        try? FileManager.default.removeItem(atPath: removed)
        guard rename(folder, removed) == 0 else { throw FileError.system("rename \(folder) to", removed) }
        return removed
    }
}
