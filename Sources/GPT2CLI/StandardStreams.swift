/// Checks on the process's standard streams and text, before and after a command: descriptors 0–2 kept from
/// being taken by files, command-line and environment text that is not UTF-8 refused, and results on standard
/// output that could not be written reported.

import GPT2

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

enum StandardStreams {
    /// Opens /dev/null on each of descriptors 0–2 that is closed, so that no file gpt2 opens takes its number (a run
    /// with stderr closed wrote its log into the run's lock file); returns the descriptors that were closed.
    static func openClosedOnes() -> Set<Int32> {
        var closed: Set<Int32> = []
        for descriptor: Int32 in 0...2 where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            closed.insert(descriptor)
            let opened = open("/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY)
            if opened >= 0 && opened != descriptor {   // (the lowest free number: this one, unless a lower one was also closed)
                dup2(opened, descriptor)
                close(opened)
            }
        }
        return closed
    }

    /// The environment variables gpt2 reads paths and settings from.
    private static func isRead(_ name: Substring) -> Bool {
        name == "HOME" || name == "XDG_CACHE_HOME" || ["GPT2_", "CUDA_", "NVRTC_", "CUBLAS"].contains { name.hasPrefix($0) }
    }

    /// Why an argument or an environment variable gpt2 reads is not UTF-8, or nil. Swift reads such bytes as U+FFFD,
    /// so a path holding them named another file: prepare wrote its shards into a new folder of that other name.
    static func undecodableText() -> String? {
        for index in 1..<Int(CommandLine.argc) {
            guard let argument = CommandLine.unsafeArgv[index], !isUTF8(argument) else { continue }
            return "argument \(index) (\(String(cString: argument))) is not valid UTF-8: gpt2 takes paths and text in UTF-8"
        }
        var entry = environ
        while let pair = entry.pointee {
            defer { entry += 1 }
            let text = String(cString: pair)
            guard let name = text.split(separator: "=", maxSplits: 1).first, isRead(name), !isUTF8(pair) else { continue }
            return "the environment variable \(name) is not valid UTF-8: gpt2 takes paths and text in UTF-8"
        }
        return nil
    }

    private static func isUTF8(_ text: UnsafePointer<CChar>) -> Bool {
        String(validatingCString: text) != nil
    }

    /// After a command whose results are its standard output: why they did not all reach it (a full disk, a file
    /// system error), or nil. `print` buffers, so a failed write shows only here.
    static func unwrittenOutput() -> String? {
        guard fflush(stdout) != 0 || ferror(stdout) != 0 else { return nil }
        return unwritten(because: String(cString: strerror(errno)))
    }

    /// The message for results that did not reach standard output, for `reason`.
    static func unwritten(because reason: String) -> String {
        "the results could not be written to standard output: \(reason)"
    }
}
