/// Small POSIX file helpers (exists, size, mkdir -p, atomic rename, directory listing) used by the data
/// pipeline, so the library needs no full Foundation.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public enum FileSystem {
    /// Whether a regular file exists at `path`.
    public static func isFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Whether a directory exists at `path`.
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// A read-only, close-on-exec descriptor of the regular file at `path` (the caller closes it) and its size; else
    /// why not. A named pipe is refused without blocking (opening one for reading waits for a writer).
    public static func openRegularFile(_ path: String) -> Result<(descriptor: Int32, size: Int), RegularFileError> {
        openDescriptor(path, waitingForAWriter: false).flatMap { opened in
            guard let size = opened.size else {
                close(opened.descriptor)
                return .failure(RegularFileError(reason: "not a regular file"))
            }
            return .success((opened.descriptor, size))
        }
    }

    /// As `openRegularFile`, but a stream read once is opened too, with no size: a pipe (`<(zstdcat corpus.zst)`), a
    /// socket or a character device (`/dev/stdin`). A named pipe no process writes yet is waited for (opened without
    /// waiting, it read as empty).
    public static func openFileOrStream(_ path: String) -> Result<(descriptor: Int32, size: Int?), RegularFileError> {
        openDescriptor(path, waitingForAWriter: true)
    }

    /// A file's or a stream's descriptor and size (nil for a stream); a named pipe is opened waiting for a writer where
    /// `waitingForAWriter` says so. (Not opened without waiting first and then again: a writer that came in between
    /// found a reader, wrote and left, and its bytes went with the first descriptor.)
    private static func openDescriptor(_ path: String, waitingForAWriter: Bool) -> Result<(descriptor: Int32, size: Int?), RegularFileError> {
        var named = stat()
        let waits = waitingForAWriter && stat(path, &named) == 0 && (named.st_mode & S_IFMT) == S_IFIFO
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | (waits ? 0 : O_NONBLOCK))
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            // (prepare links FineWeb's shards into the data mirror or the download cache, which may have moved since)
            guard let destination = linkContents(path) else { return .failure(RegularFileError(reason: reason)) }
            return .failure(RegularFileError(reason: "a symbolic link to \(destination), which cannot be opened (\(reason))"))
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            return .failure(RegularFileError(reason: reason))
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG || isStream(kind: kind) else {
            close(descriptor)
            return .failure(RegularFileError(reason: kind == S_IFDIR ? "a folder, not a file" : "not a regular file"))
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        return .success((descriptor, kind == S_IFREG ? Int(info.st_size) : nil))
    }

    /// What tells files apart: two paths with the same identity are one file (or stream).
    public struct Identity: Hashable, Sendable {
        let device: UInt64, inode: UInt64

        init(_ info: stat) { (device, inode) = (UInt64(info.st_dev), UInt64(info.st_ino)) }
    }

    /// The identity of the file at `path` (through links), nil where it cannot be read.
    public static func identity(of path: String) -> Identity? {
        var info = stat()
        return stat(path, &info) == 0 ? Identity(info) : nil
    }

    /// The identity of what `descriptor` reads (0: standard input), nil where it cannot be read.
    public static func identity(ofDescriptor descriptor: Int32) -> Identity? {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? Identity(info) : nil
    }

    /// Whether `path` names a stream read once (see `openFileOrStream`), not a file that can be read again.
    public static func isStream(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && isStream(kind: info.st_mode & S_IFMT)
    }

    private static func isStream(kind: mode_t) -> Bool { kind == S_IFIFO || kind == S_IFSOCK || kind == S_IFCHR }

    /// Why `openRegularFile` could not open a file.
    public struct RegularFileError: Error {
        public let reason: String
    }

    /// Whether this process may read `path`.
    public static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

    /// Whether this process may create and remove files in the folder at `path`.
    public static func isWritableFolder(_ path: String) -> Bool { access(path, W_OK | X_OK) == 0 }

    /// Whether anything is at `path`, a dangling link included.
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Whether `path` is a symbolic link (wherever it leads, or nowhere).
    public static func isSymbolicLink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }

    /// What the symbolic link at `path` holds, as written (not resolved); nil when `path` is no link.
    public static func linkContents(_ path: String) -> String? {
        var target = [CChar](repeating: 0, count: 4096)
        let length = readlink(path, &target, target.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The absolute path `path` names, with every symbolic link, `.` and `..` resolved; nil when it leads nowhere.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Size in bytes of the file at `path`, or nil if it cannot be stat'ed.
    public static func size(_ path: String) -> Int? {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : nil
    }

    /// Creates `path` and any missing parents; returns false if that failed.
    @discardableResult
    public static func makeDirectories(_ path: String) -> Bool {
        if path.isEmpty || isDirectory(path) { return true }
        let parent = directoryName(path)
        if parent != path && !makeDirectories(parent) { return false }
        if mkdir(path, 0o755) == 0 { return true }
        guard errno == EEXIST else { return false }
        if isDirectory(path) { return true }
        errno = ENOTDIR   // (a file of that name is no folder: callers' messages say "Not a directory", not "File exists")
        return false
    }

    /// The folders among `path` and its parents that do not exist yet, deepest first: what `makeDirectories` would
    /// create, and what to remove (`removeEmptyDirectories`) if the work they were made for fails.
    public static func missingDirectories(_ path: String) -> [String] {
        var missing: [String] = []
        var folder = withoutTrailingSlashes(path)   // (`a/b/`, as tab completion types it, and `a/b` are one folder)
        while !folder.isEmpty, folder != ".", folder != "/", !isDirectory(folder) {
            missing.append(folder)
            folder = directoryName(folder)
        }
        return missing
    }

    /// Removes each of `paths` (deepest first) that is an empty folder; stops at the first that is not.
    public static func removeEmptyDirectories(_ paths: [String]) {
        for path in paths where rmdir(path) != 0 { return }
    }

    /// Everything before the last `/` ("." when there is none).
    public static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `path` without trailing slashes (`RUN/ckpt_40/` → `RUN/ckpt_40`); `/` stays `/`.
    public static func withoutTrailingSlashes(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    /// Everything after the last `/`.
    public static func baseName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// `path` made absolute against the current directory (a leading `./` dropped); `..` and symbolic links are
    /// kept as written. Paths saved for later (a run's data folder) use it, so they do not depend on where the
    /// next command starts.
    public static func absolutePath(_ path: String) -> String {
        guard !path.hasPrefix("/"), let cwd = getcwd(nil, 0) else { return path }
        defer { free(cwd) }
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2).drop { $0 == "/" } }
        let directory = String(cString: cwd)
        return relative.isEmpty || relative == "." ? directory : join(directory, String(relative))
    }

    /// `directory/name`, without doubling the slash; `name` alone when `directory` is empty (not `/name`).
    public static func join(_ directory: String, _ name: String) -> String {
        directory.isEmpty || directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Names in `directory` (no `.`/`..`), sorted; nil if it cannot be read.
    public static func contents(of directory: String) -> [String]? {
        guard let handle = opendir(directory) else { return nil }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// `path` with the characters a glob pattern gives meaning to (`*`, `?`, `[`, `]` and backslash) escaped, so that
    /// `paths(matching:)` takes it literally.
    public static func globEscaped(_ path: String) -> String {
        var escaped = ""
        for character in path {
            if "*?[]\\".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }

    /// Paths matching the shell pattern `pattern` (`*`, `?`, `[…]`), sorted.
    public static func paths(matching pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { index in
            result.gl_pathv[index].map { String(cString: $0) }
        }.sorted()
    }

    /// Renames `source` to `destination`, replacing it atomically; returns false on failure.
    public static func move(_ source: String, to destination: String) -> Bool {
        rename(source, destination) == 0
    }

    /// Removes the file at `path`, ignoring a missing file.
    public static func remove(_ path: String) { unlink(path) }

    /// The current process id, used to name temporary files uniquely.
    public static var processID: Int32 { getpid() }

    /// The name this process writes `path` under before renaming it into place: `PATH.tmp-PID`, which
    /// `removeAbandonedTemporaries` recognises once that process is gone. Where that name would pass the 255 bytes a
    /// file name may have while `path`'s own does not, its start stands in for the name, with 16 hex digits of the
    /// name's SHA-256 so that long names with the same start stay apart (such a file is not recognised as abandoned).
    public static func temporaryPath(for path: String) -> String {
        let suffix = temporaryMarker + String(getpid())
        let name = baseName(path)
        guard name.utf8.count + suffix.utf8.count > maximumNameBytes else { return path + suffix }
        let tag = "-" + SHA256.hexDigest(of: Array(name.utf8)).prefix(16)
        var start = Substring(name)
        while start.utf8.count + tag.utf8.count + suffix.utf8.count > maximumNameBytes { start = start.dropLast() }
        return String(decoding: path.utf8.dropLast(name.utf8.count), as: UTF8.self) + start + tag + suffix
    }

    /// The longest file name (bytes) Linux's file systems take (NAME_MAX).
    private static let maximumNameBytes = 255

    private static let temporaryMarker = ".tmp-"

    /// The paths of the `NAME.tmp-PID` files in `directory` whose process is no longer running (it was killed
    /// while writing, e.g. by Ctrl-C), for the names `belongs` accepts (`NAME`, without `.tmp-PID`); a file of a
    /// live process is not one of them. This process's own are, for a caller that looks before it writes its own: in a
    /// container, where each run is PID 1 (or the same low PID) of its own PID namespace, a killed run's files have it.
    public static func abandonedTemporaries(in directory: String, where belongs: (String) -> Bool) -> [String] {
        (contents(of: directory) ?? []).compactMap { file in
            guard let marker = file.ranges(of: temporaryMarker).last, let pid = Int32(file[marker.upperBound...]),
                  pid > 0, belongs(String(file[..<marker.lowerBound])), pid == getpid() || !isRunning(pid) else { return nil }
            return join(directory, file)
        }
    }

    /// Removes the `abandonedTemporaries` of `directory` for the names `belongs` accepts. Returns the paths removed.
    @discardableResult
    public static func removeAbandonedTemporaries(in directory: String, where belongs: (String) -> Bool) -> [String] {
        abandonedTemporaries(in: directory, where: belongs).filter { unlink($0) == 0 }
    }

    /// Whether a process with id `pid` exists (one of another user's counts too).
    public static func isRunning(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno == EPERM }

    /// gpt2's cache (downloads, the calibration file, compiled kernels): `$XDG_CACHE_HOME/gpt2-swift`, else
    /// `$HOME/.cache/gpt2-swift`, else `/tmp/gpt2-swift-UID` (with no home, one per user, not a folder shared with
    /// every user; the three caches had three different fallbacks, one of them relative to the working folder).
    /// `variable` reads the environment (by default this process's).
    public static func cacheFolder(variable: (String) -> String? = FileSystem.environment) -> String {
        if let cache = variable("XDG_CACHE_HOME"), !cache.isEmpty { return join(expandingHome(cache, home: variable("HOME")), "gpt2-swift") }
        if let home = variable("HOME"), !home.isEmpty { return join(home, ".cache/gpt2-swift") }
        return "/tmp/gpt2-swift-\(getuid())"
    }

    /// `path` with a leading `~` (alone or before a `/`) replaced by `home`: a path given where no shell expands it (a
    /// variable from an env file or a service's settings, `--mirror=~/data`) names the home folder, not a folder called
    /// `~` in the working folder. Unchanged without a home, or for `~user`.
    public static func expandingHome(_ path: String, home: String? = FileSystem.environment("HOME")) -> String {
        guard let home, !home.isEmpty, path == "~" || path.hasPrefix("~/") else { return path }
        return withoutTrailingSlashes(home) + path.dropFirst()
    }

    /// The path in environment variable `name` (`expandingHome`), or nil when unset or empty.
    public static func environmentPath(_ name: String) -> String? { environment(name).map { expandingHome($0) } }

    /// The value of environment variable `name`, or nil when unset or empty.
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// The text of the last C error (`errno`).
    public static var lastErrorMessage: String { String(cString: strerror(errno)) }
}
