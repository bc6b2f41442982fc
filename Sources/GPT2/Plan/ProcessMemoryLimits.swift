/// Limits on the memory this process may use beyond what the host has free: `ulimit -v` / `ulimit -d`
/// (RLIMIT_AS, RLIMIT_DATA) and the memory cgroup it runs in (a container's or a systemd unit's limit, v1 or v2).
/// On a 64 GiB host a container limited to 8 GiB saw MemAvailable alone, so a config that fit the host passed the
/// check and was then killed, or aborted in its first allocation.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

public enum ProcessMemoryLimits {
    /// What one limit leaves this process to allocate, and a phrase naming the limit for the log.
    public struct Headroom: Equatable, Sendable {
        public var bytes: Int
        public var limit: String
    }

    /// Every limit that applies to this process now, with what each leaves to a run on `threads` worker threads.
    public static func current(threads: Int) -> [Headroom] {
        #if os(Linux)
        let status = (try? ByteFile.contents(ofFile: "/proc/self/status")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let cgroups = (try? ByteFile.contents(ofFile: "/proc/self/cgroup")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return resourceLimits(status: status, threads: threads) + cgroupLimits(membership: cgroups, read: readSmallFile)
        #else
        return []
        #endif
    }

    /// Address space a run reserves beyond the memory it touches, which the ulimits count and the plan (resident
    /// memory) does not: OpenBLAS's GEMM buffer (128 MiB a thread), a malloc arena's reserve (64 MiB) and a stack per
    /// thread, and a fixed part. Measured on Linux with OpenBLAS 0.3.21, small B=16 T=256: VmPeak − VmHWM grew by
    /// ~360 MB on 1 thread and ~500 MB on 2 over the start (this estimate: 448 and 640 MiB). Without it a run the
    /// plan passed under `ulimit -v` spun forever in OpenBLAS, which retries a buffer it cannot map.
    static func reservedAddressSpace(threads: Int) -> Int { (256 << 20) + max(1, threads) * (192 << 20) }

    #if os(Linux)
    /// RLIMIT_AS less the address space in use (VmSize), RLIMIT_DATA less the private writable memory (VmData); each
    /// less what `threads` worker threads will reserve.
    static func resourceLimits(status: String, threads: Int) -> [Headroom] {
        let limits: [(resource: __rlimit_resource, flag: String, name: String, used: String)] = [
            (RLIMIT_AS, "-v", "RLIMIT_AS", "VmSize:"), (RLIMIT_DATA, "-d", "RLIMIT_DATA", "VmData:"),
        ]
        return limits.compactMap { limit in
            var value = rlimit()
            guard getrlimit(__rlimit_resource_t(limit.resource.rawValue), &value) == 0, value.rlim_cur != rlim_t.max,   // (RLIM_INFINITY)
                  let used = SystemMemory.kilobytesField(limit.used, in: status) else { return nil }
            let bytes = Int(clamping: value.rlim_cur)
            let reserved = reservedAddressSpace(threads: threads)
            return Headroom(bytes: max(0, bytes - used - reserved),
                            limit: "ulimit \(limit.flag) \(bytes / 1024) (\(limit.name), \(formatBytes(bytes)); \(formatBytes(used)) in use, and "
                                   + "\(formatBytes(reserved)) for what the threads reserve: OpenBLAS's buffers, malloc arenas, stacks)")
        }
    }
    #endif

    /// The memory cgroup limits of a process whose /proc/self/cgroup reads `membership`, from the files `read`
    /// returns (nil for none): each level from its own group up to the hierarchy's root that sets a limit leaves
    /// the limit less what the group uses, not counting the page cache it would give back (inactive files).
    public static func cgroupLimits(membership: String, read: (String) -> String?) -> [Headroom] {
        var found: [Headroom] = []
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let (controllers, path) = (fields[1].split(separator: ","), String(fields[2]))
            // v2: "0::/path" under /sys/fs/cgroup; v1: "N:…memory…:/path" under /sys/fs/cgroup/memory
            let version2 = fields[0] == "0" && controllers.isEmpty
            guard version2 || controllers.contains("memory") else { continue }
            let root = version2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory"
            let files = version2 ? (limit: "memory.max", usage: "memory.current", inactive: "inactive_file")
                                 : (limit: "memory.limit_in_bytes", usage: "memory.usage_in_bytes", inactive: "total_inactive_file")
            var group = path.split(separator: "/").map(String.init)
            while true {
                let folder = ([root] + group).joined(separator: "/")
                if let limit = read(folder + "/" + files.limit).flatMap(number), limit < 1 << 60,
                   let usage = read(folder + "/" + files.usage).flatMap(number) {
                    let inactive = read(folder + "/memory.stat").flatMap { statField(files.inactive, in: $0) } ?? 0
                    let used = max(0, usage - inactive)
                    found.append(Headroom(bytes: max(0, limit - used),
                                          limit: "the memory cgroup's limit (\(folder)/\(files.limit), \(formatBytes(limit)); "
                                                 + "\(formatBytes(used)) in use)"))
                }
                guard !group.isEmpty else { break }
                group.removeLast()
            }
        }
        return found
    }

    /// A file's text as a whole number ("max" and other words are nil).
    private static func number(_ text: String) -> Int? {
        Int(text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first ?? "")
    }

    /// The value of a `name 123` line of a memory.stat text.
    private static func statField(_ name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == name { return Int(fields[1]) }
        }
        return nil
    }

    private static func readSmallFile(_ path: String) -> String? {
        (try? ByteFile.contents(ofFile: path)).map { String(decoding: $0, as: UTF8.self) }
    }
}
