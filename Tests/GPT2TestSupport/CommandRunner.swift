/// Running programs from tests: the built `gpt2` binary (it sits beside the test bundle) or any executable,
/// with optional stdin bytes, collecting the exit status and all of stdout and stderr.

import Foundation

/// What a finished program left behind.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: Data
    public let stderr: Data

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// The directory holding the test bundle, which is also where SwiftPM puts the built executables.
public var buildProductsDirectory: URL {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
}

/// Runs the built `gpt2` binary with `arguments`, feeding it `stdin` (empty by default), in `workingDirectory`
/// (default: the tests' own working directory). Its cache folder is the tests' (`TestPaths.cacheHome`) unless
/// `environment` names another `XDG_CACHE_HOME` than this process's. Its calibration file is a new one of its own unless
/// `environment` names one (`GPT2_CALIBRATION`; empty: the cache folder's): a bench that one test ran, recorded in the
/// shared cache, changed the plans of every later run (a plan of "1.2 s a step" where a test read milliseconds).
public func runGPT2(
    arguments: [String], stdin: Data = Data(), environment: [String: String]? = nil, workingDirectory: String? = nil
) throws -> CommandResult {
    var environment = environment ?? [:]
    if environment["XDG_CACHE_HOME"] == ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] {
        environment["XDG_CACHE_HOME"] = TestPaths.cacheHome
    }
    if environment["GPT2_CALIBRATION"] == nil {
        environment["GPT2_CALIBRATION"] = TestPaths.scratch.path + "/calibration-\(UUID().uuidString).json"
    }
    return try runCommand(
        buildProductsDirectory.appendingPathComponent("gpt2").path, arguments: arguments, stdin: stdin,
        environment: environment, workingDirectory: workingDirectory)
}

/// Runs `executable` (a path, or a name looked up on PATH through /usr/bin/env) and waits for it.
/// Output goes through temporary files, so large outputs cannot fill a pipe and dead-lock.
public func runCommand(
    _ executable: String, arguments: [String], stdin: Data = Data(), environment: [String: String]? = nil,
    workingDirectory: String? = nil
) throws -> CommandResult {
    let directory = try TestPaths.temporaryDirectory("gpt2-command")
    defer { try? FileManager.default.removeItem(at: directory) }
    let paths = ["stdin", "stdout", "stderr"].map { directory.appendingPathComponent($0).path }
    try stdin.write(to: URL(fileURLWithPath: paths[0]))
    try Data().write(to: URL(fileURLWithPath: paths[1]))
    try Data().write(to: URL(fileURLWithPath: paths[2]))
    let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: paths[0]))
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: paths[1]))
    let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: paths[2]))

    let process = Process()
    if executable.contains("/") {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
    } else {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
    }
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    process.waitUntilExit()
    try [input, output, errors].forEach { try $0.close() }
    return CommandResult(
        status: process.terminationStatus,
        stdout: try Data(contentsOf: URL(fileURLWithPath: paths[1])),
        stderr: try Data(contentsOf: URL(fileURLWithPath: paths[2])))
}
