/// The embedded kernel sources: every file in Kernels/ is embedded byte for byte, headers apart, and
/// architecture names parse the way NVRTC spells them. None of this needs NVRTC or a GPU.

import CUDABackend
import CUDAKernels
import GPT2
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

@Suite struct KernelSourceTests {
    static let kernelFolder: String = {
        let root = FileSystem.directoryName(FileSystem.directoryName(FileSystem.directoryName("\(#filePath)")))
        return root + "/Sources/CUDAKernels/Kernels"
    }()

    @Test func everyKernelFileIsEmbeddedVerbatim() throws {
        let expected = ["adamw.cu", "attention.cu", "attention_tensor_cores.cu", "classifier.cu", "elementwise.cu", "encoder.cu",
                        "gelu.cu", "layernorm.cu", "norm.cu"]
        #expect(CUDAKernelSources.all.map(\.name) == expected)
        #expect(CUDAKernelSources.headers.map(\.name) == ["async_copy.cuh", "attention.cuh", "attention_tiles.cuh", "common.cuh"])
        for (name, source) in CUDAKernelSources.all + CUDAKernelSources.headers {
            let onDisk = String(decoding: try ByteFile.contents(ofFile: Self.kernelFolder + "/" + name), as: UTF8.self)
            #expect(source == onDisk, "\(name) differs from its file")
        }
    }

    @Test func kernelsAvoidWhatNVRTCCannotCompileCheaply() {
        for (name, source) in CUDAKernelSources.all + CUDAKernelSources.headers {
            #expect(!source.contains("cooperative_groups"), "\(name): use __shfl_xor_sync reductions")
            #expect(!source.contains("INFINITY"), "\(name): use CUDART_INF_F (math_constants.h)")
        }
    }

    @Test func architectureNamesParse() {
        #expect(GPUArchitecture("sm_89") == GPUArchitecture(major: 8, minor: 9))
        #expect(GPUArchitecture("compute_90") == GPUArchitecture(major: 9, minor: 0, isVirtual: true))
        #expect(GPUArchitecture("sm_120")?.major == 12)
        #expect(GPUArchitecture("sm_90a")?.description == "sm_90a")
        #expect(GPUArchitecture("compute_80")?.outputKind == "ptx")
        #expect(GPUArchitecture("sm89") == nil)
        #expect(GPUArchitecture("sm_x9") == nil)
        #expect(GPUArchitecture("sm_8") == nil)
    }
}

