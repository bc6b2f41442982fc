// Reading what a real GPU would check at launch out of an NVRTC cubin (an ELF file): its size, and each
// kernel's register count and static shared memory, so the emulator can refuse launches a GPU refuses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cuemu {

/// What a kernel asks of a multiprocessor.
struct KernelResources {
    unsigned registersPerThread = 0;
    size_t staticSharedBytes = 0;
};

/// The size of the ELF image at `image`: the furthest end of its header tables, sections and segments;
/// nullopt when it is not a 64-bit little-endian ELF file.
std::optional<size_t> elf_image_size(const unsigned char* image);

/// The architecture a cubin was built for, as major × 10 + minor (89 for sm_89), from the ELF header's flags:
/// bits 8–15 from ELF ABI version 8 on (CUDA 12.8's NVRTC onwards), bits 0–7 before.
int cubin_architecture(const unsigned char* image);

/// The CUDA release whose compiler built a cubin, as 10 × major + minor (124 for 12.4): the version in its
/// `.note.nv.cuinfo` note (the third 16-bit field; CUDA 13's NVRTC writes one), else the ELF header's e_version (CUDA
/// 12.4's NVRTC writes the release there, with no such note); 0 when neither says (an e_version of 1).
int cubin_toolkit_version(const std::vector<unsigned char>& image);

/// `kernel`'s resources from the cubin's `.nv.info` (EIATTR_REGCOUNT) and `.nv.shared.<kernel>` sections;
/// nullopt when the image has no symbol of that name.
std::optional<KernelResources> kernel_resources(const std::vector<unsigned char>& image, const std::string& kernel);

/// Registers a block of `threads` occupies: per warp, 32 × registers rounded up to 256 (Ampere, Ada, Hopper).
inline size_t block_registers(unsigned registersPerThread, unsigned threads) {
    const size_t perWarp = (size_t(registersPerThread) * 32 + 255) / 256 * 256;
    return perWarp * ((threads + 31) / 32);
}

}  // namespace cuemu
