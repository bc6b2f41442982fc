/// The host's memory as Linux reports it in /proc/meminfo: what a CPU run can still allocate (MemAvailable, or
/// less where a limit on the process leaves less: `ProcessMemoryLimits`), for the CPU plan and `gpt2 train
/// --micro-batch auto`, and this process's peak use.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public enum SystemMemory {
    /// What a CPU run on `threads` worker threads can still allocate: MemAvailable where Linux reports it, else the
    /// physical memory, or less where a limit on this process leaves less; and that limit (nil: the host's free memory
    /// set it).
    public static func usable(threads: Int) -> (bytes: Int, limit: String?) {
        let host = availableBytes() ?? sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
        let tightest = ProcessMemoryLimits.current(threads: threads).min { $0.bytes < $1.bytes }
        guard let tightest, tightest.bytes < host else { return (host, nil) }
        return (tightest.bytes, tightest.limit)
    }

    /// This process's peak resident set so far, in bytes: VmHWM in /proc/self/status on Linux (getrusage's
    /// ru_maxrss would also count the launching process's peak, which Linux carries across exec), else ru_maxrss.
    public static func processPeakBytes() -> Int {
        if let status = text(ofFile: "/proc/self/status"), let peak = parsePeak(status) {
            return peak
        }
        var usage = rusage()
        #if canImport(Darwin)
        getrusage(RUSAGE_SELF, &usage)
        return Int(usage.ru_maxrss)          // bytes on Darwin
        #else
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024   // kilobytes on Linux
        #endif
    }

    /// MemAvailable in bytes, or nil where /proc/meminfo is missing or has no such line (not Linux).
    public static func availableBytes(meminfo path: String = "/proc/meminfo") -> Int? {
        text(ofFile: path).flatMap(parseAvailable)
    }

    /// The text of a small file of the kernel's (/proc/meminfo, /proc/self/status, a cgroup's files); nil when it
    /// cannot be read.
    static func text(ofFile path: String) -> String? {
        (try? ByteFile.contents(ofFile: path)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The `MemAvailable:  123456 kB` line of a meminfo text, in bytes.
    public static func parseAvailable(_ meminfo: String) -> Int? { kilobytesField("MemAvailable:", in: meminfo) }

    /// The `VmHWM:\t  123456 kB` line of a /proc/PID/status text (the peak resident set), in bytes.
    public static func parsePeak(_ status: String) -> Int? { kilobytesField("VmHWM:", in: status) }

    /// The value of a `NAME:  123456 kB` line (as in /proc/meminfo and /proc/PID/status), in bytes.
    static func kilobytesField(_ name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
            return kilobytes * 1024
        }
        return nil
    }
}
