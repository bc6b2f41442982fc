/// The host's memory as Linux reports it in /proc/meminfo: what a CPU run can still allocate
/// (MemAvailable), for the CPU plan and `gpt2 train --micro-batch auto`.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public enum SystemMemory {
    /// MemAvailable where Linux reports it, else the physical memory.
    public static func usableBytes() -> Int {
        availableBytes() ?? sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
    }

    /// MemAvailable in bytes, or nil where /proc/meminfo is missing or has no such line (not Linux).
    public static func availableBytes(meminfo path: String = "/proc/meminfo") -> Int? {
        guard let bytes = try? ByteFile.contents(ofFile: path) else { return nil }
        return parseAvailable(String(decoding: bytes, as: UTF8.self))
    }

    /// The `MemAvailable:  123456 kB` line of a meminfo text, in bytes.
    public static func parseAvailable(_ meminfo: String) -> Int? {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
            return kilobytes * 1024
        }
        return nil
    }
}
