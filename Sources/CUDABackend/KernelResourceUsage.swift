/// What one compiled kernel asks of the GPU, as ptxas reports it when NVRTC compiles a cubin with
/// `--ptxas-options=-v`: registers per thread, spills to local memory, stack frame and static shared memory.
/// No GPU needed: `gpt2 kernels --resources` prints it, and CI fails a kernel that spills.

public struct KernelResourceUsage: Sendable, Equatable {
    public var kernel: String
    public var registers: Int
    public var spillStoreBytes: Int
    public var spillLoadBytes: Int
    public var stackFrameBytes: Int
    /// `__shared__` arrays; the dynamic shared memory is the launch's to give.
    public var staticSharedBytes: Int

    public init(kernel: String, registers: Int, spillStoreBytes: Int = 0, spillLoadBytes: Int = 0,
                stackFrameBytes: Int = 0, staticSharedBytes: Int = 0) {
        self.kernel = kernel
        self.registers = registers
        self.spillStoreBytes = spillStoreBytes
        self.spillLoadBytes = spillLoadBytes
        self.stackFrameBytes = stackFrameBytes
        self.staticSharedBytes = staticSharedBytes
    }

    /// Whether the kernel keeps values in local memory (slow, off-chip) for lack of registers.
    public var spills: Bool { spillStoreBytes > 0 || spillLoadBytes > 0 }

    /// The kernels in ptxas's verbose log, in its order. Per kernel it prints three lines that matter here:
    ///   ptxas info    : Compiling entry function 'NAME' for 'sm_89'
    ///   ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    ///   ptxas info    : Used 29 registers, used 1 barriers, 1024 bytes smem, 376 bytes cmem[0]
    public static func parse(ptxasLog log: String) -> [KernelResourceUsage] {
        var kernels: [KernelResourceUsage] = []
        for line in log.split(whereSeparator: \.isNewline).map(String.init) {
            if let start = line.firstRange(of: "Compiling entry function '") {
                let name = line[start.upperBound...].prefix { $0 != "'" }
                kernels.append(KernelResourceUsage(kernel: String(name), registers: 0))
            } else if !kernels.isEmpty {
                let last = kernels.count - 1
                if let stack = integer(before: " bytes stack frame", in: line) {
                    kernels[last].stackFrameBytes = stack
                    kernels[last].spillStoreBytes = integer(before: " bytes spill stores", in: line) ?? 0
                    kernels[last].spillLoadBytes = integer(before: " bytes spill loads", in: line) ?? 0
                } else if let registers = integer(before: " registers", in: line), line.contains("Used ") {
                    kernels[last].registers = registers
                    kernels[last].staticSharedBytes = integer(before: " bytes smem", in: line) ?? 0
                }
            }
        }
        return kernels
    }

    /// The integer just before `suffix` in `line` ("…, 1024 bytes smem, …" → 1024), nil when absent.
    private static func integer(before suffix: String, in line: String) -> Int? {
        guard let end = line.firstRange(of: suffix) else { return nil }
        let digits = line[..<end.lowerBound].reversed().prefix { $0.isASCII && $0.isNumber }
        return digits.isEmpty ? nil : Int(String(digits.reversed()))
    }
}
