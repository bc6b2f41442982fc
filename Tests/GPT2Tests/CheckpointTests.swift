/// Checkpoints: save/load is exact, the vectors move in bounded pieces, pruning keeps the newest, a half-written checkpoint is invisible,
/// every kind of damage gives a `FileError` naming the file instead of a crash or a silent mis-load, and a value changed
/// in place (sizes and headers still right) is found by the files' checksums.

import Foundation
@testable import GPT2
import GPT2TestSupport
import Testing

@Suite struct CheckpointTests {
    struct State: Codable, Equatable {
        var step: Int
        var note: String
    }

    let config = ModelConfig(maxSequenceLength: 8, vocabularySize: 50, layers: 1, heads: 2, channels: 8)

    private func save(_ run: String, step: Int, seed: UInt64 = 1) throws -> (parameters: [Float], first: [Float], second: [Float]) {
        var data = TestData(seed: seed)
        let n = config.parameterCount
        let tensors = (data.normal(n), data.normal(n, standardDeviation: 1e-3), data.uniform(n, 0, 1e-6))
        try Checkpoint.save(runDirectory: run, step: step, config: config, parameters: tensors.0, firstMoment: tensors.1,
                            secondMoment: tensors.2, state: State(step: step, note: "ünïcode ✓"))
        return tensors
    }

    private func withRun(_ body: (String) throws -> Void) throws {
        let directory = try TestPaths.temporaryDirectory("checkpoint")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(atPath: directory.path + "/run", withIntermediateDirectories: false)
        try body(directory.path + "/run")
    }

    /// A run folder that is gone (moved away while its run trains) is not made anew by a save: the save fails.
    @Test func aMissingRunFolderIsNotMadeAnew() throws {
        try withRun { run in
            try FileManager.default.removeItem(atPath: run)
            #expect(throws: FileError.self) { _ = try save(run, step: 1) }
            #expect(!FileManager.default.fileExists(atPath: run))
        }
    }

    @Test func roundTripIsExact() throws {
        try withRun { run in
            let saved = try save(run, step: 12)
            let loaded = try Checkpoint.load(run + "/ckpt_12", as: State.self)
            #expect(loaded.config == config)
            #expect(loaded.parameters.map(\.bitPattern) == saved.parameters.map(\.bitPattern))
            #expect(loaded.firstMoment.map(\.bitPattern) == saved.first.map(\.bitPattern))
            #expect(loaded.secondMoment.map(\.bitPattern) == saved.second.map(\.bitPattern))
            #expect(loaded.state == State(step: 12, note: "ünïcode ✓"))
            #expect(try ModelSource.checkpointFolder(run) == run + "/ckpt_12")
        }
    }

    /// Saving asks for, and restoring hands out, each vector in pieces of at most `floatStreamPiece` floats that
    /// tile it in order, so neither needs a whole copy; the vectors come back bit for bit across piece boundaries.
    @Test func vectorsMoveInBoundedPiecesInOrder() throws {
        let large = ModelConfig(maxSequenceLength: 16, vocabularySize: 8000, layers: 1, heads: 2, channels: 128)
        let n = large.parameterCount
        #expect(n > floatStreamPiece)
        var data = TestData(seed: 4)
        let vectors: [CheckpointTensor: [Float]] = [.parameters: data.normal(n), .firstMoment: data.normal(n, standardDeviation: 1e-3),
                                                    .secondMoment: data.uniform(n, 0, 1e-6)]
        func expectTiling(_ pieces: [(CheckpointTensor, Range<Int>)], _ what: String) {
            #expect(pieces.map(\.0) == [.parameters, .parameters, .firstMoment, .firstMoment, .secondMoment, .secondMoment], "\(what)")
            for tensor in [CheckpointTensor.parameters, .firstMoment, .secondMoment] {
                let ranges = pieces.filter { $0.0 == tensor }.map(\.1)
                #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == n, "\(what) \(tensor): \(ranges)")
                #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "\(what) \(tensor): \(ranges)")
                #expect(ranges.allSatisfy { $0.count <= floatStreamPiece }, "\(what) \(tensor): \(ranges)")
            }
        }
        try withRun { run in
            var asked: [(CheckpointTensor, Range<Int>)] = []
            try Checkpoint.save(runDirectory: run, step: 2, config: large, state: State(step: 2, note: "")) { tensor, range, piece in
                asked.append((tensor, range))
                vectors[tensor]![range].withUnsafeBytes { piece.copyMemory(from: $0) }
            }
            expectTiling(asked, "save")
            let saved = try Checkpoint.open(run + "/ckpt_2", as: State.self)
            #expect(saved.config == large && saved.state == State(step: 2, note: ""))
            var handed: [(CheckpointTensor, Range<Int>)] = []
            var restored = [CheckpointTensor: [Float]]()
            try saved.restore { tensor, range, piece in
                handed.append((tensor, range))
                restored[tensor, default: []] += Array(piece.bindMemory(to: Float.self))
            }
            expectTiling(handed, "restore")
            for (tensor, values) in vectors {
                #expect(restored[tensor]?.map(\.bitPattern) == values.map(\.bitPattern), "\(tensor)")
            }
        }
    }

    @Test func pruneKeepsTheNewest() throws {
        try withRun { run in
            for step in [5, 10, 15, 20, 100] { _ = try save(run, step: step) }
            #expect(Checkpoint.steps(in: run) == [5, 10, 15, 20, 100], "numeric, not lexicographic, order")
            Checkpoint.prune(runDirectory: run, keep: 2)
            #expect(Checkpoint.steps(in: run) == [20, 100])
            Checkpoint.prune(runDirectory: run, keep: 0)
            #expect(Checkpoint.steps(in: run) == [20, 100], "keep 0 keeps all")
            _ = try Checkpoint.load(run + "/ckpt_100", as: State.self)
            #expect(try FileManager.default.contentsOfDirectory(atPath: run).sorted() == ["ckpt_100", "ckpt_20"], "nothing left hidden")
        }
    }

    /// A removal (pruning, --overwrite, a save over the same step) cut short by a crash must not leave a half-removed
    /// `ckpt_N` for a resume to take as the newest: the folder is renamed to `.ckpt_N.removed` before it is deleted,
    /// which is not a step, and which the next run's clean-up removes.
    @Test func aRemovalCutShortLeavesNoCheckpoint() throws {
        try withRun { run in
            _ = try save(run, step: 3)
            try FileManager.default.createDirectory(atPath: run + "/.ckpt_8.removed", withIntermediateDirectories: true)
            try Data("half".utf8).write(to: URL(fileURLWithPath: run + "/.ckpt_8.removed/model.bin"))
            #expect(Checkpoint.steps(in: run) == [3])
            #expect(try ModelSource.checkpointFolder(run) == run + "/ckpt_3")
            Checkpoint.removeUnfinished(in: run)
            #expect(try FileManager.default.contentsOfDirectory(atPath: run) == ["ckpt_3"])
            let again = try save(run, step: 3, seed: 2)   // over the same step: the old folder goes the same way
            #expect(try Checkpoint.load(run + "/ckpt_3", as: State.self).parameters == again.parameters)
            #expect(try FileManager.default.contentsOfDirectory(atPath: run) == ["ckpt_3"], "the replaced one is gone, not set aside")
            try Checkpoint.remove(step: 3, in: run)
            #expect(try FileManager.default.contentsOfDirectory(atPath: run).isEmpty)
        }
    }

    /// A reader given a run folder whose newest checkpoint is pruned between finding it and opening it (a run training
    /// there with --keep-last) finds the newest again, rather than failing on a file that existed a moment before; a
    /// checkpoint named directly that goes is an error.
    @Test func aReaderWhoseCheckpointIsPrunedMeanwhileFindsTheNewestAgain() throws {
        try withRun { run in
            for step in [1, 2] { _ = try save(run, step: step) }
            var opened: [String] = []
            let config = try ModelSource.reading(run) { weights in
                guard case .llmc(let file) = weights else { throw FileError("not a checkpoint") }
                opened.append(file)
                if opened.count == 1 { try Checkpoint.remove(step: 1, in: run); try Checkpoint.remove(step: 2, in: run); _ = try save(run, step: 3) }
                return try LLMCModelFile.open(path: file).config
            }
            #expect(config == self.config)
            #expect(opened == [run + "/ckpt_2/model.bin", run + "/ckpt_3/model.bin"])
            #expect(throws: FileError.self) {
                _ = try ModelSource.reading(run + "/ckpt_3") { weights in
                    try Checkpoint.remove(step: 3, in: run)
                    guard case .llmc(let file) = weights else { throw FileError("not a checkpoint") }
                    return try LLMCModelFile.open(path: file).config
                }
            }
        }
    }

    /// A crash mid-save leaves `.ckpt_N.partial`; it must not count as a checkpoint, nor be picked for a resume.
    @Test func partialCheckpointIsIgnored() throws {
        try withRun { run in
            _ = try save(run, step: 3)
            try FileManager.default.createDirectory(atPath: run + "/.ckpt_7.partial", withIntermediateDirectories: true)
            try Data("{\"step\": 7}".utf8).write(to: URL(fileURLWithPath: run + "/.ckpt_7.partial/state.json"))
            try FileManager.default.createDirectory(atPath: run + "/ckpt_9.tmp", withIntermediateDirectories: true)
            #expect(Checkpoint.steps(in: run) == [3])
            #expect(try ModelSource.checkpointFolder(run) == run + "/ckpt_3")
            // saving the same step again replaces a stale partial folder
            try FileManager.default.createDirectory(atPath: run + "/.ckpt_4.partial", withIntermediateDirectories: true)
            _ = try save(run, step: 4)
            #expect(Checkpoint.steps(in: run) == [3, 4])
            #expect(!FileManager.default.fileExists(atPath: run + "/.ckpt_4.partial"))
        }
    }

    /// Only folders named as a save names them count: `ckpt_-3`, `ckpt_+5` and `ckpt_007` (made by hand) are not the
    /// checkpoints of steps −3, 5 and 7, whose folders a load would look for as `ckpt_5` and `ckpt_7`.
    @Test func foldersNotNamedAsASaveNamesThemAreNotCheckpoints() throws {
        try withRun { run in
            _ = try save(run, step: 2)
            for name in ["ckpt_-3", "ckpt_+5", "ckpt_007", "ckpt_", "ckpt_1e3"] {
                try FileManager.default.createDirectory(atPath: run + "/" + name, withIntermediateDirectories: false)
            }
            #expect(Checkpoint.steps(in: run) == [2])
            #expect(try ModelSource.checkpointFolder(run) == run + "/ckpt_2")
        }
    }

    /// A save that fails part way (here the second moment cannot be read; on a full disk, a write) throws that error
    /// and removes what it wrote, so failed saves cannot pile up half-written folders on a full disk.
    @Test func failedSaveLeavesNothingBehind() throws {
        struct Unreadable: Error {}
        try withRun { run in
            _ = try save(run, step: 3)
            #expect(throws: Unreadable.self) {
                try Checkpoint.save(runDirectory: run, step: 5, config: config, state: State(step: 5, note: "")) { tensor, _, piece in
                    if tensor == .secondMoment { throw Unreadable() }
                    piece.initializeMemory(as: UInt8.self, repeating: 0)
                }
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: run).sorted() == ["ckpt_3"])
        }
    }

    @Test(arguments: ["model.bin truncated", "optimizer.bin truncated", "optimizer.bin empty", "state.json garbage",
                      "state.json missing", "model.bin missing", "folder missing", "optimizer.bin other model",
                      "optimizer.bin bad magic", "optimizer.bin bad count", "optimizer.bin trailing bytes", "optimizer.bin a folder"])
    func corruptCheckpointGivesFileError(_ damage: String) throws {
        try withRun { run in
            _ = try save(run, step: 1)
            let folder = run + "/ckpt_1"
            let file = damage.split(separator: " ")[0]
            let path = folder + "/" + file
            switch damage {
            case "model.bin truncated", "optimizer.bin truncated":
                let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
            case "optimizer.bin empty": try Data().write(to: URL(fileURLWithPath: path))
            case "state.json garbage": try Data("{\"step\": 1, \"no".utf8).write(to: URL(fileURLWithPath: path))
            case "state.json missing", "model.bin missing": try FileManager.default.removeItem(atPath: path)
            case "folder missing": try FileManager.default.removeItem(atPath: folder)
            case "optimizer.bin other model":  // moments of a different model size: same magic, wrong length
                var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                bytes.removeLast(8 * 16)
                try bytes.write(to: URL(fileURLWithPath: path))
            case "optimizer.bin bad magic":   // the right size, but not an optimizer state (its first int32 is the magic)
                var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                bytes[0] ^= 0xFF
                try bytes.write(to: URL(fileURLWithPath: path))
            case "optimizer.bin bad count":   // the right size and magic, but a header that counts other parameters
                var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                bytes[8] ^= 0x01   // the count's low byte (int32 at offset 8, little-endian)
                try bytes.write(to: URL(fileURLWithPath: path))
            case "optimizer.bin trailing bytes":   // 16-byte header + 2 × 4 × count bytes exactly; more is not this model's
                var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                bytes.append(contentsOf: [0, 0, 0, 0])
                try bytes.write(to: URL(fileURLWithPath: path))
            case "optimizer.bin a folder":   // (its "size" is a block's, which said the file was 4096 bytes short)
                try FileManager.default.removeItem(atPath: path)
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            default: Issue.record("unknown case")
            }
            // every check in Checkpoint.open and the readers it calls (LLMCModelFile, FileSource) throws a FileError, and
            // one whose bytes changed (state.json garbage, a right-sized header changed) a DamagedFileError
            let thrown = try #require(throws: (any Error).self) { try Checkpoint.load(folder, as: State.self) }
            #expect(thrown is FileError || thrown is DamagedFileError, "\(damage): \(type(of: thrown))")
            let error = String(describing: thrown)
            let named = damage == "folder missing" || damage == "state.json missing" ? folder : path
            #expect(error.contains(named), "\(damage): \(error)")
            if damage == "optimizer.bin a folder" { #expect(error.contains("is a folder, not a file"), "\(error)") }
        }
    }

    /// A save lists the XXH64 of each of its files in checksums.xxh64, in `xxhsum`'s format.
    @Test func saveListsTheChecksumsOfItsFiles() throws {
        try withRun { run in
            _ = try save(run, step: 1)
            let folder = run + "/ckpt_1"
            let list = try #require(try ChecksumList.read(in: folder, listing: ["model.bin", "optimizer.bin", "state.json"]))
            #expect(list.entries.map(\.name) == ["model.bin", "optimizer.bin", "state.json"])
            for (name, checksum) in list.entries {
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)))
                #expect(XXHash64.digest(of: bytes) == checksum, "\(name)")
            }
            let text = try String(contentsOfFile: folder + "/" + ChecksumList.fileName, encoding: .utf8)
            #expect(text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: false).count } == [3, 3, 3],
                    "HEX, two spaces, NAME: \(text)")
        }
    }

    /// The reference tool agrees: `xxhsum -c checksums.xxh64` in a checkpoint folder passes, and fails once a byte of
    /// model.bin changes (CI installs xxhsum; without it the test does not run).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/xxhsum"), "xxhsum (apt package xxhash) is not installed"))
    func theReferenceToolChecksTheList() throws {
        try withRun { run in
            _ = try save(run, step: 1)
            let folder = run + "/ckpt_1"
            let checked = try runCommand("/usr/bin/xxhsum", arguments: ["-c", ChecksumList.fileName], workingDirectory: folder)
            #expect(checked.status == 0, "\(checked.stdoutText)\(checked.stderrText)")
            #expect(checked.stdoutText.components(separatedBy: ": OK").count == 4, "\(checked.stdoutText)")
            try flipBit(in: folder + "/model.bin", at: 1024 + 4 * 7 + 2)
            let failed = try runCommand("/usr/bin/xxhsum", arguments: ["-c", ChecksumList.fileName], workingDirectory: folder)
            #expect(failed.status != 0 && failed.stdoutText.contains("model.bin: FAILED"), "\(failed.stdoutText)")
        }
    }

    /// One bit changed inside a value, where sizes, headers and JSON all stay valid (a disk or copy error), is refused as a
    /// damaged file, named; without the checksums it loaded as the checkpoint.
    @Test(arguments: ["model.bin", "optimizer.bin", "state.json"])
    func aValueChangedInPlaceIsFoundByItsChecksum(_ file: String) throws {
        try withRun { run in
            _ = try save(run, step: 1)
            let folder = run + "/ckpt_1", path = folder + "/" + file
            switch file {
            case "model.bin": try flipBit(in: path, at: 1024 + 4 * 7 + 2)   // a parameter's mantissa
            case "optimizer.bin": try flipBit(in: path, at: 16 + 8 * config.parameterCount - 2)   // the last second moment
            default:   // the step the state says, still valid JSON
                let text = try String(contentsOfFile: path, encoding: .utf8)
                #expect(text.contains("\"step\" : 1"), "\(text)")
                try text.replacingOccurrences(of: "\"step\" : 1", with: "\"step\" : 7").write(toFile: path, atomically: false, encoding: .utf8)
            }
            let thrown = try #require(throws: DamagedFileError.self) { _ = try Checkpoint.load(folder, as: State.self) }
            #expect(thrown.path == path)
            #expect(String(describing: thrown).contains("\(path) is damaged: its bytes"), "\(thrown)")
            try FileManager.default.removeItem(atPath: folder + "/" + ChecksumList.fileName)
            #expect(throws: Never.self, "only the checksums find it") { _ = try Checkpoint.load(folder, as: State.self) }
        }
    }

    /// `verifyFiles` reads each file whole against the list: a change anywhere is found before any vector is used.
    @Test(arguments: ["model.bin", "optimizer.bin", "state.json"])
    func verifyFilesFindsAChangeInEachFile(_ file: String) throws {
        try withRun { run in
            _ = try save(run, step: 1)
            let folder = run + "/ckpt_1"
            try Checkpoint.verifyFiles(in: folder)
            let size = try #require(try FileManager.default.attributesOfItem(atPath: folder + "/" + file)[.size] as? Int)
            try flipBit(in: folder + "/" + file, at: size - 3)
            let thrown = try #require(throws: DamagedFileError.self) { try Checkpoint.verifyFiles(in: folder) }
            #expect(thrown.path == folder + "/" + file)
            try FileManager.default.removeItem(atPath: folder + "/" + ChecksumList.fileName)
            try Checkpoint.verifyFiles(in: folder)   // nothing to check against
        }
    }

    /// A checkpoint file that is a FIFO is refused at once: opening it to read waited for a writer that never came.
    @Test(.timeLimit(.minutes(1)), arguments: ["model.bin", "optimizer.bin"])
    func aFIFOInPlaceOfAFileIsRefused(_ file: String) throws {
        try withRun { run in
            _ = try save(run, step: 1)
            let path = run + "/ckpt_1/" + file
            try FileManager.default.removeItem(atPath: path)
            try #require(mkfifo(path, 0o644) == 0)
            let thrown = try #require(throws: FileError.self) { _ = try Checkpoint.load(run + "/ckpt_1", as: State.self) }
            #expect(String(describing: thrown) == "\(path) is not a regular file (a pipe, device or socket)")
        }
    }

    /// Weights read from a checkpoint by the other commands (eval, sample, export, --init-from) are checked too; a model
    /// file outside a checkpoint is not, whatever list lies beside it.
    @Test func weightsReadFromADamagedCheckpointAreRefused() throws {
        try withRun { run in
            let saved = try save(run, step: 1)
            #expect(try ModelSource.load(run).parameters.map(\.bitPattern) == saved.parameters.map(\.bitPattern))
            try flipBit(in: run + "/ckpt_1/model.bin", at: 1024 + 4 * (config.parameterCount - 1) + 3)   // the last one's sign
            #expect(throws: DamagedFileError.self) { _ = try ModelSource.load(run) }
            #expect(throws: DamagedFileError.self, "--init-from RUN/ckpt_1/model.bin") { _ = try ModelSource.load(run + "/ckpt_1/model.bin") }
            let copy = run + "/model.bin"   // the same bytes outside the checkpoint: no checksum was recorded for them there
            try FileManager.default.copyItem(atPath: run + "/ckpt_1/model.bin", toPath: copy)
            try FileManager.default.copyItem(atPath: run + "/ckpt_1/" + ChecksumList.fileName, toPath: run + "/" + ChecksumList.fileName)
            #expect(throws: Never.self) { _ = try ModelSource.load(copy) }
            try "XXH64 (model.bin) = 0123456789abcdef\n".write(toFile: run + "/" + ChecksumList.fileName, atomically: false, encoding: .utf8)
            #expect(throws: Never.self, "a list a user made beside their own model file is not read") { _ = try ModelSource.load(copy) }
            #expect(throws: Never.self, "the header alone is not checked") { try ModelSource.config(run) }
        }
    }

    /// A checkpoint written before checksums were (no checksums.xxh64) loads as it did; a list in either of xxhsum's
    /// formats loads; a list that is not one, names a file twice, or leaves one out (which would go unchecked, as CRLF
    /// line ends did) is damaged, named with how to check the files, which may be intact, and write it again.
    @Test func aCheckpointWithoutChecksumsLoadsAndADamagedListIsNamed() throws {
        try withRun { run in
            let saved = try save(run, step: 1)
            let folder = run + "/ckpt_1", list = folder + "/" + ChecksumList.fileName
            try FileManager.default.removeItem(atPath: list)
            #expect(try Checkpoint.load(folder, as: State.self).secondMoment.map(\.bitPattern) == saved.second.map(\.bitPattern))
            let names = ["model.bin", "optimizer.bin", "state.json"]
            let checksums = try names.map { name in XXHash64.hex(XXHash64.digest(of: [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))))) }
            let gnu = zip(checksums, names).map { "\($0)  \($1)" }, bsd = zip(checksums, names).map { "XXH64 (\($1)) = \($0.uppercased())" }
            for lines in [gnu, bsd, [bsd[0], gnu[1], "", bsd[2], "0123456789abcdef  notes.txt"]] {
                try (lines.joined(separator: "\n") + "\n").write(toFile: list, atomically: false, encoding: .utf8)
                #expect(throws: Never.self, "\(lines)") { _ = try Checkpoint.load(folder, as: State.self) }
            }
            let damaged: [(text: String, problem: String)] = [
                ("not a checksum list", "line 1 is neither"), ("0123456789abcdef model.bin", "line 1 is neither"),
                ("0123456789abcdeg  model.bin", "line 1 is neither"), ("0123456789abcdef  ", "line 1 is neither"),
                ("+123456789abcdef  model.bin", "line 1 is neither"), ("XXH64 () = 0123456789abcdef", "line 1 is neither"),
                ("XXH64 (model.bin) = 0123", "line 1 is neither"), (gnu.joined(separator: "\n") + "\n0123456789abcdef  model.bin", "it lists model.bin twice"),
                (gnu.dropLast().joined(separator: "\n"), "it lists no checksum for state.json"),
                (gnu.joined(separator: "\r\n"), "it lists no checksum for model.bin (a name with other characters around it, such as a CRLF"),
            ]
            for (text, problem) in damaged {
                try (text + "\n").write(toFile: list, atomically: false, encoding: .utf8)
                let thrown = try #require(throws: DamagedChecksumListError.self) { _ = try Checkpoint.load(folder, as: State.self) }
                #expect(String(describing: thrown).contains("\(list) is damaged: \(problem)"), "\(text): \(thrown)")
                #expect(String(describing: thrown).hasSuffix("check them with `xxhsum -c checksums.xxh64`, or, if you know them to be right, "
                                                             + "write the list again with `xxhsum model.bin optimizer.bin state.json > checksums.xxh64`"))
                #expect(throws: DamagedChecksumListError.self, "eval's way in") { _ = try ModelSource.load(run) }
            }
            // not a file: a folder, a FIFO (whose read would wait for a writer forever)
            try FileManager.default.removeItem(atPath: list)
            try FileManager.default.createDirectory(atPath: list, withIntermediateDirectories: false)
            #expect(throws: DamagedChecksumListError.self) { _ = try Checkpoint.load(folder, as: State.self) }
            try FileManager.default.removeItem(atPath: list)
            try #require(mkfifo(list, 0o644) == 0)
            let fifo = try #require(throws: DamagedChecksumListError.self) { _ = try Checkpoint.load(folder, as: State.self) }
            #expect(fifo.problem == "it is not a regular file")
        }
    }

    /// What state.json says of its format: a newer format is refused naming the gpt2 that wrote it (its other fields may
    /// mean something else there; its weights, an llm.c model file, still load alone), as is one no gpt2 writes; from
    /// format 2 on, a missing checksum list is.
    @Test func aFormatThisGPT2DoesNotReadIsRefusedAndAFormat2CheckpointNeedsItsChecksums() throws {
        struct Versioned: Codable {
            var format: Int
            var writtenBy: String
            var step: Int
        }
        try withRun { run in
            let n = config.parameterCount
            func save(format: Int) throws -> String {
                let step = format + 10
                try Checkpoint.save(runDirectory: run, step: step, config: config, parameters: [Float](repeating: 0.5, count: n),
                                    firstMoment: [Float](repeating: 0, count: n), secondMoment: [Float](repeating: 0, count: n),
                                    state: Versioned(format: format, writtenBy: "0123456789ab", step: step))
                return run + "/" + Checkpoint.folderName(step: step)
            }
            let newer = try save(format: Checkpoint.format + 1)
            for open in [{ _ = try Checkpoint.load(newer, as: Versioned.self) }, { _ = try Checkpoint.readState(newer, as: Versioned.self) }] {
                let thrown = try #require(throws: FileError.self) { try open() }
                #expect(String(describing: thrown) == "\(newer) was written by a newer gpt2 (gpt2-swift 0123456789ab, checkpoint format "
                        + "\(Checkpoint.format + 1)); this one (\(BuildInfo.version)) reads formats up to \(Checkpoint.format): use that gpt2, "
                        + "or a later one than this")
            }
            #expect(try ModelSource.load(newer).parameters.allSatisfy { $0 == 0.5 }, "the weights alone are an llm.c model file")
            // said before its checksum list is read as this format's: a newer one may list other files
            try "0123456789abcdef  model.bin\n".write(toFile: newer + "/" + ChecksumList.fileName, atomically: false, encoding: .utf8)
            let listed = try #require(throws: FileError.self) { _ = try Checkpoint.load(newer, as: Versioned.self) }
            #expect(listed.description.contains("was written by a newer gpt2"), "\(listed)")
            let none = try save(format: 0)
            let corrupt = try #require(throws: FileError.self) { _ = try Checkpoint.load(none, as: Versioned.self) }
            #expect(corrupt.description == "\(none)/state.json is corrupt: it names checkpoint format 0")
            let current = try save(format: Checkpoint.format)
            #expect(throws: Never.self) { _ = try Checkpoint.load(current, as: Versioned.self) }
            try FileManager.default.removeItem(atPath: current + "/" + ChecksumList.fileName)
            for open in [{ _ = try Checkpoint.load(current, as: Versioned.self) }, { _ = try ModelSource.load(current + "/model.bin") },
                         { try Checkpoint.verifyFiles(in: current) }] {
                let thrown = try #require(throws: FileError.self) { try open() }
                #expect(thrown.description == "\(current) has no checksums.xxh64, which every checkpoint of its format (2) has, so its "
                        + "files cannot be checked against what was saved: put the file back, or go on from another checkpoint")
            }
        }
    }

    private func flipBit(in path: String, at offset: Int) throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[offset] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
    }
}
