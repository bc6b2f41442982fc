/// Token shards: what the writer writes the reader reads back (llm.c's byte layout), each kind of corruption
/// is rejected with an error naming the file, and the writer never leaves a partial shard under its final name.

import Testing
import Foundation
import GPT2TestSupport
@testable import GPT2

@Suite struct ShardTests {
    private func withDirectory(_ body: (URL) throws -> Void) throws {
        let directory = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory)
    }

    /// A shard built byte by byte, independently of `ShardFormat`.
    private func handMadeShard(magic: Int32 = 20_240_520, version: Int32 = 1, declared: Int32, tokens: [UInt16]) -> Data {
        var header = [Int32](repeating: 0, count: 256)
        header[0] = magic; header[1] = version; header[2] = declared
        var data = header.withUnsafeBytes { Data($0) }
        tokens.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    @Test func writtenTokensReadBack() throws {
        try withDirectory { directory in
            let path = directory.appendingPathComponent("s.bin").path
            let tokens = (0..<5000).map { ($0 * 7919) % 50257 }
            try ShardWriter.write(tokens, to: path)
            let reader = try ShardReader(path: path)
            #expect(reader.tokenCount == tokens.count)
            #expect(reader.withTokens { $0.map { Int($0) } } == tokens)
            #expect(ShardFormat.isCompleteShard(at: path))
        }
    }

    @Test func writerProducesLLMCByteLayout() throws {
        try withDirectory { directory in
            let path = directory.appendingPathComponent("s.bin").path
            try ShardWriter.write([50256, 1, 65535], to: path)
            let written = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(written == handMadeShard(declared: 3, tokens: [50256, 1, 65535]))
        }
    }

    @Test func headerOnlyShardHasNoTokens() throws {
        try withDirectory { directory in
            let path = directory.appendingPathComponent("s.bin").path
            try ShardWriter.write([], to: path)
            #expect(try ShardReader(path: path).tokenCount == 0)
        }
    }

    @Test func readerRejectsEachCorruption() throws {
        try withDirectory { directory in
            let cases: [(String, Data, (ShardError) -> Bool)] = [
                ("empty", Data(), { if case .truncatedHeader(_, 0) = $0 { true } else { false } }),
                ("short-header", Data(count: 100), { if case .truncatedHeader = $0 { true } else { false } }),
                ("magic", handMadeShard(magic: 20_240_801, declared: 2, tokens: [1, 2]),
                 { if case .badMagic(_, 20_240_801) = $0 { true } else { false } }),
                ("version", handMadeShard(version: 2, declared: 2, tokens: [1, 2]),
                 { if case .badVersion(_, 2) = $0 { true } else { false } }),
                ("count", handMadeShard(declared: 3, tokens: [1, 2]),
                 { if case .sizeMismatch(_, 3, _) = $0 { true } else { false } }),
                ("negative", handMadeShard(declared: -5, tokens: [1, 2]),
                 { if case .sizeMismatch(_, -5, _) = $0 { $0.description.contains("declares a negative token count (-5)") } else { false } }),
                ("truncated", handMadeShard(declared: 4, tokens: [1, 2, 3, 4]).dropLast(3),
                 { if case .sizeMismatch(_, 4, _) = $0 { $0.description.contains("truncated or partially written") } else { false } }),
                // longer than declared: not read as 2 tokens, nor called truncated
                ("trailing", handMadeShard(declared: 2, tokens: [1, 2, 3]),
                 { if case .sizeMismatch(_, 2, 1030) = $0 { $0.description.contains("is 1030 bytes — longer than its header says") } else { false } }),
                ("vocabulary", handMadeShard(declared: 3, tokens: [5, 50257, 7]),
                 { if case .tokenOutOfRange(_, 1, 50257, 50257) = $0 { true } else { false } }),
            ]
            for (name, bytes, isExpected) in cases {
                let path = directory.appendingPathComponent("\(name).bin").path
                try bytes.write(to: URL(fileURLWithPath: path))
                let error = #expect(throws: ShardError.self, "\(name)") { try ShardReader(path: path) }
                guard let error else { continue }
                #expect(isExpected(error), "\(name): \(error)")
                #expect(error.description.contains(path), "\(name) names the file")
                #expect(error.description.contains("gpt2 prepare"), "\(name) suggests the fix")
            }
        }
    }

    /// A shard that is a link into a mirror or cache that has moved says so (it said "No such file or directory" of a
    /// file `ls` lists); a folder named like a shard says it is a folder (it said "mmap failed: No such device").
    @Test func aDanglingLinkOrAFolderIsNamedForWhatItIs() throws {
        try withDirectory { directory in
            let link = directory.appendingPathComponent("x_train_000000.bin").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/nowhere/fineweb_train_000001.bin")
            let dangling = #expect(throws: ShardError.self) { try ShardReader(path: link) }
            #expect(dangling?.description.contains("a symbolic link to /nowhere/fineweb_train_000001.bin, which cannot be opened") == true
                    && dangling?.description.contains("run the prepare again") == true, "\(String(describing: dangling))")
            let folder = directory.appendingPathComponent("x_train_000001.bin").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let error = #expect(throws: ShardError.self) { try ShardReader(path: folder) }
            #expect(error?.description.contains("a folder, not a file") == true, "\(String(describing: error))")
        }
    }

    @Test func vocabularyCheckCanBeSkippedOrWidened() throws {
        try withDirectory { directory in
            let path = directory.appendingPathComponent("s.bin").path
            try ShardWriter.write([60000], to: path)
            #expect(try ShardReader(path: path, vocabularySize: nil)[0] == 60000)
            #expect(try ShardReader(path: path, vocabularySize: 65536)[0] == 60000)
        }
    }

    @Test func missingFileIsCannotOpen() {
        #expect(throws: ShardError.self) { try ShardReader(path: "/nonexistent/shard.bin") }
        #expect(!ShardFormat.isCompleteShard(at: "/nonexistent/shard.bin"))
    }

    @Test func unfinishedWriterLeavesNoFile() throws {
        try withDirectory { directory in
            let path = directory.appendingPathComponent("s.bin").path
            do {
                let writer = try ShardWriter(path: path)
                try writer.append(Array(0..<100))
                #expect(!FileManager.default.fileExists(atPath: path), "nothing under the final name before finish")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        }
    }

    @Test func finishedWriterLeavesOnlyTheShard() throws {
        try withDirectory { directory in
            let path = directory.appendingPathComponent("s.bin").path
            let writer = try ShardWriter(path: path)
            for start in stride(from: 0, to: 3_000_000, by: 1_000_000) { try writer.append(Array(start..<start + 1_000_000).map { $0 % 50000 }) }
            try writer.finish()
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["s.bin"])
            #expect(try ShardFormat.tokenCount(ofShardAt: path) == 3_000_000)
        }
    }

    @Test func writerRejectsTokensBeyondUInt16() throws {
        try withDirectory { directory in
            #expect(throws: ShardError.self) {
                try ShardWriter.write([1, 70000], to: directory.appendingPathComponent("s.bin").path)
            }
        }
    }
}
