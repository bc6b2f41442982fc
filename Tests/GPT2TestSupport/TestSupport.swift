/// Helpers shared by the test targets: where the shared data lives, temporary directories, tolerances.

import Foundation

public enum TestPaths {
    /// The repository root (the folder holding Package.swift).
    public static var repositoryRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }

    /// The offline data mirror: `$GPT2_DATA_MIRROR`, else `../shared/data` beside the repository.
    public static var mirror: URL {
        if let env = ProcessInfo.processInfo.environment["GPT2_DATA_MIRROR"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
    }

    /// A process id no process has: above Linux's largest possible pid (2^22) and macOS's (99,998). A
    /// `NAME.tmp-PID` file with it is one whose writer was killed.
    public static let deadProcessID: Int32 = 2_000_000_000

    /// A fresh empty directory in `scratch`.
    public static func temporaryDirectory(_ label: String = "gpt2-test") throws -> URL {
        let url = scratch.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The one folder this test process writes in, `gpt2-tests-PID` in the system temp folder, removed when the
    /// process exits; so a test whose cleanup is skipped (a failed `#require`, a forgotten `defer`) leaks nothing
    /// past the run. Folders of test processes that died without exiting (a crash, a kill) go the next time.
    public static let scratch: URL = {
        let manager = FileManager.default
        removeScratchOfDeadProcesses(in: manager.temporaryDirectory)
        let url = manager.temporaryDirectory.appendingPathComponent(scratchPrefix + String(getpid()))
        try? manager.removeItem(at: url)   // a dead process's, whose pid this one was given again
        do {
            try manager.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            fatalError("cannot create the tests' scratch folder \(url.path): \(error)")
        }
        atexit { try? FileManager.default.removeItem(at: TestPaths.scratch) }
        return url
    }()

    private static let scratchPrefix = "gpt2-tests-"

    /// Removes the `gpt2-tests-PID` folders in `folder` whose process no longer exists.
    public static func removeScratchOfDeadProcesses(in folder: URL) {
        let manager = FileManager.default
        for name in (try? manager.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasPrefix(scratchPrefix) {
            guard let pid = Int32(name.dropFirst(scratchPrefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? manager.removeItem(at: folder.appendingPathComponent(name))
        }
    }

    /// gpt2's cache folder for the tests (`XDG_CACHE_HOME` of the programs they run, and the CUDA tests' kernel
    /// cache), in `scratch`: a test run never writes the user's own calibration file or kernel cache.
    public static let cacheHome: String = {
        let path = scratch.appendingPathComponent("cache").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()
}

/// Largest |a-b| / max(|b|, floor) over two equal-length arrays; NaN when any element of either is NaN.
public func maxRelativeError(_ a: [Float], _ b: [Float], floor: Float = 1e-6) -> Float {
    precondition(a.count == b.count, "length mismatch \(a.count) vs \(b.count)")
    var worst: Float = 0
    for i in a.indices {
        let error = abs(a[i] - b[i]) / max(abs(b[i]), floor)
        guard !error.isNaN else { return .nan }   // Swift's max would pass over it
        worst = max(worst, error)
    }
    return worst
}

/// Largest |a-b| over two equal-length arrays; NaN when any element of either is NaN.
public func maxAbsoluteError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length mismatch \(a.count) vs \(b.count)")
    var worst: Float = 0
    for i in a.indices {
        let error = abs(a[i] - b[i])
        guard !error.isNaN else { return .nan }   // Swift's max would pass over it
        worst = max(worst, error)
    }
    return worst
}
