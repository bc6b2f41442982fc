/// The tests' own footprint: what they and the gpt2 they run write stays in the test process's scratch folder
/// (TestPaths.scratch), never in the user's cache, and the scratch folders of test processes that died are removed.

import Foundation
import GPT2TestSupport
import Testing

@Suite struct TestScratchTests {
    @Test func aBenchRunFromTheTestsRecordsInTheTestsCache() throws {
        let folder = try TestPaths.temporaryDirectory("scratch-check")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(folder.deletingLastPathComponent().path == TestPaths.scratch.path)

        let calibration = TestPaths.cacheHome + "/gpt2-swift/calibration.json"
        let before = (try? Data(contentsOf: URL(fileURLWithPath: calibration)))?.count ?? 0
        let home = folder.path + "/home"   // where the user's cache would be, were XDG_CACHE_HOME not the tests'
        let result = try runGPT2(arguments: ["bench", "--model", "tiny", "--micro-batch", "1", "--seq", "16", "--steps", "1",
                                             "--warmup", "0", "--device", "cpu"], environment: ["HOME": home, "GPT2_CALIBRATION": ""])
        try #require(result.status == 0, "\(result.stderrText)")
        let after = try Data(contentsOf: URL(fileURLWithPath: calibration)).count
        #expect(after > before, "the bench's record went elsewhere")
        #expect(!FileManager.default.fileExists(atPath: home + "/.cache"))
    }

    @Test func theScratchOfADeadTestProcessIsRemoved() throws {
        let folder = try TestPaths.temporaryDirectory("scratch-sweep")
        defer { try? FileManager.default.removeItem(at: folder) }
        let dead = folder.appendingPathComponent("gpt2-tests-\(TestPaths.deadProcessID)")
        let alive = folder.appendingPathComponent("gpt2-tests-\(getpid())")
        let unrelated = folder.appendingPathComponent("gpt2-tests-notes")
        for url in [dead, alive, unrelated] {
            try FileManager.default.createDirectory(at: url.appendingPathComponent("run"), withIntermediateDirectories: true)
        }
        TestPaths.removeScratchOfDeadProcesses(in: folder)
        #expect(!FileManager.default.fileExists(atPath: dead.path))
        #expect(FileManager.default.fileExists(atPath: alive.path))
        #expect(FileManager.default.fileExists(atPath: unrelated.path))
    }
}
