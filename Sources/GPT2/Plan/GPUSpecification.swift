/// The GPUs the planner knows: memory, dense BF16 tensor throughput and memory bandwidth, each row
/// taken from the vendor's datasheet or architecture whitepaper (cited beside it), picked by `--gpu NAME`.

/// One GPU model's published figures.
public struct GPUSpecification: Sendable, Equatable {
    /// Short name for `--gpu` (`rtx4070`, `h100-sxm`).
    public var id: String
    /// The marketing name.
    public var name: String
    /// Memory as a program sees it: the total the CUDA driver reports (cuDeviceTotalMem, which PyTorch prints as
    /// `total_memory`) where it is published, since HBM parts report up to a GiB less than sold (an H100 SXM 81,089 MiB
    /// of 81,920, an H200 143,156 of 144,384), which planning with the figure as sold missed; else memory as sold ("12
    /// GB" GDDR parts are 12 GiB of DRAM, and report within a few MiB of it: an RTX 4090 24,563 MiB of 24,576).
    public var memoryBytes: Int
    /// Whether ECC is on by default on GDDR memory, which then reserves 1/16 of it (A10, L4: 24 GiB cards
    /// that report ~23,040 MiB). HBM carries ECC beside the data and reserves nothing.
    public var eccReservesMemory: Bool
    /// Dense (no 2:4 sparsity) BF16 tensor-core FLOP/s with FP32 accumulate: what a training GEMM gets.
    /// GeForce cards run FP32-accumulate at half their FP16-accumulate rate; the figure here is the half.
    public var bf16TensorFLOPs: Double
    /// Peak DRAM bandwidth, bytes/s.
    public var memoryBandwidth: Double
    /// Where the figures come from.
    public var source: String
    /// Word sequences that identify the card in the driver's device name, lowercased (`NVIDIA GeForce RTX 4070`
    /// contains `rtx 4070`; `A100-SXM4-80GB` contains `a100`); the longest match wins.
    var driverNames: [String]

    /// A card not in the table, known only by the driver's name and memory: its peak is unknown (0).
    public static func unlisted(name: String, totalMemory: Int) -> GPUSpecification {
        GPUSpecification(id: name, name: name, memoryBytes: totalMemory, eccReservesMemory: false, bf16TensorFLOPs: 0,
                         memoryBandwidth: 0, source: "the driver", driverNames: [])
    }

    /// The dense BF16 peak, or nil for a card not in the table (whose peak is unknown).
    public var listedBF16Peak: Double? { bf16TensorFLOPs > 0 ? bf16TensorFLOPs : nil }

    /// Bytes a program can allocate at most, before the CUDA context: capacity less any ECC reservation.
    public var usableBytes: Int { eccReservesMemory ? memoryBytes / 16 * 15 : memoryBytes }
}

private let GiB = 1 << 30, MiB = 1 << 20
private let tera = 1e12, giga = 1e9

extension GPUSpecification {
    // Sources. GeForce "AI TOPS" are FP4 (Blackwell) or FP8 (Ada) with sparsity and FP16 accumulate;
    // dense BF16 with FP32 accumulate is 1/16 (Blackwell) or 1/8 (Ada) of them — the same ratio the Ada and
    // RTX Blackwell whitepapers print for the cards they tabulate (RTX 4090: 1,321 AI TOPS, 165.2 BF16 TFLOPS).
    /// Every GPU the planner knows, oldest architecture first.
    public static let all: [GPUSpecification] = [
        // NVIDIA GeForce RTX 3060 product page: 12 GB GDDR6, 360 GB/s, 101 sparse FP16 tensor TFLOPS
        // (GA10x: FP16-accumulate dense = 1/2 of that, FP32-accumulate = 1/4) → 25.3.
        GPUSpecification(id: "rtx3060", name: "GeForce RTX 3060 12GB", memoryBytes: 12 * GiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 25.3 * tera, memoryBandwidth: 360 * giga,
                         source: "NVIDIA RTX 3060 family page; GA10x ratios from the Ampere GA102 whitepaper",
                         driverNames: ["rtx 3060"]),
        // NVIDIA Ampere GA102 GPU Architecture whitepaper, table 9 (RTX 3090): 71 dense BF16 TFLOPS with FP32
        // accumulate, 24 GB GDDR6X, 936 GB/s.
        GPUSpecification(id: "rtx3090", name: "GeForce RTX 3090", memoryBytes: 24 * GiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 71 * tera, memoryBandwidth: 936 * giga,
                         source: "NVIDIA Ampere GA102 GPU Architecture whitepaper", driverNames: ["rtx 3090"]),
        // NVIDIA RTX 4060 Ti product page: 16 GB GDDR6, 288 GB/s, 353 AI TOPS → 44.1.
        GPUSpecification(id: "rtx4060ti16", name: "GeForce RTX 4060 Ti 16GB", memoryBytes: 16 * GiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 44.1 * tera, memoryBandwidth: 288 * giga,
                         source: "NVIDIA RTX 4060 family page; Ada ratios from the Ada Lovelace whitepaper",
                         driverNames: ["rtx 4060 ti"]),
        // NVIDIA RTX 4070 family page: 12 GB GDDR6X, 504 GB/s, 466 AI TOPS → 58.3 (46 SMs × 2.475 GHz × 512).
        GPUSpecification(id: "rtx4070", name: "GeForce RTX 4070", memoryBytes: 12 * GiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 58.3 * tera, memoryBandwidth: 504 * giga,
                         source: "NVIDIA RTX 4070 family page; Ada ratios from the Ada Lovelace whitepaper",
                         driverNames: ["rtx 4070"]),
        // NVIDIA RTX 4070 Ti page: 12 GB GDDR6X, 504 GB/s, 641 AI TOPS → 80.1.
        GPUSpecification(id: "rtx4070ti", name: "GeForce RTX 4070 Ti", memoryBytes: 12 * GiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 80.1 * tera, memoryBandwidth: 504 * giga,
                         source: "NVIDIA RTX 4070 family page; Ada ratios from the Ada Lovelace whitepaper",
                         driverNames: ["rtx 4070 ti"]),
        // NVIDIA Ada Lovelace GPU Architecture whitepaper, appendix table (RTX 4080): 97.5 dense BF16 TFLOPS
        // with FP32 accumulate, 16 GB GDDR6X, 716.8 GB/s.
        GPUSpecification(id: "rtx4080", name: "GeForce RTX 4080", memoryBytes: 16 * GiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 97.5 * tera, memoryBandwidth: 716.8 * giga,
                         source: "NVIDIA Ada Lovelace GPU Architecture whitepaper", driverNames: ["rtx 4080"]),
        // Same whitepaper (RTX 4090): 165.2 TFLOPS, 24 GB GDDR6X, 1,008 GB/s.
        GPUSpecification(id: "rtx4090", name: "GeForce RTX 4090", memoryBytes: 24 * GiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 165.2 * tera, memoryBandwidth: 1008 * giga,
                         source: "NVIDIA Ada Lovelace GPU Architecture whitepaper", driverNames: ["rtx 4090"]),
        // NVIDIA RTX Blackwell GPU Architecture whitepaper (RTX 5090): 32 GB GDDR7, 1,792 GB/s, 3,352 AI TOPS
        // (FP4 sparse) → 209.5 dense BF16 with FP32 accumulate (170 SMs × 2.407 GHz × 512).
        GPUSpecification(id: "rtx5090", name: "GeForce RTX 5090", memoryBytes: 32 * GiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 209.5 * tera, memoryBandwidth: 1792 * giga,
                         source: "NVIDIA RTX Blackwell GPU Architecture whitepaper", driverNames: ["rtx 5090"]),
        // NVIDIA A10 datasheet: 24 GB GDDR6 (ECC on), 600 GB/s, BF16 tensor 125 TFLOPS (250 with sparsity).
        GPUSpecification(id: "a10", name: "A10", memoryBytes: 24 * GiB, eccReservesMemory: true,
                         bf16TensorFLOPs: 125 * tera, memoryBandwidth: 600 * giga,
                         source: "NVIDIA A10 Tensor Core GPU datasheet", driverNames: ["a10"]),
        // NVIDIA L4 datasheet: 24 GB GDDR6 (ECC on), 300 GB/s, BF16 tensor 242 TFLOPS with sparsity → 121.
        GPUSpecification(id: "l4", name: "L4", memoryBytes: 24 * GiB, eccReservesMemory: true,
                         bf16TensorFLOPs: 121 * tera, memoryBandwidth: 300 * giga,
                         source: "NVIDIA L4 Tensor Core GPU datasheet", driverNames: ["l4"]),
        // NVIDIA A100 Tensor Core GPU datasheet: BF16 tensor 312 TFLOPS dense; 40 GB HBM2 at 1,555 GB/s;
        // 80 GB HBM2e at 2,039 GB/s (SXM; the PCIe card has 1,935 GB/s).
        // The CUDA driver reports 40,536 MiB of the 40 GiB (PaddlePaddle's get_device_properties example).
        GPUSpecification(id: "a100-40gb", name: "A100 40GB", memoryBytes: 40_536 * MiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 312 * tera, memoryBandwidth: 1555 * giga,
                         source: "NVIDIA A100 Tensor Core GPU datasheet; memory as the CUDA driver reports it", driverNames: ["a100"]),
        GPUSpecification(id: "a100-80gb", name: "A100 80GB", memoryBytes: 80 * GiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 312 * tera, memoryBandwidth: 2039 * giga,
                         source: "NVIDIA A100 Tensor Core GPU datasheet", driverNames: ["a100"]),
        // NVIDIA H100 Tensor Core GPU datasheet: BF16 tensor 1,979 (SXM) / 1,513 (PCIe) TFLOPS with sparsity,
        // half without; 80 GB HBM3 at 3.35 TB/s (SXM), HBM2e at 2 TB/s (PCIe).
        // The CUDA driver reports 81,082–81,090 MiB of the 80 GiB (PyTorch's total_memory across drivers): the least.
        GPUSpecification(id: "h100-sxm", name: "H100 SXM 80GB", memoryBytes: 81_082 * MiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 989.4 * tera, memoryBandwidth: 3350 * giga,
                         source: "NVIDIA H100 Tensor Core GPU datasheet; memory as the CUDA driver reports it",
                         driverNames: ["h100 80gb hbm3", "h100 sxm5", "h100 sxm"]),
        GPUSpecification(id: "h100-pcie", name: "H100 PCIe 80GB", memoryBytes: 80 * GiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 756.5 * tera, memoryBandwidth: 2000 * giga,
                         source: "NVIDIA H100 Tensor Core GPU datasheet", driverNames: ["h100 pcie"]),
        // NVIDIA H200 Tensor Core GPU datasheet: 141 GB HBM3e at 4.8 TB/s, BF16 tensor 1,979 TFLOPS with
        // sparsity → 989.4 dense (the H100 SXM's compute). The CUDA driver reports 143,156 MiB (PyTorch's total_memory).
        GPUSpecification(id: "h200", name: "H200 141GB", memoryBytes: 143_156 * MiB, eccReservesMemory: false,
                         bf16TensorFLOPs: 989.4 * tera, memoryBandwidth: 4800 * giga,
                         source: "NVIDIA H200 Tensor Core GPU datasheet; memory as the CUDA driver reports it", driverNames: ["h200"]),
    ]

    /// Looks a GPU up by its `--gpu` name, forgiving case, spaces and dashes (`RTX 4070`, `h100sxm`, `4090`);
    /// the error lists every name.
    public static func named(_ name: String) throws -> GPUSpecification {
        let key = normalized(name)
        if let exact = all.first(where: { normalized($0.id) == key || normalized($0.name) == key }) { return exact }
        let loose = all.filter { normalized($0.id).hasSuffix(key) && !key.isEmpty && key.count >= 3 }
        if loose.count == 1 { return loose[0] }
        throw ConfigError("unknown GPU '\(name)'; known: \(all.map(\.id).joined(separator: ", ")) (gpt2 plan --list-gpus)")
    }

    /// The row of a device the driver reports, or an unlisted entry with its name and memory.
    public static func describing(deviceName: String, totalMemory: Int) -> GPUSpecification {
        matching(deviceName: deviceName, totalMemory: totalMemory) ?? .unlisted(name: deviceName, totalMemory: totalMemory)
    }

    /// The row for a device the driver reports (`NVIDIA GeForce RTX 4070`, `NVIDIA A100-SXM4-80GB`), using its
    /// memory to tell 40 GB from 80 GB parts; nil for a card not in the table.
    public static func matching(deviceName: String, totalMemory: Int) -> GPUSpecification? {
        let words = deviceName.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
        let candidates = all.compactMap { spec -> (GPUSpecification, Int)? in
            spec.driverNames.filter { names(words, $0) }.map(\.count).max().map { (spec, $0) }
        }
        guard let longest = candidates.map(\.1).max() else { return nil }
        return candidates.filter { $0.1 == longest }.map(\.0)
            .min { abs($0.memoryBytes - totalMemory) < abs($1.memoryBytes - totalMemory) }
    }

    /// Whether the device name's `words` hold `driverName`'s words in a row, not followed by a word that makes it
    /// another card ("RTX 3060 Ti" is not an RTX 3060, nor "RTX 4070 SUPER" an RTX 4070: other chips, other peaks).
    private static func names(_ words: [String], _ driverName: String) -> Bool {
        let wanted = driverName.split(separator: " ").map(String.init)
        guard wanted.count <= words.count else { return false }
        return (0...(words.count - wanted.count)).contains { start in
            let end = start + wanted.count
            return Array(words[start..<end]) == wanted && (end == words.count || !variantWords.contains(words[end]))
        }
    }

    /// Words after a model number that name another card than the number alone.
    private static let variantWords: Set<String> = ["ti", "super", "d", "laptop", "mobile", "max"]

    private static func normalized(_ text: String) -> String {
        String(text.lowercased().filter { $0.isLetter || $0.isNumber }).replacingPrefix("geforce", with: "")
    }
}

extension String {
    fileprivate func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
