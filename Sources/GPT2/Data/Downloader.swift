/// Fetches `DataFile`s: from an offline mirror directory when one is given (`--mirror DIR` or
/// `$GPT2_DATA_MIRROR`), else downloaded once with curl into a cache directory, checksum-verified either way.

public struct Downloader: Sendable {
    /// A directory laid out like the cache (`MIRROR/gpt2/encoder.json`, …); nil means download.
    public var mirror: String?
    /// Where downloads are kept: `$GPT2_CACHE_DIR`, else `~/.cache/gpt2-swift`.
    public var cacheDirectory: String

    public init(mirror: String?, cacheDirectory: String) {
        self.mirror = mirror
        self.cacheDirectory = cacheDirectory
    }

    /// A downloader configured from the environment: `mirror`, else `$GPT2_DATA_MIRROR`; cache from
    /// `$GPT2_CACHE_DIR`, else `$HOME/.cache/gpt2-swift`.
    public static func fromEnvironment(mirror: String? = nil) -> Downloader {
        let cache = FileSystem.environment("GPT2_CACHE_DIR")
            ?? FileSystem.join(FileSystem.environment("HOME") ?? "/tmp", ".cache/gpt2-swift")
        return Downloader(mirror: mirror ?? FileSystem.environment("GPT2_DATA_MIRROR"), cacheDirectory: cache)
    }

    /// The local path of `file`, downloading it first when it is neither mirrored nor cached.
    public func fetch(_ file: DataFile) throws(DownloadError) -> String {
        if let mirror {
            let path = FileSystem.join(mirror, file.relativePath)
            guard FileSystem.isFile(path) else { throw .missingFromMirror(path: path, file: file) }
            try verify(path, against: file)
            return path
        }
        let path = FileSystem.join(cacheDirectory, file.relativePath)
        if FileSystem.isFile(path), (try? verify(path, against: file)) != nil { return path }
        try download(file, to: path)
        return path
    }

    /// Downloads to `path.tmp-PID`, verifies, then renames into place, so `path` is only ever complete.
    private func download(_ file: DataFile, to path: String) throws(DownloadError) {
        let directory = FileSystem.directoryName(path)
        guard FileSystem.makeDirectories(directory) else {
            throw .cannotWrite(path: directory, reason: FileSystem.lastErrorMessage)
        }
        let name = FileSystem.baseName(path)
        for abandoned in FileSystem.removeAbandonedTemporaries(in: directory, where: { $0 == name }) {
            Console.log("removed \(abandoned), an interrupted download")
        }
        let temporary = FileSystem.temporaryPath(for: path)
        Console.log("downloading \(file.url)\n  → \(path)")
        do {
            try Subprocess.run("curl", ["--fail", "--location", "--retry", "3", "--progress-bar",
                                        "--output", temporary, file.url])
        } catch {
            FileSystem.remove(temporary)
            throw .downloadFailed(url: file.url, reason: error.description)
        }
        do {
            try verify(temporary, against: file)
        } catch {
            FileSystem.remove(temporary)
            throw error
        }
        guard FileSystem.move(temporary, to: path) else {
            let reason = FileSystem.lastErrorMessage
            FileSystem.remove(temporary)
            throw .cannotWrite(path: path, reason: reason)
        }
    }

    private func verify(_ path: String, against file: DataFile) throws(DownloadError) {
        guard let expected = file.sha256 else { return }
        guard let actual = SHA256.hexDigest(ofFile: path) else {
            throw .cannotRead(path: path, reason: FileSystem.lastErrorMessage)
        }
        guard actual == expected else { throw .checksumMismatch(path: path, expected: expected, actual: actual) }
    }
}

/// Why a data file could not be provided.
public enum DownloadError: Error, CustomStringConvertible {
    case missingFromMirror(path: String, file: DataFile)
    case checksumMismatch(path: String, expected: String, actual: String)
    case downloadFailed(url: String, reason: String)
    case cannotRead(path: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingFromMirror(let path, let file):
            return "\(path) is missing from the data mirror; copy it there (source: \(file.url)) "
                + "or drop --mirror / GPT2_DATA_MIRROR to download it"
        case .checksumMismatch(let path, let expected, let actual):
            return "\(path) has SHA-256 \(actual), expected \(expected); the file is corrupt or not the "
                + "original — delete it and fetch it again"
        case .downloadFailed(let url, let reason):
            return "could not download \(url): \(reason); check the network, or use --mirror DIR with a local copy"
        case .cannotRead(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason)"
        }
    }
}
