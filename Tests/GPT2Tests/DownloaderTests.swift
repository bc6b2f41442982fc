/// The downloader without the network: mirrored files are served and checksum-verified, a missing or corrupt
/// file is a clear error naming the path, a verified file already in the cache is reused, and an interrupted
/// download is continued (curl fetching file:// URLs, or a stand-in that cuts every run short).

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

    /// Downloads, the calibration file and the kernels share one cache folder, whose fallback without a home is one
    /// per user (the calibration file went under the working folder, downloads to a /tmp folder shared by all users).
    @Test func theCachesShareOneFolder() {
        #expect(FileSystem.cacheFolder { ["XDG_CACHE_HOME": "/x", "HOME": "/h"][$0] } == "/x/gpt2-swift")
        #expect(FileSystem.cacheFolder { ["XDG_CACHE_HOME": "", "HOME": "/h"][$0] } == "/h/.cache/gpt2-swift")
        #expect(FileSystem.cacheFolder { _ in nil } == "/tmp/gpt2-swift-\(getuid())")
        #expect(CalibrationFile.defaultPath(environment: [:]) == "/tmp/gpt2-swift-\(getuid())/calibration.json")
        #expect(CalibrationFile.defaultPath(environment: ["HOME": "/h", "GPT2_CALIBRATION": "/c.json"]) == "/c.json")
    }

    /// A path's leading `~` is the home folder where no shell expanded it (an env file's GPT2_CACHE_DIR=~/cache made a
    /// folder called `~` in the working folder); `~user`, a `~` inside a path, or no home leave it as it is.
    @Test func aLeadingTildeIsTheHomeFolder() {
        #expect(FileSystem.expandingHome("~", home: "/h/") == "/h")
        #expect(FileSystem.expandingHome("~/cache/x", home: "/h") == "/h/cache/x")
        for unchanged in ["~bob/x", "a/~/x", "/abs", "rel"] { #expect(FileSystem.expandingHome(unchanged, home: "/h") == unchanged) }
        #expect(FileSystem.expandingHome("~/x", home: nil) == "~/x" && FileSystem.expandingHome("~/x", home: "") == "~/x")
        #expect(FileSystem.cacheFolder { ["XDG_CACHE_HOME": "~/c", "HOME": "/h"][$0] } == "/h/c/gpt2-swift")
        #expect(CalibrationFile.defaultPath(environment: ["HOME": "/h", "GPT2_CALIBRATION": "~/c.json"]) == "/h/c.json")
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
        #expect(error?.description.contains("in the data mirror is not the original (SHA-256 ") == true)
        guard case .sha256(let pinned) = DataFile.tinyShakespeare.integrity else { Issue.record("tinyshakespeare has no pinned SHA-256"); return }
        #expect(error?.description.contains(pinned) == true)
        #expect(error?.description.contains("replace it with a copy of \(DataFile.tinyShakespeare.url)") == true, "\(String(describing: error))")
    }

    /// A token shard without a pinned hash is checked by its header, size and tokens, in a mirror (with advice for the
    /// mirror: regenerating with gpt2 prepare cannot mend it) and in the cache, where a damaged copy — a download curl
    /// called finished that was cut short, or a server's error page — is downloaded again instead of used for ever.
    @Test func tokenShardsAreCheckedAndADamagedCachedCopyIsDownloadedAgain() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let good = root.appendingPathComponent("good.bin").path
        try ShardWriter.write(Array(0..<1000), to: good)
        let file = DataFile(relativePath: "fineweb10B/shard.bin", url: "file://" + good, integrity: .tokenShard)
        let mirror = root.appendingPathComponent("mirror")
        try FileManager.default.createDirectory(at: mirror.appendingPathComponent("fineweb10B"), withIntermediateDirectories: true)
        let mirrored = mirror.appendingPathComponent(file.relativePath)
        for (bytes, problem) in [(Data(count: 500), "500 bytes is shorter than the 1024-byte header"),
                                 (Data(ShardFormat.header(tokenCount: 0)), "a token shard of no tokens"),
                                 (try Data(contentsOf: URL(fileURLWithPath: good)).prefix(1500), "declares 1000 tokens")] {
            try bytes.write(to: mirrored)
            let error = #expect(throws: DownloadError.self) { try Downloader(mirror: mirror.path, cacheDirectory: unusedCache).fetch(file) }
            #expect(error?.description.contains("in the data mirror is not the original") == true && error?.description.contains(problem) == true,
                    "\(String(describing: error))")
            #expect(error?.description.contains("gpt2 prepare") == false)
        }
        let notAFolder = #expect(throws: DownloadError.self) { try Downloader(mirror: good, cacheDirectory: unusedCache).fetch(file) }
        #expect(notAFolder?.description.contains("the data mirror \(good) (--mirror or GPT2_DATA_MIRROR) is not a folder") == true)

        let cache = root.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache.appendingPathComponent("fineweb10B"), withIntermediateDirectories: true)
        try Data("<html>rate limited</html>".utf8).write(to: cache.appendingPathComponent(file.relativePath))
        let path = try Downloader(mirror: nil, cacheDirectory: cache.path).fetch(file)
        #expect(FileManager.default.contentsEqual(atPath: path, andPath: good))
        // a download that is itself damaged is removed, and said to be
        var damagedSource = file
        damagedSource.url = "file://" + mirrored.path
        let error = #expect(throws: DownloadError.self) {
            try Downloader(mirror: nil, cacheDirectory: root.appendingPathComponent("cache2").path).fetch(damagedSource)
        }
        #expect(error?.description.contains("the download of \(damagedSource.url) is damaged (") == true
                && error?.description.contains("and was removed") == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("cache2").path + "/" + file.relativePath))
    }

    /// A cached copy this process may not read is reported as such, and kept: it is not known to be damaged, and
    /// offline it may be the only copy. (Root reads everything, so this runs for other users only; as root,
    /// PrepareCommandTests.anUnreadableCachedDownloadIsReportedAndKept checks it through the binary run as nobody.)
    @Test(.enabled(if: getuid() != 0, "root may read a file of mode 000: checked as root by PrepareCommandTests.anUnreadableCachedDownloadIsReportedAndKept, as nobody"))
    func anUnreadableCachedCopyIsKept() throws {
        let cache = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        let copy = cache.appendingPathComponent("tinyshakespeare.txt")
        try FileManager.default.copyItem(at: TestPaths.mirror.appendingPathComponent("tinyshakespeare.txt"), to: copy)
        chmod(copy.path, 0)
        defer { chmod(copy.path, 0o644) }
        let error = #expect(throws: DownloadError.self) { try Downloader(mirror: nil, cacheDirectory: cache.path).fetch(.tinyShakespeare) }
        #expect(error?.description.contains("cannot read \(copy.path)") == true, "\(String(describing: error))")
        #expect(FileManager.default.fileExists(atPath: copy.path))
    }

    /// A download checked by its line count (HellaSwag's, whose hash is not pinned) that is cut short is downloaded
    /// again, and a whole one is kept, its last line counted without a newline after it; a mirror's copy is used as
    /// found (a subset for quick checks).
    @Test func aCachedTextFileWithTooFewLinesIsDownloadedAgain() throws {
        let root = try TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let source = root.appendingPathComponent("items.jsonl")
        try Data("a\nb\nc\n".utf8).write(to: source)
        let file = DataFile(relativePath: "items.jsonl", url: "file://" + source.path, integrity: .downloadLines(3))
        let cache = root.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        try Data("a\nb\n".utf8).write(to: cache.appendingPathComponent("items.jsonl"))
        let path = try Downloader(mirror: nil, cacheDirectory: cache.path).fetch(file)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("a\nb\nc\n".utf8))
        try Data("x\ny\nz".utf8).write(to: URL(fileURLWithPath: path))   // 3 lines: kept, not fetched again
        #expect(try Data(contentsOf: URL(fileURLWithPath: Downloader(mirror: nil, cacheDirectory: cache.path).fetch(file))) == Data("x\ny\nz".utf8))
        let mirror = root.appendingPathComponent("mirror")
        try FileManager.default.createDirectory(at: mirror, withIntermediateDirectories: true)
        try Data("a\n".utf8).write(to: mirror.appendingPathComponent("items.jsonl"))
        #expect(try Downloader(mirror: mirror.path, cacheDirectory: unusedCache).fetch(file) == mirror.appendingPathComponent("items.jsonl").path)
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
        // the piece of a download killed while another finished the file is removed (nothing would continue it); another
        // file's piece is not
        let piece = cache.appendingPathComponent("tinyshakespeare.txt.tmp-\(TestPaths.deadProcessID)")
        let otherPiece = cache.appendingPathComponent("other.txt.tmp-\(TestPaths.deadProcessID)")
        for leftover in [piece, otherPiece] { try Data(count: 100).write(to: leftover) }
        let path = try Downloader(mirror: nil, cacheDirectory: cache.path).fetch(file)
        #expect(path == cache.appendingPathComponent("tinyshakespeare.txt").path)
        #expect(!FileManager.default.fileExists(atPath: piece.path) && FileManager.default.fileExists(atPath: otherPiece.path))
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

    /// A 100,000-byte file to download, its file:// URL and SHA-256, in a fresh cache folder.
    private func source() throws -> (cache: URL, bytes: Data, url: String, sha256: String) {
        let cache = try TestPaths.temporaryDirectory()
        let bytes = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) })
        let path = cache.appendingPathComponent("source.bin")
        try bytes.write(to: path)
        return (cache, bytes, "file://" + path.path, try #require(SHA256.hexDigest(ofFile: path.path)))
    }

    /// What a killed download left (the largest of two pieces) is continued, not fetched again: its first bytes,
    /// which differ from the source's here, are kept, and the rest comes from the source. Both pieces are gone.
    @Test func downloadContinuesWhatAKilledDownloadLeft() throws {
        let (cache, bytes, url, _) = try source()
        defer { try? FileManager.default.removeItem(at: cache) }
        let piece = Data(repeating: 0xAB, count: 4000)
        try piece.write(to: cache.appendingPathComponent("data.bin.tmp-\(TestPaths.deadProcessID)"))
        try Data(count: 10).write(to: cache.appendingPathComponent("data.bin.tmp-\(TestPaths.deadProcessID + 1)"))
        let path = try Downloader(mirror: nil, cacheDirectory: cache.path).fetch(DataFile(relativePath: "data.bin", url: url))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == piece + bytes[4000...])
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path).sorted() == ["data.bin", "source.bin"])
    }

    /// A continued download that fails its checksum (the piece was not the file's beginning) is fetched whole; a
    /// piece longer than the file, which curl cannot continue, is dropped and the file fetched from the start.
    @Test func aPieceThatCannotBeContinuedIsFetchedAgain() throws {
        let (cache, bytes, url, sha256) = try source()
        defer { try? FileManager.default.removeItem(at: cache) }
        try Data(repeating: 0xAB, count: 4000).write(to: cache.appendingPathComponent("a.bin.tmp-\(TestPaths.deadProcessID)"))
        try Data(count: 150_000).write(to: cache.appendingPathComponent("b.bin.tmp-\(TestPaths.deadProcessID)"))
        let downloader = Downloader(mirror: nil, cacheDirectory: cache.path)
        for (name, checksum) in [("a.bin", sha256), ("b.bin", nil)] {
            let path = try downloader.fetch(DataFile(relativePath: name, url: url, integrity: checksum.map { .sha256($0) }))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes, "\(name)")
        }
    }

    /// Each run that the connection cuts short is continued from where it stopped: a stand-in for curl that adds a
    /// third of the file per run (exit status 18, as curl's for a partial transfer) until it is whole, and refuses to
    /// run without --continue-at -. A stand-in that adds nothing makes the download fail, keeping nothing.
    @Test func aCutShortDownloadContinuesUntilWhole() throws {
        let (cache, bytes, url, sha256) = try source()
        defer { try? FileManager.default.removeItem(at: cache) }
        let thirds = cache.appendingPathComponent("curl-thirds").path
        try """
            #!/bin/sh
            case " $* " in *" --continue-at - "*) ;; *) exit 2 ;; esac
            while [ $# -gt 1 ]; do [ "$1" = --output ] && out="$2"; shift; done
            source="${1#file://}"
            have=$(stat -c %s "$out" 2>/dev/null || echo 0); total=$(stat -c %s "$source")
            next=$((have + (total + 2) / 3)); [ $next -gt $total ] && next=$total
            tail -c +$((have + 1)) "$source" | head -c $((next - have)) >> "$out"
            [ $next -lt $total ] && exit 18
            exit 0
            """.writeExecutable(to: thirds)
        let stuck = cache.appendingPathComponent("curl-stuck").path
        try "#!/bin/sh\nexit 18\n".writeExecutable(to: stuck)

        let path = try Downloader(mirror: nil, cacheDirectory: cache.path, curl: thirds)
            .fetch(DataFile(relativePath: "data.bin", url: url, integrity: .sha256(sha256)))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
        #expect(throws: DownloadError.self) {
            try Downloader(mirror: nil, cacheDirectory: cache.path, curl: stuck).fetch(DataFile(relativePath: "other.bin", url: url))
        }
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: cache.path)).contains { $0.hasPrefix("other.bin") })
    }

    /// A continuation that fails with no network (curl's status 6: the host does not resolve) keeps the piece, and the
    /// next try continues it; it was taken for a source that cannot continue, removed, and fetched again from zero.
    /// The failure names where a mirror would hold the file.
    @Test func aPieceIsKeptWhenTheNetworkIsDown() throws {
        let (cache, bytes, url, sha256) = try source()
        defer { try? FileManager.default.removeItem(at: cache) }
        let offline = cache.appendingPathComponent("curl-offline").path
        try "#!/bin/sh\nexit 6\n".writeExecutable(to: offline)
        let piece = bytes.prefix(30_000)
        try piece.write(to: cache.appendingPathComponent("data.bin.tmp-\(TestPaths.deadProcessID)"))
        let file = DataFile(relativePath: "data.bin", url: url, integrity: .sha256(sha256))
        let error = #expect(throws: DownloadError.self) { try Downloader(mirror: nil, cacheDirectory: cache.path, curl: offline).fetch(file) }
        let message = error?.description ?? ""
        #expect(message.contains("exited with status 6; the 29.3 KiB fetched are kept in") && message.contains("as DIR/data.bin"), "\(message)")
        let kept = try FileManager.default.contentsOfDirectory(atPath: cache.path).filter { $0.hasPrefix("data.bin.tmp-") }
        #expect(kept.count == 1 && (try? Data(contentsOf: cache.appendingPathComponent(kept[0]))) == piece, "\(kept)")
        let path = try Downloader(mirror: nil, cacheDirectory: cache.path).fetch(file)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
    }

    @Test func fineweb10BCatalogueNamesHuggingFaceShards() {
        #expect(DataFile.fineweb10BValidation.relativePath == "fineweb10B/fineweb_val_000000.bin")
        #expect(DataFile.fineweb10BTrain(1).relativePath == "fineweb10B/fineweb_train_000001.bin")
        #expect(DataFile.fineweb10BTrain(103).url
            == "https://huggingface.co/datasets/kjj0/fineweb10B-gpt2/resolve/main/fineweb_train_000103.bin")
    }
}

extension String {
    /// Writes this script to `path` as an executable, through a child shell: a file this process held open for
    /// writing could be inherited by a child another test forks meanwhile, and running it then fails with "Text file
    /// busy" (ETXTBSY) until that child execs, which failed CI once.
    fileprivate func writeExecutable(to path: String) throws {
        let result = try runCommand("/bin/sh", arguments: ["-c", "cat > \"$0\" && chmod 755 \"$0\"", path], stdin: Data(utf8))
        try #require(result.status == 0, "\(result.stderrText)")
    }
}
