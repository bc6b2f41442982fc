/// What the CUDA tests can use on this machine: NVRTC (found through NVRTC_LIB / CUDA_INCLUDE or a CUDA
/// toolkit) for the compile tests, and a usable device for the device tests; otherwise they are skipped.

import CUDABackend

enum CUDATestEnvironment {
    /// A compiler when NVRTC and its headers are found, else nil.
    static let compiler: NVRTCCompiler? = {
        guard let compiler = try? NVRTCCompiler(), !compiler.includeFolders.isEmpty else { return nil }
        return compiler
    }()

    static var hasNVRTC: Bool { compiler != nil }
    static let hasDevice: Bool = CUDAAvailability.problem() == nil

    /// The architectures CI compiles for (Ampere A100, Ada L4/4090, Hopper H100).
    static let ciArchitectures = ["sm_80", "sm_89", "sm_90"]
}
