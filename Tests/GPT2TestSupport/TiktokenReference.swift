/// The independent reference for the tokenizer: tiktoken's `gpt2` encoding, run through
/// `scripts/tokenizer_golden.py` (tests that need it are skipped with a reason when tiktoken is missing).

import Foundation

public enum TiktokenReference {
    /// Whether `python3` can import tiktoken (`pip install -r scripts/ci-requirements.txt`).
    public static let isAvailable: Bool =
        (try? runCommand("python3", arguments: ["-c", "import tiktoken"]).status) == 0

    /// The golden corpus: documents (as UTF-8) and tiktoken's ids for each.
    public struct Golden: Sendable {
        public let documents: [Data]
        public let ids: [[Int]]
    }

    /// Runs the generator script once per process and loads what it wrote.
    public static func golden() throws -> Golden {
        let directory = try TestPaths.temporaryDirectory("tokenizer-golden")
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = TestPaths.repositoryRoot.appendingPathComponent("scripts/tokenizer_golden.py").path
        let result = try runCommand("python3", arguments: [script, TestPaths.mirror.path, directory.path])
        guard result.status == 0 else {
            throw ReferenceError(message: "tokenizer_golden.py failed: \(result.stderrText)")
        }
        let text = try Data(contentsOf: directory.appendingPathComponent("documents.txt"))
        let lengths = try JSONDecoder().decode(
            [Int].self, from: Data(contentsOf: directory.appendingPathComponent("lengths.json")))
        let ids = try JSONDecoder().decode(
            [[Int]].self, from: Data(contentsOf: directory.appendingPathComponent("ids.json")))
        var documents: [Data] = []
        var offset = text.startIndex
        for length in lengths {
            documents.append(text[offset..<(offset + length)])
            offset += length
        }
        return Golden(documents: documents, ids: ids)
    }

    public struct ReferenceError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}
