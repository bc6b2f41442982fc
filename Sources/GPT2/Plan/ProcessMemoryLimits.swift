/// Limits on the memory this process may use beyond what the host has free: `ulimit -d` (RLIMIT_DATA) and the
/// memory cgroup it runs in (a container's or a systemd unit's limit, v1 or v2). On a 64 GiB host a container
/// limited to 8 GiB saw MemAvailable alone, so a config that fit the host passed the check and was then killed, or
/// aborted in its first allocation. `ulimit -v` (RLIMIT_AS) limits address space, not memory: the data shards'
/// mappings (all of FineWeb's 20 GB) count against it, so it is named in a note (`addressSpaceNote`), not planned for.

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
        let cgroups = cgroupLimits(membership: SystemMemory.text(ofFile: "/proc/self/cgroup") ?? "", read: SystemMemory.text(ofFile:))
        return (dataLimit(status: SystemMemory.text(ofFile: "/proc/self/status") ?? "", threads: threads).map { [$0] } ?? []) + cgroups
        #else
        return []
        #endif
    }

    /// Private writable memory a run maps beyond what it touches, which RLIMIT_DATA counts and the plan (resident
    /// memory) does not: OpenBLAS's GEMM buffer (128 MiB a thread, mapped whole) and the like. Measured on Linux with
    /// OpenBLAS 0.3.21, small B=16 T=256: VmData grew ~50–160 MiB beyond the plan on 1 thread and ~180–290 on 2
    /// (this estimate: 192 and 320 MiB).
    static func reservedData(threads: Int) -> Int { (64 << 20) + max(1, threads) * (128 << 20) }

    #if os(Linux)
    /// RLIMIT_DATA less the private writable memory in use (VmData) and what `threads` worker threads will map.
    static func dataLimit(status: String, threads: Int) -> Headroom? {
        guard let bytes = softLimit(RLIMIT_DATA), let used = SystemMemory.kilobytesField("VmData:", in: status) else { return nil }
        let reserved = reservedData(threads: threads)
        return Headroom(bytes: max(0, bytes - used - reserved),
                        limit: "ulimit -d \(bytes / 1024) (RLIMIT_DATA, \(formatBytes(bytes)); \(formatBytes(used)) in use, and "
                               + "\(formatBytes(reserved)) for OpenBLAS's buffers)")
    }

    /// A line for the log when `ulimit -v` (RLIMIT_AS) is set: it limits address space, which the data shards' mappings
    /// and the threads' reservations take beside the memory the plan counts, so a run the plan passes may still fail
    /// (under it OpenBLAS spun forever on a buffer it could not map); nil without one.
    public static func addressSpaceNote() -> String? {
        guard let bytes = softLimit(RLIMIT_AS) else { return nil }
        return "note: ulimit -v \(bytes / 1024) limits this process's address space to \(formatBytes(bytes)), which the data shards' "
            + "mappings (their whole size) and the threads' reservations take beside the memory the plan counts: it is not "
            + "checked, and a run may fail or stall at it; to limit memory, use ulimit -d or a cgroup (a container's limit)"
    }

    /// The soft limit on `resource` in bytes; nil when unlimited or unreadable.
    private static func softLimit(_ resource: __rlimit_resource) -> Int? {
        var value = rlimit()
        guard getrlimit(__rlimit_resource_t(resource.rawValue), &value) == 0, value.rlim_cur != rlim_t.max else { return nil }   // (RLIM_INFINITY)
        return Int(clamping: value.rlim_cur)
    }
    #else
    public static func addressSpaceNote() -> String? { nil }
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
}
