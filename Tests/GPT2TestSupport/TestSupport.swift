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

    /// A fresh empty directory under the system temp folder.
    public static func temporaryDirectory(_ label: String = "gpt2-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
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
