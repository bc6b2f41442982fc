/// Corpus preparation with a byte-level stand-in tokenizer (token = UTF-8 byte), so the expected token stream
/// is known exactly: document framing, the val/train cut, shard sizes, re-runs, stale shards and bad input.

import Synchronization
import Testing
import Foundation
import GPT2TestSupport
@testable import GPT2

/// Token ids are the document's UTF-8 bytes; 256 marks a document start.
struct ByteEncoder: DocumentEncoder {
    static let endOfText = 256
    func encodeDocuments(_ documents: [String], threads: Int) -> [[Int]] { documents.map { $0.utf8.map(Int.init) } }
}

@Suite struct CorpusPreparerTests {
    private func withDirectory(_ body: (URL) throws -> Void) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory)
    }

    private func write(_ text: String, to url: URL) throws { try Data(text.utf8).write(to: url) }

    private func tokens(of paths: [String]) throws -> [Int] {
        try paths.flatMap { path in try ShardReader(path: path, vocabularySize: nil).withTokens { $0.map(Int.init) } }
    }

    private func preparer(_ directory: URL, shard: Int = 10, validation: Int? = 7) -> CorpusPreparer {
        var preparer = CorpusPreparer(outputDirectory: directory.appendingPathComponent("out").path, name: "corpus")
        preparer.shardTokens = shard
        preparer.validationTokens = validation
        return preparer
    }

    /// JSON lines are known by their extension in any case (`DATA.JSONL` was read as one text document, its JSON and
    /// all), `.json` too (JSON lines under that name became a corpus of keys and quotes); every other file is text.
    @Test func jsonLinesAreKnownByTheirExtensionInAnyCase() {
        for path in ["a.jsonl", "dir/B.JSONL", "c.NDJson", "d.ndjson", "e.json", "F.JSON"] {
            guard case .jsonLines = CorpusInput.detect(path: path) else { Issue.record("\(path) read as text"); continue }
        }
        for path in ["a.txt", "jsonl", "a.jsonl.txt", "x.jsonl/readme"] {
            guard case .text = CorpusInput.detect(path: path) else { Issue.record("\(path) read as JSON lines"); continue }
        }
    }

    @Test func streamIsEndOfTextThenDocumentCutIntoValThenTrainShards() throws {
        try withDirectory { directory in
            try write("hello world", to: directory.appendingPathComponent("a.txt"))
            try write(#"{"text": "abc"}"# + "\n\n" + #"{"id": 2, "text": "défg"}"# + "\n",
                      to: directory.appendingPathComponent("b.jsonl"))
            let summary = try preparer(directory).prepare(
                [.text(path: directory.appendingPathComponent("a.txt").path),
                 .detect(path: directory.appendingPathComponent("b.jsonl").path)], encoder: ByteEncoder())
            let expected = [256] + Array("hello world".utf8).map(Int.init) + [256] + Array("abc".utf8).map(Int.init)
                + [256] + Array("défg".utf8).map(Int.init)
            #expect(summary.validationShards.map(\.tokens) == [7])
            #expect(summary.trainShards.map(\.tokens) == [10, 5])  // 12 + 4 + 6 ("é" is 2 bytes) = 7 val + 15 train
            #expect(summary.trainShards.map { FileSystem.baseName($0.path) }
                    == ["corpus_train_000000.bin", "corpus_train_000001.bin"])
            #expect(try tokens(of: (summary.validationShards + summary.trainShards).map(\.path)) == expected)
        }
    }

    @Test func validationLargerThanOneShardSpansSeveralValShards() throws {
        try withDirectory { directory in
            try write(String(repeating: "x", count: 49), to: directory.appendingPathComponent("a.txt"))
            let summary = try preparer(directory, shard: 10, validation: 25)
                .prepare([.text(path: directory.appendingPathComponent("a.txt").path)], encoder: ByteEncoder())
            #expect(summary.validationShards.map(\.tokens) == [10, 10, 5])
            #expect(summary.trainShards.map(\.tokens) == [10, 10, 5])
        }
    }

    @Test func blankLineSectionsAreSeparateDocumentsKeepingSeparators() {
        func sections(_ text: String) -> [String] {
            var sections: [String] = []
            CorpusReader.forEachSection(of: text) { sections.append($0) }
            return sections
        }
        #expect(sections("A\nB\n\nC\n\n\nD") == ["A\nB\n\n", "C\n\n", "\nD"])
        #expect(sections("single") == ["single"])
    }

    @Test func rerunSkipsIdenticalShardsAndRemovesStaleOnes() throws {
        try withDirectory { directory in
            let input = directory.appendingPathComponent("a.txt")
            try write(String(repeating: "ab", count: 30), to: input)
            let first = try preparer(directory, shard: 10).prepare([.text(path: input.path)], encoder: ByteEncoder())
            #expect(first.skippedShards == 0 && first.replacedShards == 0 && first.trainShards.count == 6)
            let second = try preparer(directory, shard: 10).prepare([.text(path: input.path)], encoder: ByteEncoder())
            #expect(second.skippedShards == 7 && second.replacedShards == 0)
            #expect(second.trainShards.map(\.tokens) == first.trainShards.map(\.tokens))
            let third = try preparer(directory, shard: 30).prepare([.text(path: input.path)], encoder: ByteEncoder())
            #expect(third.skippedShards == 1, "only the val shard is unchanged")
            #expect(third.replacedShards == 2, "train shards 0 and 1 held other tokens, and are counted (and said) as replaced")
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("out").path)
            #expect(files.sorted() == ["corpus_train_000000.bin", "corpus_train_000001.bin", "corpus_val_000000.bin"])
        }
    }

    /// A shard is skipped on a re-run only when its tokens are the same, not merely as many: other text of the same
    /// length rewrites every shard (7 val + 53 train tokens at 10 a shard: 1 + 6 shards).
    @Test func aRerunOnOtherTextOfTheSameLengthRewritesEveryShard() throws {
        try withDirectory { directory in
            let input = directory.appendingPathComponent("a.txt")
            try write(String(repeating: "ab", count: 30), to: input)
            _ = try preparer(directory).prepare([.text(path: input.path)], encoder: ByteEncoder())
            try write(String(repeating: "ba", count: 30), to: input)
            let again = try preparer(directory).prepare([.text(path: input.path)], encoder: ByteEncoder())
            #expect(again.skippedShards == 0 && again.replacedShards == 7)
            #expect(try tokens(of: (again.validationShards + again.trainShards).map(\.path))
                    == [256] + Array(String(repeating: "ba", count: 30).utf8).map(Int.init))
        }
    }

    /// A corpus `corpus_val` (from `corpus_val.txt`) beside a corpus `corpus` in one folder: a prepare of `corpus`
    /// removes its own stale shards only (`corpus_val_train_000000.bin` was taken for a stale shard of `corpus`).
    @Test func aPrepareLeavesTheShardsOfACorpusWhoseNameExtendsItsName() throws {
        try withDirectory { directory in
            let input = directory.appendingPathComponent("a.txt")
            try write(String(repeating: "ab", count: 30), to: input)
            var other = preparer(directory)
            other.name = "corpus_val"
            let kept = try other.prepare([.text(path: input.path)], encoder: ByteEncoder())
            #expect(kept.validationShards.count == 1 && kept.trainShards.count == 6)
            _ = try preparer(directory).prepare([.text(path: input.path)], encoder: ByteEncoder())
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("out").path)
            for (path, _) in kept.validationShards + kept.trainShards {
                #expect(files.contains(FileSystem.baseName(path)), "\(FileSystem.baseName(path)) is corpus_val's, not a stale shard of corpus")
            }
            #expect(files.count == 14)
        }
    }

    @Test func rerunRemovesShardsAKilledRunLeftHalfWritten() throws {
        try withDirectory { directory in
            let input = directory.appendingPathComponent("a.txt")
            try write(String(repeating: "ab", count: 30), to: input)
            let out = directory.appendingPathComponent("out")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let abandoned = "corpus_train_000003.bin.tmp-\(TestPaths.deadProcessID)"
            let live = "corpus_train_000004.bin.tmp-\(getppid())"  // a live process: a writer still at work
            // this process's own PID: in a container each run is PID 1 of its namespace, and a killed one's files have it
            let ownPID = "corpus_train_000005.bin.tmp-\(getpid())"
            let otherName = "other_train_000000.bin.tmp-\(TestPaths.deadProcessID)"
            for file in [abandoned, live, otherName, ownPID] { try write("partial", to: out.appendingPathComponent(file)) }
            _ = try preparer(directory).prepare([.text(path: input.path)], encoder: ByteEncoder())
            let files = try FileManager.default.contentsOfDirectory(atPath: out.path)
            #expect(!files.contains(abandoned) && !files.contains(ownPID))
            #expect(files.contains(live) && files.contains(otherName), "only this name's shards of dead writers go")
        }
    }

    /// A folder another prepare holds is refused, or with `waitsForOutput` (the demo corpus two runs prepare together)
    /// waited for; then, holding the folder, the preparer asks whether the one it waited for left anything to do. No
    /// lock file is left in the folder.
    @Test(arguments: [false, true]) func aFolderBeingPreparedIsRefusedOrWaitedFor(leftNothingToDo: Bool) throws {
        try withDirectory { directory in
            let input = directory.appendingPathComponent("a.txt")
            try write("abcdefghijklmnopqrstuvwxyz", to: input)
            let out = preparer(directory).outputDirectory
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let holder = Mutex<FileLock?>(try FileLock(folder: out, shared: false))
            let refused = #expect(throws: PrepareError.self) { try preparer(directory).prepare([.text(path: input.path)], encoder: ByteEncoder()) }
            #expect(refused?.description.contains("another gpt2 prepare is writing into") == true, "\(String(describing: refused))")
            let released = Mutex(false)
            var waiting = preparer(directory)
            waiting.waitsForOutput = {
                #expect(released.withLock { $0 }, "asked only once the holder let go")
                return leftNothingToDo
            }
            let holding = Thread { Thread.sleep(forTimeInterval: 0.3); released.withLock { $0 = true }; holder.withLock { $0 = nil } }
            holding.start()
            let summary = try waiting.prepare([.text(path: input.path)], encoder: ByteEncoder())
            #expect(released.withLock { $0 }, "it waited for the holder")
            #expect(summary.trainShards.isEmpty == leftNothingToDo)
            let files = try FileManager.default.contentsOfDirectory(atPath: out)
            #expect(files.isEmpty == leftNothingToDo, "\(files)")
            #expect(!files.contains { $0.hasPrefix(".") }, "\(files)")
        }
    }

    /// A folder a run reads (its data loaders hold it shared) is refused to a prepare, whose shards would change under
    /// the run (it carried on, on replaced shards, and its resume was refused); a waiting prepare (the demo corpus) leaves
    /// the folder to the run when its shards are there, and is refused too when they are not. Once the loader is gone,
    /// the prepare runs.
    @Test func aFolderARunReadsIsRefusedToAPrepare() throws {
        try withDirectory { directory in
            let input = directory.appendingPathComponent("a.txt")
            try write(String(repeating: "abcdefghijklmnopqrstuvwxyz", count: 40), to: input)
            let first = preparer(directory, shard: 100_000, validation: 100)
            _ = try first.prepare([.text(path: input.path)], encoder: ByteEncoder())
            let out = first.outputDirectory
            var loader: DataLoader? = try DataLoader(.split(directory: out, split: "train"), batchSize: 2, sequenceLength: 8, prefetch: false)
            let refused = #expect(throws: PrepareError.self) { try first.prepare([.text(path: input.path)], encoder: ByteEncoder()) }
            #expect(refused?.description == "a gpt2 train or eval is reading the shards in \(out), which a prepare would change under it; "
                    + "let it finish (or stop it), or prepare into another --out", "\(String(describing: refused))")
            for done in [true, false] {
                var waiting = first
                waiting.waitsForOutput = { done }
                if done {
                    #expect(try waiting.prepare([.text(path: input.path)], encoder: ByteEncoder()).trainShards.isEmpty)
                } else {
                    #expect(throws: PrepareError.self) { try waiting.prepare([.text(path: input.path)], encoder: ByteEncoder()) }
                }
            }
            withExtendedLifetime(loader) {}
            loader = nil
            #expect(try first.prepare([.text(path: input.path)], encoder: ByteEncoder()).trainShards.count == 1)
        }
    }

    /// A tenth of the corpus's tokens, estimated at GPT-2's ~4 bytes a token: bytes / 40, rounded down, at least 1, at
    /// most 10M. tinyshakespeare's 1,115,394 bytes: 27,884.85 → 27,884; 10 bytes: 0.25 → 1; 10 GB: 250M → 10M.
    /// Records, each time it is asked to encode, whether the prepare's mark is in place.
    private final class MarkWatcher: DocumentEncoder {
        static let endOfText = 256
        let mark: String
        let seen = Mutex<[Bool]>([])
        init(mark: String) { self.mark = mark }
        func encodeDocuments(_ documents: [String], threads: Int) -> [[Int]] {
            seen.withLock { $0.append(FileSystem.exists(mark)) }
            return ByteEncoder().encodeDocuments(documents, threads: threads)
        }
    }

    /// A prepare marks the folder only while it moves its new shards into place: not while it tokenises, when the
    /// shards in place are the earlier preparation's, whole (a prepare killed then left part of the corpus, or a mix of
    /// two, under the mark). It clears the mark when it ends, complete or failed. A loader refuses the shards of a
    /// corpus whose mark is there, which is what a prepare killed while moving its shards leaves (a mix of two
    /// preparations, which trained without a word), naming the mark and the command that left it; another corpus's
    /// shards in that folder are read.
    @Test func anUnfinishedPrepareIsMarkedAndItsShardsRefused() throws {
        try withDirectory { directory in
            let a = directory.appendingPathComponent("a.txt")
            try write(String(repeating: "x", count: 30), to: a)
            let out = directory.appendingPathComponent("out").path
            let mark = UnfinishedPrepareMark.path(directory: out, name: "corpus")
            let watcher = MarkWatcher(mark: mark)
            let summary = try preparer(directory).prepare([.text(path: a.path)], encoder: watcher)
            #expect(watcher.seen.withLock { $0 } == [false])
            #expect(!FileSystem.exists(mark))
            let failing = MarkWatcher(mark: mark)
            #expect(throws: PrepareError.self) { try preparer(directory, validation: 100).prepare([.text(path: a.path)], encoder: failing) }
            #expect(failing.seen.withLock { $0 } == [false] && !FileSystem.exists(mark))

            _ = try preparer(directory).prepare([.text(path: a.path)], encoder: ByteEncoder())
            try UnfinishedPrepareMark.set(directory: out, name: "corpus")   // as a prepare that was killed leaves it
            try ShardWriter.write(Array(0..<40), to: out + "/other_train_000000.bin")
            let refused = #expect(throws: DataLoaderError.self) {
                try DataLoader(.split(directory: out, split: "train"), batchSize: 1, sequenceLength: 2, vocabularySize: 257)
            }
            let message = refused?.description ?? ""
            #expect(message.contains("did not finish (\(mark) says so)") && message.contains("run that prepare ("), "\(message)")
            #expect(throws: DataLoaderError.self) {
                try ValidationLoader(.split(directory: out, split: "val"), batchSize: 1, sequenceLength: 2, vocabularySize: 257)
            }
            #expect(try DataLoader(.pattern(out + "/other_train_*.bin"), batchSize: 1, sequenceLength: 2, vocabularySize: 257)
                        .shards.count == 1)
            _ = try preparer(directory).prepare([.text(path: a.path)], encoder: ByteEncoder())   // done again: read
            #expect(try DataLoader(.pattern(out + "/corpus_train_*.bin"), batchSize: 1, sequenceLength: 2, vocabularySize: 257)
                        .shards.count == summary.trainShards.count)

            // A mark that cannot be written (here a folder is in its place) stops the prepare before any shard is moved
            // into place, and the shards it wrote are deleted.
            let blocked = directory.appendingPathComponent("blocked").path
            try FileManager.default.createDirectory(atPath: UnfinishedPrepareMark.path(directory: blocked, name: "corpus"),
                                                    withIntermediateDirectories: true)
            var blockedPreparer = preparer(directory)
            blockedPreparer.outputDirectory = blocked
            let unmarked = #expect(throws: PrepareError.self) { try blockedPreparer.prepare([.text(path: a.path)], encoder: ByteEncoder()) }
            #expect(unmarked?.description.contains("marks a corpus's shards as unfinished while a prepare replaces them") == true,
                    "\(String(describing: unmarked))")
            #expect(FileSystem.contents(of: blocked) == ["corpus.prepare-unfinished"])
        }
    }

    /// A text file's UTF-8 byte-order mark is not part of its document (JSONL lines drop it too): kept, each such
    /// file's document started with three tokens of it. One inside the text stays.
    @Test func aTextFilesByteOrderMarkIsNotPartOfItsDocument() throws {
        try withDirectory { directory in
            let marked = directory.appendingPathComponent("marked.txt"), inside = directory.appendingPathComponent("inside.txt")
            try Data([0xEF, 0xBB, 0xBF] + Array("ab".utf8)).write(to: marked)
            try Data(Array("cd".utf8) + [0xEF, 0xBB, 0xBF]).write(to: inside)
            let summary = try preparer(directory, validation: 1).prepare([.text(path: marked.path), .text(path: inside.path)],
                                                                        encoder: ByteEncoder())
            #expect(try tokens(of: (summary.validationShards + summary.trainShards).map(\.path))
                    == [256, 0x61, 0x62, 256, 0x63, 0x64, 0xEF, 0xBB, 0xBF])
        }
    }

    /// A .json file of JSON lines is read as such: its documents, not its JSON text.
    @Test func aJSONFileOfJSONLinesGivesItsDocuments() throws {
        try withDirectory { directory in
            let file = directory.appendingPathComponent("dump.json")
            try write(#"{"text": "ab"}"# + "\n" + #"{"text": "c"}"# + "\n", to: file)
            let summary = try preparer(directory, validation: 1).prepare([.detect(path: file.path)], encoder: ByteEncoder())
            #expect(try tokens(of: (summary.validationShards + summary.trainShards).map(\.path)) == [256, 0x61, 0x62, 256, 0x63])
        }
    }

    @Test func defaultValidationIsAboutTenPercentOfTheCorpus() {
        #expect(CorpusPreparer.defaultValidationTokens(corpusBytes: 1_115_394) == 27_884)
        #expect(CorpusPreparer.defaultValidationTokens(corpusBytes: 10) == 1)
        #expect(CorpusPreparer.defaultValidationTokens(corpusBytes: 10_000_000_000) == 10_000_000)
    }

    /// A validation split that takes the whole corpus is refused, and leaves an earlier run's shards as they were (the
    /// new val shard beside them made a dataset that validated on what it trained on; then, none of the name was left).
    @Test func validationTakingEverythingIsErrorAndLeavesTheEarlierShards() throws {
        try withDirectory { directory in
            try write(String(repeating: "x", count: 30), to: directory.appendingPathComponent("a.txt"))
            let input = [CorpusInput.text(path: directory.appendingPathComponent("a.txt").path)]
            let earlier = try preparer(directory, validation: 7).prepare(input, encoder: ByteEncoder())
            #expect(earlier.trainShards.count == 3)
            let error = #expect(throws: PrepareError.self) {
                try preparer(directory, validation: 100).prepare(input, encoder: ByteEncoder())
            }
            #expect(error?.description.contains("--val-tokens takes 100 of them") == true)
            #expect(error?.description.contains("the output folder's shards of this name are as they were") == true)
            #expect(FileSystem.contents(of: directory.appendingPathComponent("out").path)?.sorted()
                    == (earlier.validationShards + earlier.trainShards).map { FileSystem.baseName($0.path) }.sorted())
            #expect(try tokens(of: (earlier.validationShards + earlier.trainShards).map(\.path)) == [256] + Array(repeating: 0x78, count: 30))
        }
    }

    /// Where the default validation size (bytes / 40) is more than the corpus, which text of many bytes a token makes,
    /// the error says the size was the default, and suggests one (it said to lower an option the user never gave).
    @Test func aDefaultValidationTakingEverythingIsSaidToBeTheDefault() throws {
        try withDirectory { directory in
            try write(String(repeating: "x", count: 200), to: directory.appendingPathComponent("a.txt"))
            let input = [CorpusInput.text(path: directory.appendingPathComponent("a.txt").path)]
            // 200 bytes / 40 = 5 validation tokens; this encoder makes one token of every 100 bytes (+1 for the separator)
            struct Coarse: DocumentEncoder {
                static let endOfText = 256
                func encodeDocuments(_ documents: [String], threads: Int) -> [[Int]] {
                    documents.map { Array(repeating: 0x78, count: $0.utf8.count / 100) }
                }
            }
            let error = #expect(throws: PrepareError.self) {
                try preparer(directory, validation: nil).prepare(input, encoder: Coarse())
            }
            #expect(error?.description == "the corpus has 3 tokens and the default --val-tokens (its 200 bytes / 40, for GPT-2's "
                    + "~4 bytes a token; this text has 66.7) takes 5 of them, leaving none to train on (the output folder's "
                    + "shards of this name are as they were); give --val-tokens, such as 1 (a tenth)", "\(String(describing: error))")
            // and a corpus of one token (here the separator alone; a file holding only a byte-order mark) gets no advice
            // that cannot work ("such as 1" of its 1)
            try write(String(repeating: "x", count: 50), to: directory.appendingPathComponent("a.txt"))
            let single = #expect(throws: PrepareError.self) {
                try preparer(directory, validation: nil).prepare(input, encoder: Coarse())
            }
            #expect(single?.description.hasSuffix("; a corpus of one token cannot be split: give more text, or --val-tokens 0 for "
                                                  + "no validation split") == true, "\(String(describing: single))")
        }
    }

    /// A write that fails part-way (here the name of the third shard of the new corpus is taken by a folder; a full disk
    /// does the same) leaves the earlier run's dataset as it was, and none of the new corpus's shards: the shards written
    /// before it replaced the earlier ones and made a dataset of part of one corpus and part of another, which trained
    /// without a word; then none of the name was left. The folder is found before the rest of the corpus is tokenised.
    @Test func aWriteThatFailsPartWayLeavesTheEarlierDatasetAsItWas() throws {
        try withDirectory { directory in
            let a = directory.appendingPathComponent("a.txt"), b = directory.appendingPathComponent("b.txt")
            let c = directory.appendingPathComponent("c.txt")
            try write(String(repeating: "x", count: 16), to: a)   // 17 tokens: val 7, train 10
            try write(String(repeating: "y", count: 40), to: b)   // 41 tokens: val 7, train 10 + 10 + 10 + 4
            try write("z", to: c)
            let out = directory.appendingPathComponent("out").path
            let earlier = try preparer(directory).prepare([.text(path: a.path)], encoder: ByteEncoder())
            let earlierFiles = try #require(FileSystem.contents(of: out)).sorted()
            #expect(earlierFiles == ["corpus_train_000000.bin", "corpus_val_000000.bin"])
            try FileManager.default.createDirectory(atPath: out + "/corpus_train_000002.bin", withIntermediateDirectories: true)
            let encoder = MarkWatcher(mark: UnfinishedPrepareMark.path(directory: out, name: "corpus"))
            let error = #expect(throws: PrepareError.self) {
                try preparer(directory).prepare([.text(path: b.path), .text(path: c.path)], encoder: encoder)
            }
            // (named for the shard, not for the temporary name it was written under)
            #expect(error?.description.contains("corpus_train_000002.bin: a folder is in its place") == true, "\(String(describing: error))")
            #expect(FileSystem.contents(of: out)?.sorted() == (earlierFiles + ["corpus_train_000002.bin"]).sorted(),
                    "no new shard, no temporary left")
            #expect(try tokens(of: (earlier.validationShards + earlier.trainShards).map(\.path))
                    == [256] + Array(repeating: 0x78, count: 16))
            #expect(encoder.seen.withLock { $0 } == [false], "stopped at the folder, before c.txt was tokenised")
        }
    }

    /// Each bad input: the error names the file (and line or byte offset), and an existing shard is untouched.
    @Test(arguments: [
        ("missing.txt", nil, "missing.txt"),
        ("empty.txt", Data(), "empty.txt is empty"),
        ("latin1.txt", Data([0x63, 0x61, 0x66, 0xE9, 0x21]), "offset 3"),
        ("surrogate.txt", Data([0x41, 0xED, 0xA0, 0x80]), "offset 1"),
        ("overlong.txt", Data([0xC0, 0xAF]), "offset 0"),
        ("broken.jsonl", Data((#"{"text": "ok"}"# + "\n" + #"{"text": "unterminated}"# + "\n").utf8), "broken.jsonl:2"),
        ("nofield.jsonl", Data((#"{"text": "ok"}"# + "\n\n" + #"{"body": "x"}"#).utf8), "nofield.jsonl:3: no string field \"text\""),
        ("number.jsonl", Data(#"{"text": 5}"#.utf8), "number.jsonl:1"),
        ("null.jsonl", Data(#"{"text": null}"#.utf8), "null.jsonl:1: no string field \"text\""),
        ("toplevelnull.jsonl", Data("null".utf8), "toplevelnull.jsonl:1: not a valid JSON object"),
        ("array.jsonl", Data(#"["text", "x"]"#.utf8), "array.jsonl:1: not a valid JSON object"),
        ("string.jsonl", Data(#""text""#.utf8), "string.jsonl:1: not a valid JSON object"),
        ("lone.jsonl", Data((#"{"text": "ok \ud83d\ude00 \\ud800"}"# + "\n" + #"{"text": "a\ud800b"}"#).utf8),
         "lone.jsonl:2: the escape \\ud800 is half of a UTF-16 surrogate pair"),
        ("lowalone.jsonl", Data(#"{"text": "\udc00"}"#.utf8), "lowalone.jsonl:1: the escape \\udc00 is half"),
        // what the first bytes say the file is, instead of advice that turns it into mojibake (iconv -f latin1)
        ("latin1hint.txt", Data([0x63, 0x61, 0x66, 0xE9]), "offset 3); convert it to UTF-8 first (e.g. `iconv -f latin1 -t utf-8` for Latin-1 text)"),
        ("bom16.txt", Data([0xFF, 0xFE, 0x48, 0x00]), "offset 0); it starts with a UTF-16 byte-order mark; convert it with `iconv -f utf-16 -t utf-8`"),
        ("packed.txt", Data([0x1F, 0x8B, 0x08, 0x00, 0x00]), "offset 1); it is gzip-compressed; decompress it first (`gunzip`, or `zcat` into `gpt2 prepare -`)"),
        ("packed.jsonl", Data([0x28, 0xB5, 0x2F, 0xFD, 0x00]), "offset 1); it is zstd-compressed; decompress it first (`unzstd`, or `zstdcat` into `gpt2 prepare -`)"),
        ("archive.txt", Data([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x08, 0xFF]), "it is a zip archive; extract it first (`unzip`, or `unzip -p` into `gpt2 prepare -`)"),
        ("table.txt", Data(Array("PAR1".utf8) + [0x15, 0x04, 0xFF]), "it is a Parquet file; write its text column out as JSON Lines"),
        // valid UTF-8, but no text: UTF-16 without a byte-order mark, and a binary file
        ("le16.txt", Data([0x48, 0x00, 0x69, 0x00, 0x0A, 0x00]), "holds a NUL byte (at offset 1), which text does not; it looks like UTF-16 (little-endian) text; convert it with `iconv -f utf-16le -t utf-8`"),
        ("be16.txt", Data([0x00, 0x48, 0x00, 0x69]), "holds a NUL byte (at offset 0), which text does not; it looks like UTF-16 (big-endian) text"),
        ("binary.txt", Data(Array("ab".utf8) + [0x00, 0x01]), "holds a NUL byte (at offset 2), which text does not; a binary file is no corpus"),
        // JSON that is not one object per line, in a .json file
        ("pretty.json", Data("{\n  \"text\": \"x\"\n}\n".utf8),
         "pretty.json:1: not a valid JSON object; JSON lines inputs (.jsonl, .ndjson, .json) hold one JSON object per line, not an array"),
        ("blank.jsonl", Data("\n \n".utf8), "blank.jsonl is empty"),
    ] as [(String, Data?, String)])
    func badInputIsClearErrorAndWritesNothing(name: String, contents: Data?, message: String) throws {
        try withDirectory { directory in
            let good = directory.appendingPathComponent("good.txt")
            try write(String(repeating: "z", count: 40), to: good)
            let before = try preparer(directory).prepare([.text(path: good.path)], encoder: ByteEncoder())
            let bad = directory.appendingPathComponent(name)
            if let contents { try contents.write(to: bad) }
            let error = #expect(throws: PrepareError.self) {
                try preparer(directory, validation: 3).prepare([.text(path: good.path), .detect(path: bad.path)],
                                                               encoder: ByteEncoder())
            }
            #expect(error?.description.contains(message) == true, "\(String(describing: error))")
            #expect(try tokens(of: (before.validationShards + before.trainShards).map(\.path)).count == 41,
                    "earlier shards untouched")
        }
    }

    /// A rename that fails while the new shards are moved into place (here a folder appears at the val shard's name
    /// after it was written) leaves the mark over what is there, which loaders refuse, and says so (every shard of the
    /// name was removed instead). Once the cause is gone, the prepare runs again and clears the mark.
    @Test func aRenameThatFailsLeavesTheMark() throws {
        try withDirectory { directory in
            let a = directory.appendingPathComponent("a.txt"), b = directory.appendingPathComponent("b.txt")
            try write(String(repeating: "x", count: 16), to: a)
            try write(String(repeating: "y", count: 16), to: b)
            let out = directory.appendingPathComponent("out").path
            let obstacle = out + "/corpus_val_000000.bin"
            final class Obstructing: DocumentEncoder, @unchecked Sendable {
                static let endOfText = 256
                let obstacle: String
                var calls = 0
                init(obstacle: String) { self.obstacle = obstacle }
                func encodeDocuments(_ documents: [String], threads: Int) -> [[Int]] {
                    calls += 1
                    if calls == 2 { try? FileManager.default.createDirectory(atPath: obstacle, withIntermediateDirectories: false) }
                    return ByteEncoder().encodeDocuments(documents, threads: threads)
                }
            }
            let error = #expect(throws: PrepareError.self) {
                try preparer(directory).prepare([.text(path: a.path), .text(path: b.path)], encoder: Obstructing(obstacle: obstacle))
            }
            let message = error?.description ?? ""
            #expect(message.contains("corpus_val_000000.bin: a folder is in its place") && message.contains("are now part this prepare's and "
                    + "part an earlier one's, which train and eval refuse (corpus.prepare-unfinished says so)"), "\(message)")
            #expect(FileSystem.exists(UnfinishedPrepareMark.path(directory: out, name: "corpus")))
            #expect(throws: DataLoaderError.self) {
                try DataLoader(.split(directory: out, split: "train"), batchSize: 1, sequenceLength: 2, vocabularySize: 257)
            }
            rmdir(obstacle)
            let summary = try preparer(directory).prepare([.text(path: a.path), .text(path: b.path)], encoder: ByteEncoder())
            #expect(!FileSystem.exists(UnfinishedPrepareMark.path(directory: out, name: "corpus")))
            #expect(try tokens(of: (summary.validationShards + summary.trainShards).map(\.path))
                    == [256] + Array(repeating: 0x78, count: 16) + [256] + Array(repeating: 0x79, count: 16))
        }
    }

    /// A named pipe is a stream: read once, as it is tokenised (not checked beforehand, which would have drained it),
    /// and waited for until a process writes it (opened without waiting, it read as empty). Its bytes are checked as they
    /// come, across chunks: a NUL past the first chunk is said at its offset in the stream, and the earlier shards stay.
    @Test func aNamedPipeIsReadOnceAsItIsTokenised() throws {
        try withDirectory { directory in
            let fifo = directory.appendingPathComponent("pipe").path
            try #require(mkfifo(fifo, 0o600) == 0)
            func feed(_ bytes: [UInt8]) -> Thread {
                let writer = Thread {
                    usleep(200_000)   // (after the prepare has opened the pipe, which waits for this writer)
                    // (close-on-exec: a process another test starts meanwhile would hold the pipe open, and the end never came)
                    let descriptor = open(fifo, O_WRONLY | O_CLOEXEC)
                    _ = bytes.withUnsafeBytes { ByteFile.writeFully($0, to: descriptor) }
                    close(descriptor)
                }
                writer.start()
                return writer
            }
            var streamed = preparer(directory, validation: 7)
            streamed.chunkBytes = 16
            let text = Array(String(repeating: "ab", count: 30).utf8)
            _ = feed(text)
            let summary = try streamed.prepare([.text(path: fifo)], encoder: ByteEncoder())
            #expect(try tokens(of: (summary.validationShards + summary.trainShards).map(\.path)) == [256] + text.map(Int.init))

            _ = feed(text + [0] + text)
            let error = #expect(throws: PrepareError.self) { try streamed.prepare([.text(path: fifo)], encoder: ByteEncoder()) }
            #expect(error?.description.contains("holds a NUL byte (at offset 60)") == true, "\(String(describing: error))")
            #expect(try tokens(of: (summary.validationShards + summary.trainShards).map(\.path)) == [256] + text.map(Int.init))
            #expect(FileSystem.contents(of: streamed.outputDirectory)?.count == summary.validationShards.count + summary.trainShards.count)

            // without a validation size: refused before the stream is read (its default comes from a size not known)
            let unsized = #expect(throws: PrepareError.self) {
                try preparer(directory, validation: nil).prepare([.text(path: fifo)], encoder: ByteEncoder())
            }
            #expect(unsized?.description.hasPrefix("\(fifo) is read once") == true, "\(String(describing: unsized))")
        }
    }

    @Test func fineweb10BShardsAreVerifiedAndLinkedFromMirror() throws {
        try withDirectory { directory in
            let mirror = directory.appendingPathComponent("mirror/fineweb10B")
            try FileManager.default.createDirectory(at: mirror, withIntermediateDirectories: true)
            try ShardWriter.write(Array(0..<100), to: mirror.appendingPathComponent("fineweb_val_000000.bin").path)
            try ShardWriter.write(Array(100..<300), to: mirror.appendingPathComponent("fineweb_train_000001.bin").path)
            try ShardWriter.write(Array(300..<350), to: mirror.appendingPathComponent("fineweb_train_000002.bin").path)
            let downloader = Downloader(mirror: directory.appendingPathComponent("mirror").path, cacheDirectory: "/nonexistent")
            let preparer = CorpusPreparer(outputDirectory: directory.appendingPathComponent("out").path, name: "fineweb10B")
            let summary = try preparer.prepareFineweb10B(trainShards: 2, downloader: downloader)
            #expect(summary.validationShards.map(\.tokens) == [100])
            #expect(summary.trainShards.map(\.tokens) == [200, 50])
            #expect(try tokens(of: summary.trainShards.map(\.path)) == Array(100..<350))
            #expect(try preparer.prepareFineweb10B(trainShards: 2, downloader: downloader).skippedShards == 3)
            // fewer --shards than before: the links beyond them go (the loader read all three)
            #expect(try preparer.prepareFineweb10B(trainShards: 1, downloader: downloader).trainShards.count == 1)
            #expect(FileSystem.contents(of: preparer.outputDirectory) == ["fineweb10B_train_000000.bin", "fineweb10B_val_000000.bin"])

            // a file (not a link) where a link goes is refused before any link changes
            try ShardWriter.write(Array(0..<5), to: preparer.outputDirectory + "/fineweb10B_train_000001.bin")
            let inPlace = #expect(throws: PrepareError.self) { try preparer.prepareFineweb10B(trainShards: 2, downloader: downloader) }
            #expect(inPlace?.description.contains("fineweb10B_train_000001.bin: a file is there, not a link gpt2 made") == true)
            #expect(FileSystem.contents(of: preparer.outputDirectory)?.sorted()
                    == ["fineweb10B_train_000000.bin", "fineweb10B_train_000001.bin", "fineweb10B_val_000000.bin"])
            #expect(try tokens(of: [preparer.outputDirectory + "/fineweb10B_train_000000.bin"]) == Array(100..<300))
            FileSystem.remove(preparer.outputDirectory + "/fineweb10B_train_000001.bin")

            // a damaged shard fails the prepare before any link changes: the earlier preparation's stay, whole (the first
            // links of this one stayed beside them; then none of the name was left)
            try ShardWriter.write([1, 60000], to: mirror.appendingPathComponent("fineweb_train_000002.bin").path)
            let error = #expect(throws: PrepareError.self) { try preparer.prepareFineweb10B(trainShards: 2, downloader: downloader) }
            #expect(error?.description.contains("fineweb_train_000002.bin holds token 60000 at position 1") == true)
            #expect(error?.description.contains("in the data mirror is not the original") == true, "\(String(describing: error))")
            #expect(FileSystem.contents(of: preparer.outputDirectory) == ["fineweb10B_train_000000.bin", "fineweb10B_val_000000.bin"])
            #expect(try tokens(of: [preparer.outputDirectory + "/fineweb10B_train_000000.bin"]) == Array(100..<300))

            // prepared into the mirror's own folder under the mirror's own name, the links would be the shards: refused,
            // and every shard stays (it replaced them with links to themselves, then removed the rest as stale)
            try ShardWriter.write(Array(300..<350), to: mirror.appendingPathComponent("fineweb_train_000002.bin").path)
            var intoMirror = CorpusPreparer(outputDirectory: mirror.path, name: "fineweb")
            intoMirror.shardTokens = 65536
            let refused = #expect(throws: PrepareError.self) { try intoMirror.prepareFineweb10B(trainShards: 2, downloader: downloader) }
            #expect(refused?.description.contains("a file is there, not a link gpt2 made") == true, "\(String(describing: refused))")
            #expect(FileSystem.contents(of: mirror.path) == ["fineweb_train_000001.bin", "fineweb_train_000002.bin", "fineweb_val_000000.bin"])
            #expect(try tokens(of: [mirror.appendingPathComponent("fineweb_train_000001.bin").path]) == Array(100..<300))
        }
    }
}
