/// The data loader over shards whose token at position p is a known function of (shard, p), so each batch can
/// be traced back to where it came from: disjoint ranks, full coverage, seeded order, exact resume, prefetch.

import Testing
import Foundation
import GPT2TestSupport
@testable import GPT2

@Suite struct DataLoaderTests {
    /// Shards `data_train_00000k.bin` whose tokens are `k * 10_000 + p`: every (shard, position) is unique.
    private static func makeShards(_ tokenCounts: [Int], in directory: URL, split: String = "train") throws {
        for (k, count) in tokenCounts.enumerated() {
            let path = directory.appendingPathComponent("data_\(split)_\(String(format: "%06d", k)).bin").path
            try ShardWriter.write((0..<count).map { k * 10_000 + $0 }, to: path)
        }
    }

    private func withShards(_ tokenCounts: [Int], _ body: (URL) throws -> Void) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.makeShards(tokenCounts, in: directory)
        try body(directory)
    }

    private func batches(_ loader: DataLoader, _ count: Int) throws -> [Batch] {
        try (0..<count).map { _ in try loader.next() }
    }

    /// The log line of what a split holds; the shards of two corpora prepared into one folder are read as one split,
    /// and the line says so.
    @Test func contentsDescriptionCountsShardsAndTokensAndNotesMixedCorpora() throws {
        try withShards([1000, 500]) { directory in
            let loader = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 2, sequenceLength: 8)
            #expect(loader.contentsDescription == "2 shards, 1500 tokens")
            try ShardWriter.write(Array(0..<300), to: directory.appendingPathComponent("other_train_000000.bin").path)
            let mixed = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 2, sequenceLength: 8)
            #expect(mixed.contentsDescription == "3 shards, 1800 tokens (note: of 2 corpus names, data, other, read as one split)")
        }
    }

    @Test func targetsAreInputsShiftedByOne() throws {
        try withShards([1000]) { directory in
            let loader = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 2,
                                        sequenceLength: 8, shuffle: true, seed: 1)
            for batch in try batches(loader, 20) {
                #expect(batch.inputs.count == 16 && batch.targets.count == 16)
                #expect(zip(batch.inputs, batch.targets).allSatisfy { $1 == $0 + 1 })
            }
        }
    }

    @Test(arguments: [false, true])
    func sequentialEpochCoversEveryTokenOnceAcrossRanks(shuffle: Bool) throws {
        // (tokens - 1) is a multiple of B·T·world = 2·4·3 = 24, so no token is dropped.
        try withShards([24 * 5 + 1, 24 * 3 + 1, 24 * 7 + 1]) { directory in
            let world = 3
            let loaders = try (0..<world).map { rank in
                try DataLoader(.pattern(directory.path + "/*.bin"), batchSize: 2, sequenceLength: 4, rank: rank,
                               worldSize: world, shuffle: shuffle, seed: 11)
            }
            #expect(loaders[0].batchesPerEpoch == 15)
            var seen: [Int32] = []
            for _ in 0..<15 { for loader in loaders { seen += try loader.next().inputs } }
            let expected = [(0, 120), (1, 72), (2, 168)].flatMap { k, n in (0..<n).map { Int32(k * 10_000 + $0) } }
            #expect(seen.sorted() == expected.sorted(), "each input token exactly once")
            if !shuffle { #expect(Array(seen.prefix(8)) == (0..<8).map(Int32.init)) }
            #expect(loaders.allSatisfy { $0.state.epoch == 1 && $0.state.shardPosition == 0 })
        }
    }

    @Test func ranksReadDisjointTokensInLockstep() throws {
        try withShards([4001, 3001]) { directory in
            let loaders = try (0..<4).map { rank in
                try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 4, sequenceLength: 16,
                               rank: rank, worldSize: 4, shuffle: true, seed: 3)
            }
            for _ in 0..<30 {
                let step = try loaders.map { try $0.next().inputs }
                #expect(Set(step.flatMap { $0 }).count == 4 * 64, "no token shared between ranks")
            }
        }
    }

    @Test func seedFixesOrderAndDifferentSeedsDiffer() throws {
        try withShards([2001, 2001, 2001]) { directory in
            let selection = ShardSelection.split(directory: directory.path, split: "train")
            func run(_ seed: UInt64) throws -> [Batch] {
                try batches(DataLoader(selection, batchSize: 2, sequenceLength: 10, shuffle: true, seed: seed), 40)
            }
            #expect(try run(5) == run(5))
            #expect(try run(5) != run(6))
            let sequential = try batches(DataLoader(selection, batchSize: 2, sequenceLength: 10, shuffle: false), 40)
            #expect(try run(5) != sequential)
        }
    }

    @Test func shuffleChangesOrderBetweenEpochs() throws {
        try withShards([401, 401]) { directory in
            let loader = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 2,
                                        sequenceLength: 10, shuffle: true, seed: 2)
            let epochs = try (0..<2).map { _ in try batches(loader, loader.batchesPerEpoch).map(\.inputs) }
            #expect(epochs[0] != epochs[1])
            #expect(Set(epochs[0]) == Set(epochs[1]), "same chunks, new order")
        }
    }

    /// The shuffle uses every input it names: the shard order is new each epoch (shards of one chunk, so only it
    /// shows), each shard has its own chunk order (two shards of 10 chunks), and the seed sets the chunk order too
    /// (one shard, where the shard order cannot differ). A coincidence is 1 in 6!³ or 10! here, and the seeds are fixed.
    @Test func shuffleOrdersDependOnEpochShardAndSeed() throws {
        try withShards(Array(repeating: 21, count: 6)) { directory in   // B·T = 20: one chunk per shard
            let loader = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 2, sequenceLength: 10,
                                        shuffle: true, seed: 1)
            let shardOrders = try (0..<4).map { _ in try batches(loader, 6).map { $0.inputs[0] / 10_000 } }
            #expect(Set(shardOrders).count > 1, "every epoch read the shards in the order \(shardOrders[0])")
        }
        try withShards([201, 201]) { directory in   // 10 chunks each
            let loader = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 2, sequenceLength: 10,
                                        shuffle: true, seed: 1)
            var chunkOrders: [Int32: [Int32]] = [:]   // shard → its chunks in the order read
            for batch in try batches(loader, 20) { chunkOrders[batch.inputs[0] / 10_000, default: []].append(batch.inputs[0] % 10_000 / 20) }
            #expect(chunkOrders.count == 2 && chunkOrders[0] != chunkOrders[1], "\(chunkOrders)")
        }
        try withShards([201]) { directory in
            func chunkOrder(seed: UInt64) throws -> [Int32] {
                let loader = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 2, sequenceLength: 10,
                                            shuffle: true, seed: seed)
                return try batches(loader, 10).map { $0.inputs[0] / 20 }
            }
            let (one, two) = (try chunkOrder(seed: 1), try chunkOrder(seed: 2))
            #expect(one != two, "\(one)")
        }
    }

    /// A shard of exactly k·B·T tokens holds k − 1 batches: the last chunk's final target would be the token after the
    /// shard (llm.c's loader likewise needs B·T + 1 tokens per batch). 240 tokens at B·T = 20: 239 / 20 = 11 batches.
    @Test func aShardOfWholeChunksKeepsOneTokenForTheLastTarget() throws {
        try withShards([240]) { directory in
            let loader = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 2, sequenceLength: 10,
                                        shuffle: false)
            try #require(loader.batchesPerEpoch == 11)
            let targets = try batches(loader, 11).flatMap(\.targets)
            #expect(targets.max() == 220)   // the last batch reads 200…219, its targets 201…220
        }
    }

    @Test(arguments: [7, 19, 20, 33])  // mid-shard, shard boundary, epoch boundary (20 per epoch), next epoch
    func restoredLoaderContinuesWithIdenticalBatches(consumed: Int) throws {
        try withShards([241, 161]) { directory in
            let selection = ShardSelection.split(directory: directory.path, split: "train")
            let original = try DataLoader(selection, batchSize: 2, sequenceLength: 10, shuffle: true, seed: 9)
            #expect(original.batchesPerEpoch == 20)
            _ = try batches(original, consumed)
            let saved = try JSONEncoder().encode(original.state)
            let restored = try DataLoader(restoring: JSONDecoder().decode(DataLoaderState.self, from: saved), selection)
            #expect(try batches(restored, 25) == batches(original, 25))
        }
    }

    @Test func restoringWithDifferentShardSetIsError() throws {
        try withShards([241, 161]) { directory in
            let original = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 2,
                                          sequenceLength: 10)
            let error = #expect(throws: DataLoaderError.self) {
                try DataLoader(restoring: original.state, .pattern(directory.path + "/data_train_000000.bin"))
            }
            #expect(error?.description.contains("2 shards") == true)
            var older = original.state   // a checkpoint from before the shards were recorded is checked by their count
            older.shards = nil
            let olderError = #expect(throws: DataLoaderError.self) {
                try DataLoader(restoring: older, .pattern(directory.path + "/data_train_000000.bin"))
            }
            #expect(olderError?.description.contains("saved with 2 shards") == true, "\(String(describing: olderError))")
        }
    }

    /// A split's folder is a path, not a pattern: `runs[1]` holds its own shards, not those of `runs1` beside it; and a
    /// split's name is a name (`*` matched every shard, the training split's too).
    @Test func aSplitsFolderIsTakenLiterally() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        for (folder, count) in [("runs[1]*?", 241), ("runs1*?", 161)] {
            let directory = root.appendingPathComponent(folder)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Self.makeShards([count], in: directory)
        }
        let paths = ShardSelection.split(directory: root.path + "/runs[1]*?", split: "train").paths()
        #expect(paths == [root.path + "/runs[1]*?/data_train_000000.bin"])
        #expect(ShardSelection.split(directory: root.path + "/runs[1]*?", split: "*").paths().isEmpty, "a split named '*' has no shards")
        #expect(try DataLoader(.split(directory: root.path + "/runs[1]*?", split: "train"), batchSize: 2, sequenceLength: 10).shards
                    .map(\.tokenCount) == [241])
    }

    /// A corpus named after its file `wiki_train.txt` has shards `wiki_train_train_*.bin` and `wiki_train_val_*.bin`:
    /// each is in its own split only (the val shard, matching `*_train_*.bin`, was trained on, and a corpus `x_val`'s
    /// training shard evaluated on), and the log names one corpus.
    @Test func aCorpusNamedAfterASplitKeepsItsSplitsApart() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (file, count) in [("wiki_train_train_000000.bin", 241), ("wiki_train_val_000000.bin", 161),
                              ("x_val_train_000000.bin", 301), ("x_val_val_000000.bin", 181)] {
            try ShardWriter.write(Array(0..<count), to: directory.appendingPathComponent(file).path)
        }
        func names(_ split: String) -> [String] {
            ShardSelection.split(directory: directory.path, split: split).paths().map(FileSystem.baseName)
        }
        #expect(names("train") == ["wiki_train_train_000000.bin", "x_val_train_000000.bin"])
        #expect(names("val") == ["wiki_train_val_000000.bin", "x_val_val_000000.bin"])
        let validation = try DataLoader(.split(directory: directory.path, split: "val"), batchSize: 2, sequenceLength: 10)
        #expect(validation.contentsDescription
                == "2 shards, 342 tokens (note: of 2 corpus names, wiki_train, x_val, read as one split)")
    }

    /// A saved position outside the shards (a damaged state) is refused by name; a negative pass trapped.
    @Test func restoringAPositionOutsideTheShardsIsError() throws {
        try withShards([241, 161]) { directory in
            let selection = ShardSelection.split(directory: directory.path, split: "train")
            let original = try DataLoader(selection, batchSize: 2, sequenceLength: 10)
            for (epoch, shard, chunk, phrase) in [(-1, 0, 0, "shard 0 of pass -1"), (0, 2, 0, "shard 2 of pass 0"),
                                                  (0, -1, 0, "shard -1 of pass 0"), (0, 0, 12, "chunk 12")] {
                var state = original.state
                (state.epoch, state.shardPosition, state.chunkPosition) = (epoch, shard, chunk)
                let error = #expect(throws: DataLoaderError.self) { try DataLoader(restoring: state, selection) }
                #expect(error?.description.contains(phrase) == true, "\(String(describing: error))")
            }
        }
    }

    /// The same number of shards is not enough: a resume on shards with other names or sizes (another corpus,
    /// or the same one prepared again differently) is refused, naming the first that differs; a moved folder is fine.
    @Test func restoringOnOtherShardsIsError() throws {
        try withShards([241, 161]) { directory in
            let original = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 2, sequenceLength: 10)
            _ = try batches(original, 3)
            let state = try JSONDecoder().decode(DataLoaderState.self, from: JSONEncoder().encode(original.state))
            #expect(state.shards == [.init(name: "data_train_000000.bin", tokens: 241), .init(name: "data_train_000001.bin", tokens: 161)])

            let moved = directory.path + "/moved"
            try FileManager.default.createDirectory(atPath: moved, withIntermediateDirectories: true)
            try Self.makeShards([241, 161], in: URL(fileURLWithPath: moved))
            #expect(try batches(DataLoader(restoring: state, .split(directory: moved, split: "train")), 5) == batches(original, 5))

            let resized = directory.path + "/resized"
            try FileManager.default.createDirectory(atPath: resized, withIntermediateDirectories: true)
            try Self.makeShards([241, 170], in: URL(fileURLWithPath: resized))
            let error = #expect(throws: DataLoaderError.self) { try DataLoader(restoring: state, .split(directory: resized, split: "train")) }
            #expect(error?.description.contains("data_train_000001.bin (161 tokens)") == true, "\(String(describing: error))")

            var older = state   // a checkpoint from before the shards were recorded still resumes
            older.shards = nil
            _ = try DataLoader(restoring: older, .split(directory: resized, split: "train"))
        }
    }

    @Test func prefetchYieldsSameBatchesAsDirectReads() throws {
        try withShards([3001, 1001, 2001]) { directory in
            let selection = ShardSelection.split(directory: directory.path, split: "train")
            let prefetched = try DataLoader(selection, batchSize: 3, sequenceLength: 16, seed: 4, prefetch: true)
            let direct = try DataLoader(selection, batchSize: 3, sequenceLength: 16, seed: 4, prefetch: false)
            #expect(try batches(prefetched, 250) == batches(direct, 250))
        }
    }

    @Test func noMatchingShardsIsErrorNamingPattern() {
        let error = #expect(throws: DataLoaderError.self) {
            try DataLoader(.split(directory: "/nonexistent/data", split: "train"), batchSize: 1, sequenceLength: 8)
        }
        #expect(error?.description.contains("/nonexistent/data/*_train_*.bin") == true)
        #expect(error?.description.contains("gpt2 prepare") == true)
    }

    /// A shard given where its folder belongs is named as a file, with the folder to give instead (it was told to
    /// run gpt2 prepare).
    @Test func aShardGivenForItsFolderNamesTheFolder() throws {
        try withShards([100]) { directory in
            let shard = directory.appendingPathComponent("data_train_000000.bin").path
            let error = #expect(throws: DataLoaderError.self) {
                try DataLoader(.split(directory: shard, split: "train"), batchSize: 1, sequenceLength: 8)
            }
            #expect(error?.description == "\(shard) is a file: give the folder of token shards that holds it (--data \(directory.path))")
        }
    }

    @Test func batchLargerThanSmallestShardIsError() throws {
        try withShards([10_000, 64]) { directory in
            let error = #expect(throws: DataLoaderError.self) {
                try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 4, sequenceLength: 16)
            }
            #expect(error?.description.contains("data_train_000001.bin holds 64 tokens") == true)
        }
    }

    /// Tokens 0…1000 under a vocabulary of 500: batches 0–3 (targets up to 400) are read; batch 4, whose inputs are
    /// 400…499 and only its last target is 500, is refused.
    @Test func tokenOutsideVocabularyIsReportedWhenRead() throws {
        try withShards([1001]) { directory in
            let loader = try DataLoader(.split(directory: directory.path, split: "train"), batchSize: 1,
                                        sequenceLength: 100, shuffle: false, vocabularySize: 500)
            #expect(throws: Never.self) { _ = try self.batches(loader, 4) }
            let error = #expect(throws: DataLoaderError.self) { try loader.next() }
            #expect(error?.description.contains("token 500 at position 500") == true, "\(String(describing: error))")
        }
    }

    @Test func validationLoaderServesOnePassThenResets() throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.makeShards([161], in: directory, split: "val")
        let validation = try ValidationLoader(.split(directory: directory.path, split: "val"), batchSize: 2,
                                              sequenceLength: 10)
        #expect(validation.batchesPerPass == 8)
        var pass: [Batch] = []
        while let batch = try validation.next() { pass.append(batch) }
        #expect(pass.count == 8)
        #expect(pass[0].inputs == (0..<20).map(Int32.init))
        validation.reset()
        #expect(try validation.next() == pass[0])
    }
}
