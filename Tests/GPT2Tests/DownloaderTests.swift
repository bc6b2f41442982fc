/// The downloader without the network: mirrored files are served and checksum-verified, a missing or corrupt
/// file is a clear error naming the path, and a verified file already in the cache is reused.

import Testing
import Foundation
import GPT2TestSupport
@testable import GPT2

@Suite struct DownloaderTests {
    private let unusedCache = "/nonexistent/gpt2-cache"

    @Test(arguments: [DataFile.gpt2Encoder, DataFile.gpt2Vocabulary, DataFile.tinyShakespeare])
    func mirrorServesPinnedOriginals(file: DataFile) throws {
        let downloader = Downloader(mirror: TestPaths.mirror.path, cacheDirectory: unusedCache)
        let path = try downloader.fetch(file)
        #expect(path == TestPaths.mirror.appendingPathComponent(file.relativePath).path)
    }

    @Test func missingMirrorFileIsErrorNamingPath() throws {
        let mirror = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: mirror) }
        let downloader = Downloader(mirror: mirror.path, cacheDirectory: unusedCache)
        let error = #expect(throws: DownloadError.self) { try downloader.fetch(.tinyShakespeare) }
        #expect(error?.description.contains(mirror.appendingPathComponent("tinyshakespeare.txt").path) == true)
        #expect(error?.description.contains("missing") == true)
    }

    @Test func corruptMirrorFileIsChecksumError() throws {
        let mirror = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: mirror) }
        try Data("not shakespeare".utf8).write(to: mirror.appendingPathComponent("tinyshakespeare.txt"))
        let downloader = Downloader(mirror: mirror.path, cacheDirectory: unusedCache)
        let error = #expect(throws: DownloadError.self) { try downloader.fetch(.tinyShakespeare) }
        #expect(error?.description.contains("SHA-256") == true)
        #expect(error?.description.contains(DataFile.tinyShakespeare.sha256!) == true)
    }

    @Test func unpinnedMirrorFileIsServedAsIs() throws {
        let mirror = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: mirror) }
        let file = DataFile(relativePath: "nested/dir/file.bin", url: "https://invalid.example/file.bin")
        try FileManager.default.createDirectory(
            at: mirror.appendingPathComponent("nested/dir"), withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: mirror.appendingPathComponent(file.relativePath))
        let path = try Downloader(mirror: mirror.path, cacheDirectory: unusedCache).fetch(file)
        #expect(path.hasSuffix("nested/dir/file.bin"))
    }

    @Test func verifiedCachedFileIsReusedWithoutDownloading() throws {
        let cache = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let original = TestPaths.mirror.appendingPathComponent("tinyshakespeare.txt")
        try FileManager.default.copyItem(at: original, to: cache.appendingPathComponent("tinyshakespeare.txt"))
        // The URL is unreachable: reaching for the network would fail the fetch.
        var file = DataFile.tinyShakespeare
        file.url = "http://127.0.0.1:9/unreachable"
        let path = try Downloader(mirror: nil, cacheDirectory: cache.path).fetch(file)
        #expect(path == cache.appendingPathComponent("tinyshakespeare.txt").path)
    }

    @Test func downloadRemovesWhatAKilledDownloadLeft() throws {
        let cache = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let abandoned = cache.appendingPathComponent("tinyshakespeare.txt.tmp-\(TestPaths.deadProcessID)")
        let otherFile = cache.appendingPathComponent("other.txt.tmp-\(TestPaths.deadProcessID)")
        for url in [abandoned, otherFile] { try Data("partial".utf8).write(to: url) }
        var file = DataFile.tinyShakespeare
        file.url = "http://127.0.0.1:9/unreachable"  // the download itself fails, without reaching the network
        #expect(throws: DownloadError.self) { try Downloader(mirror: nil, cacheDirectory: cache.path).fetch(file) }
        #expect(!FileManager.default.fileExists(atPath: abandoned.path))
        #expect(FileManager.default.fileExists(atPath: otherFile.path), "another file's temporary is not this download's")
    }

    @Test func fineweb10BCatalogueNamesHuggingFaceShards() {
        #expect(DataFile.fineweb10BValidation.relativePath == "fineweb10B/fineweb_val_000000.bin")
        #expect(DataFile.fineweb10BTrain(1).relativePath == "fineweb10B/fineweb_train_000001.bin")
        #expect(DataFile.fineweb10BTrain(103).url
            == "https://huggingface.co/datasets/kjj0/fineweb10B-gpt2/resolve/main/fineweb_train_000103.bin")
    }
}
