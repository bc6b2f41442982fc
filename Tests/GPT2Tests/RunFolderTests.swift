/// Where a run lives: the run folder of a checkpoint, what marks a folder as holding a run, clearing one, and
/// the absolute paths a run saves.

import Foundation
import GPT2
import GPT2TestSupport
import Testing

@Suite struct RunFolderTests {
    @Test func theRunFolderOfACheckpointIsItsParent() {
        #expect(Checkpoint.runDirectory(of: "runs/a/ckpt_5") == "runs/a")
        #expect(Checkpoint.runDirectory(of: "runs/a/ckpt_5/") == "runs/a")
        #expect(Checkpoint.runDirectory(of: "ckpt_5") == ".")
        #expect(Checkpoint.runDirectory(of: "/ckpt_5") == "/")
    }

    @Test func onlyCheckpointsOrMetricsMakeAnEarlierRun() throws {
        let root = try TestPaths.temporaryDirectory("run-folder").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let files = FileManager.default
        #expect(RunFolder.earlierRun(in: root + "/missing") == nil)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: root + "/notes.txt"))
        try Data().write(to: URL(fileURLWithPath: root + "/metrics.jsonl"))
        try files.createDirectory(atPath: root + "/ckpt_notes", withIntermediateDirectories: true)
        #expect(RunFolder.earlierRun(in: root) == nil, "other files, an empty log and a folder that is no checkpoint")

        try Data("{\"step\":1}\n".utf8).write(to: URL(fileURLWithPath: root + "/metrics.jsonl"))
        #expect(RunFolder.earlierRun(in: root) == "metrics.jsonl")
        for step in [3, 12] { try files.createDirectory(atPath: root + "/ckpt_\(step)", withIntermediateDirectories: true) }
        #expect(RunFolder.earlierRun(in: root) == "2 checkpoints up to ckpt_12 and metrics.jsonl")

        try RunFolder.clear(root)
        #expect(RunFolder.earlierRun(in: root) == nil)
        #expect(try files.contentsOfDirectory(atPath: root).sorted() == ["ckpt_notes", "notes.txt"])
    }

    @Test func relativePathsAreMadeAbsoluteAgainstTheWorkingDirectory() {
        let cwd = FileManager.default.currentDirectoryPath
        #expect(FileSystem.absolutePath("/data/x") == "/data/x")
        #expect(FileSystem.absolutePath("data/x") == cwd + "/data/x")
        #expect(FileSystem.absolutePath("./data") == cwd + "/data")
        #expect(FileSystem.absolutePath(".//data") == cwd + "/data")
        #expect(FileSystem.absolutePath(".") == cwd)
        #expect(FileSystem.absolutePath("../data") == cwd + "/../data")
    }
}
