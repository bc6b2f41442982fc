/// Lookups over the embedded CUDA sources. The sources themselves live in `Kernels/*.cu` and are turned
/// into `CUDAKernelSources` by the EmbedKernels plugin at build time.

extension CUDAKernelSources {
    /// The text of the kernel file or header called `name` ("attention.cu", "common.cuh"), if embedded.
    public static func source(named name: String) -> String? {
        (all + headers).first { $0.name == name }?.source
    }
}
