/// Fetches `DataFile`s: from an offline mirror directory when one is given (`--mirror DIR` or
/// `$GPT2_DATA_MIRROR`), else downloaded once with curl into a cache directory; checked either way (the pinned
/// checksum, or a token shard's header, size and tokens), and a damaged cached copy is downloaded again.

public struct Downloader: Sendable {
    /// A directory laid out like the cache (`MIRROR/gpt2/encoder.json`, …); nil means download.
    public var mirror: String?
    /// Where downloads are kept (see `fromEnvironment`).
    public var cacheDirectory: String
    /// The program that downloads, run with curl's command line: `curl` from PATH unless given.
    public var curl: String

    public init(mirror: String?, cacheDirectory: String, curl: String = "curl") {
        self.mirror = mirror
        self.cacheDirectory = cacheDirectory
        self.curl = curl
    }

    /// A downloader configured from the environment: `mirror`, else `$GPT2_DATA_MIRROR`; cache from
    /// `$GPT2_CACHE_DIR`, else gpt2's cache folder (`FileSystem.cacheFolder`).
    public static func fromEnvironment(mirror: String? = nil) -> Downloader {
        let cache = FileSystem.environmentPath("GPT2_CACHE_DIR") ?? FileSystem.cacheFolder()
        let mirror = mirror.map { FileSystem.expandingHome($0) } ?? FileSystem.environmentPath("GPT2_DATA_MIRROR")
        return Downloader(mirror: mirror, cacheDirectory: cache)
    }

    /// The local path of `file`, downloading it first when it is neither mirrored nor cached.
    public func fetch(_ file: DataFile) throws(DownloadError) -> String {
        if let mirror {
            guard FileSystem.isDirectory(mirror) else { throw .mirrorNotAFolder(path: mirror) }
            let path = FileSystem.join(mirror, file.relativePath)
            guard FileSystem.isFile(path) else { throw .missingFromMirror(path: path, file: file) }
            try requireReadable(path)
            if let problem = problem(with: path, as: file, inMirror: true) {
                throw .damaged(path: path, file: file, problem: problem, inMirror: true)
            }
            return path
        }
        let path = FileSystem.join(cacheDirectory, file.relativePath)
        if FileSystem.isFile(path) {
            try requireReadable(path)   // (a copy this process may not read is not known to be damaged: it stays)
            guard let problem = problem(with: path, as: file) else {
                // the piece of a download killed while another finished it (its process was not gone yet then), which
                // nothing would continue now: up to a 200 MB shard's worth
                FileSystem.removeAbandonedTemporaries(in: FileSystem.directoryName(path), where: { $0 == FileSystem.baseName(path) })
                return path
            }
            Console.log("the cached \(path) is damaged (\(problem)): downloading it again")
            FileSystem.remove(path)
        }
        try download(file, to: path)
        return path
    }

    /// Downloads to `path.tmp-PID`, verifies, then renames into place, so `path` is only ever complete. A piece
    /// that an interrupted download left (its process gone: Ctrl-C, a crash) is continued rather than fetched
    /// again, and so is one that a dropped connection cuts short; a download that fails keeps what it fetched
    /// for the next try to continue.
    private func download(_ file: DataFile, to path: String) throws(DownloadError) {
        let directory = FileSystem.directoryName(path)
        // (curl's own failure to write would read as a network problem: status 23, "check the network")
        guard FileSystem.makeDirectories(directory), FileSystem.isWritableFolder(directory) else {
            throw .cacheNotWritable(path: directory, reason: FileSystem.lastErrorMessage)
        }
        let name = FileSystem.baseName(path)
        let temporary = FileSystem.temporaryPath(for: path)
        let pieces = FileSystem.abandonedTemporaries(in: directory, where: { $0 == name })
            .sorted { (FileSystem.size($0) ?? 0) > (FileSystem.size($1) ?? 0) }
        if let largest = pieces.first, FileSystem.move(largest, to: temporary) {
            Console.log("continuing the interrupted download of \(name) from \(formatBytes(FileSystem.size(temporary) ?? 0))")
        }
        pieces.dropFirst().forEach(FileSystem.remove)
        Console.log("downloading \(file.url)\n  → \(path)")
        let continued = try fetchContinuing(file, into: temporary)
        do {
            try verifyOrRemove(temporary, against: file)
        } catch {
            guard continued else { throw error }
            // The continued piece was not this file's beginning (the file changed, or the piece was damaged).
            Console.log("\(name) does not match its checksum after continuing a download: downloading it whole")
            try fetchContinuing(file, into: temporary)
            try verifyOrRemove(temporary, against: file)
        }
        guard FileSystem.move(temporary, to: path) else {
            let reason = FileSystem.lastErrorMessage
            FileSystem.remove(temporary)
            throw .cannotWrite(path: path, reason: reason)
        }
    }

    /// Runs curl until `file` is whole in `temporary`, each run continuing from what is there (`--continue-at -`),
    /// as long as each cut-short run added bytes (at most `maximumContinuations` times). A run that adds nothing to
    /// a non-empty file because the source cannot continue it (`cannotContinue`) is retried once from the start;
    /// one that adds nothing for another reason (no network) fails, keeping the piece. Returns whether the result
    /// was continued rather than fetched in one run from zero.
    @discardableResult
    private func fetchContinuing(_ file: DataFile, into temporary: String) throws(DownloadError) -> Bool {
        var continued = (FileSystem.size(temporary) ?? 0) > 0
        var continuations = 0, startedOver = false
        while true {
            let before = FileSystem.size(temporary) ?? 0
            do {
                try Subprocess.run(curl, ["--fail", "--location", "--retry", "3", "--continue-at", "-", "--progress-bar",
                                            "--output", temporary, file.url])
                return continued
            } catch {
                let after = FileSystem.size(temporary) ?? 0
                if after > before && continuations < Self.maximumContinuations {
                    continuations += 1
                    continued = true
                    Console.log("the download stopped at \(formatBytes(after)) (\(error.description)): continuing")
                } else if before > 0 && after <= before && !startedOver && Self.cannotContinue(error) {
                    startedOver = true
                    continued = false
                    FileSystem.remove(temporary)
                    Console.log("the download could not continue from \(formatBytes(before)) (\(error.description)): starting over")
                } else {
                    let kept = after > 0 ? "; the \(formatBytes(after)) fetched are kept in \(temporary) and continued by the next try" : ""
                    throw .downloadFailed(file: file, reason: error.description + kept)
                }
            }
        }
    }

    /// How many times one download continues after a cut-short run that made progress.
    static let maximumContinuations = 20

    /// Whether curl failed because the source answered but cannot continue the piece: 33, a server that ignores
    /// byte ranges; 36, a resume it refused (a piece longer than the file). Any other failure (no network: 6, 7,
    /// 28, …; a server error) says nothing against the piece, which is kept for the next try.
    static func cannotContinue(_ failure: Subprocess.Failure) -> Bool {
        guard case .exited(_, let status) = failure else { return false }
        return status == 33 || status == 36
    }

    private func requireReadable(_ path: String) throws(DownloadError) {
        guard FileSystem.isReadable(path) else { throw .cannotRead(path: path, reason: FileSystem.lastErrorMessage) }
    }

    /// Checks a download, removing it when it is damaged.
    private func verifyOrRemove(_ path: String, against file: DataFile) throws(DownloadError) {
        guard let problem = problem(with: path, as: file) else { return }
        FileSystem.remove(path)
        throw .damaged(path: path, file: file, problem: problem, inMirror: false)
    }

    /// What is wrong with the copy of `file` at `path`, if anything: a SHA-256 other than the pinned one; for a token
    /// shard, a bad header, size or token (or no tokens at all); for a downloaded text file, another number of lines.
    private func problem(with path: String, as file: DataFile, inMirror: Bool = false) -> String? {
        switch file.integrity {
        case nil:
            return nil
        case .sha256(let expected):
            guard let actual = SHA256.hexDigest(ofFile: path) else { return "cannot read it: \(FileSystem.lastErrorMessage)" }
            return actual == expected ? nil : "SHA-256 \(actual), expected \(expected)"
        case .tokenShard:
            do {
                let shard = try ShardReader(path: path)
                return shard.tokenCount > 0 ? nil : "a token shard of no tokens"
            } catch {
                return error.problem
            }
        case .downloadLines(let expected):
            guard !inMirror else { return nil }
            guard let bytes = try? ByteFile.contents(ofFile: path) else { return "cannot read it: \(FileSystem.lastErrorMessage)" }
            let lines = bytes.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } + (bytes.last.map { $0 == UInt8(ascii: "\n") ? 0 : 1 } ?? 0)
            return lines == expected ? nil : "\(lines) lines, expected \(expected)"
        }
    }
}

/// Why a data file could not be provided.
public enum DownloadError: Error, CustomStringConvertible {
    case mirrorNotAFolder(path: String)
    case missingFromMirror(path: String, file: DataFile)
    /// A copy that is not the original: in the mirror, or a download (which was removed).
    case damaged(path: String, file: DataFile, problem: String, inMirror: Bool)
    case downloadFailed(file: DataFile, reason: String)
    case cannotRead(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    /// The download cache's folder for a file cannot be made or written.
    case cacheNotWritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingFromMirror(let path, let file):
            return "\(path) is missing from the data mirror; copy it there (source: \(file.url)) "
                + "or drop --mirror / GPT2_DATA_MIRROR to download it"
        case .mirrorNotAFolder(let path):
            return "the data mirror \(path) (--mirror or GPT2_DATA_MIRROR) is not a folder"
        case .damaged(let path, let file, let problem, let inMirror):
            return inMirror
                ? "\(path) in the data mirror is not the original (\(problem)); replace it with a copy of \(file.url)"
                : "the download of \(file.url) is damaged (\(problem)) and was removed; try again, or \(Self.mirrorAdvice(file))"
        case .downloadFailed(let file, let reason):
            return "could not download \(file.url): \(reason); check the network, or \(Self.mirrorAdvice(file))"
        case .cannotRead(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .cacheNotWritable(let path, let reason):
            return "cannot write the download cache \(path): \(reason); set GPT2_CACHE_DIR to a folder you can write, "
                + "or use --mirror DIR with local copies"
        }
    }

    /// Where a mirror holds `file`: the mirror is laid out as the cache.
    private static func mirrorAdvice(_ file: DataFile) -> String {
        "use --mirror DIR (or GPT2_DATA_MIRROR=DIR) with a local copy as DIR/\(file.relativePath), beside the other files the "
            + "command needs (a mirror serves them all: --help's --mirror gives its layout)"
    }
}
