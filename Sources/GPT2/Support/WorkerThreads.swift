/// Worker thread counts as `--threads` gives them: 0 for one per core, else a count up to `maximum`.

#if canImport(Glibc)
import Glibc
#endif

public enum WorkerThreads {
    /// The most `--threads` accepts: more than the cores of any machine we run on, and few enough that each
    /// thread's share of a buffer, and the threads' stacks and scratch, stay sizes a machine can hold.
    public static let maximum = 1024

    /// The logical cores online (at least 1): what `--threads 0` means.
    public static var cores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Refuses a `--threads` outside 0…`maximum`, naming it.
    public static func require(_ threads: Int) throws {
        guard !(0...maximum).contains(threads) else { return }
        throw ConfigError("--threads must be 0 (one per core) or between 1 and \(maximum) (got \(threads))")
    }

    /// `threads`, or the core count for 0.
    public static func count(_ threads: Int) -> Int { threads > 0 ? threads : cores }
}
