/// Runs an external program (curl, for downloads) with posix_spawn and waits for it, without Foundation's Process.
/// Its stdout and stderr are inherited, so its progress output reaches the user's terminal.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public enum Subprocess {
    /// Why a program could not be run to completion.
    public enum Failure: Error, CustomStringConvertible {
        case cannotStart(program: String, errno: Int32)
        case exited(program: String, status: Int32)
        case killed(program: String, signal: Int32)

        public var description: String {
            switch self {
            case .cannotStart(let program, let code):
                return "could not start `\(program)`: \(String(cString: strerror(code))) (is it installed and on PATH?)"
            case .exited(let program, let status):
                return "`\(program)` exited with status \(status)"
            case .killed(let program, let signal):
                return "`\(program)` was killed by signal \(signal)"
            }
        }
    }

    /// Runs `program` (looked up on PATH) with `arguments` and returns when it exits successfully.
    public static func run(_ program: String, _ arguments: [String]) throws(Failure) {
        let argv = ([program] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = (argv + [nil]).withUnsafeBufferPointer { argvPointer in
            posix_spawnp(&pid, program, nil, nil, argvPointer.baseAddress!, environ)
        }
        guard spawned == 0 else { throw .cannotStart(program: program, errno: spawned) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw .cannotStart(program: program, errno: errno) }
        }
        let signal = status & 0x7f
        if signal != 0 { throw .killed(program: program, signal: signal) }
        let exitCode = (status >> 8) & 0xff
        if exitCode != 0 { throw .exited(program: program, status: exitCode) }
    }
}
