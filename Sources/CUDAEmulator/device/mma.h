// Host stand-in for CUDA's <mma.h>, for the emulator only: the warp-level matrix API (nvcuda::wmma) for
// 16×16×16 tiles with bf16 inputs and fp32 accumulators. Fragments are semantic, not the hardware's
// register layout: every lane holds the whole tile, which is all a kernel can rely on when it never reads
// fragment elements (ours do not). Each operation starts with a warp barrier, as the real ones are
// warp-collective: all 32 lanes must reach it, and no lane's store can overtake another lane's load.
// Pointers must be 256-bit aligned and leading dimensions a multiple of 16 bytes, as the CUDA
// documentation requires; a violation stops the process with the offending call.
#pragma once

#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "DeviceRuntime.h"
#include "cuda_bf16.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename Element, typename Layout = void>
struct fragment {
    static_assert(M == 16 && N == 16 && K == 16, "the emulator models 16×16×16 tiles only");
    float tile[256];   // row-major 16×16, whatever the use
};

namespace detail {

inline void require(bool condition, const char* call, const char* what) {
    if (condition) return;
    fprintf(stderr, "CUDA emulator: wmma::%s: %s\n", call, what);
    std::abort();
}

inline void check(const void* pointer, unsigned ldm, unsigned elementBytes, const char* call) {
    require(reinterpret_cast<uintptr_t>(pointer) % 32 == 0, call, "the pointer must be 256-bit (32-byte) aligned");
    require(ldm * elementBytes % 16 == 0, call, "ldm must be a multiple of 16 bytes");
}

inline float widen(__nv_bfloat16 value) { return __bfloat162float(value); }
inline float widen(float value) { return value; }

}  // namespace detail

template <typename Use, typename Element, typename Layout>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, Element, Layout>& a, const Element* pointer, unsigned ldm) {
    ::cuemu::warp_barrier(0xffffffffu);
    detail::check(pointer, ldm, sizeof(Element), "load_matrix_sync");
    const bool rowMajor = std::is_same<Layout, row_major>::value;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) a.tile[i * 16 + j] = detail::widen(rowMajor ? pointer[i * ldm + j] : pointer[i + j * ldm]);
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& c, const float* pointer, unsigned ldm, layout_t layout) {
    ::cuemu::warp_barrier(0xffffffffu);
    detail::check(pointer, ldm, 4, "load_matrix_sync");
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) c.tile[i * 16 + j] = layout == mem_row_major ? pointer[i * ldm + j] : pointer[i + j * ldm];
}

inline void store_matrix_sync(float* pointer, const fragment<accumulator, 16, 16, 16, float>& c, unsigned ldm, layout_t layout) {
    ::cuemu::warp_barrier(0xffffffffu);
    detail::check(pointer, ldm, 4, "store_matrix_sync");
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) (layout == mem_row_major ? pointer[i * ldm + j] : pointer[i + j * ldm]) = c.tile[i * 16 + j];
}

template <typename Use, typename Element, typename Layout>
inline void fill_fragment(fragment<Use, 16, 16, 16, Element, Layout>& f, float value) {
    ::cuemu::warp_barrier(0xffffffffu);
    for (float& x : f.tile) x = value;
}

/// d = a·b + c. Each lane computes 8 of the 256 outputs into its warp's exchange area, then every lane
/// copies the whole result: the work of one warp-wide operation, not 32 copies of it.
template <typename LayoutA, typename LayoutB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LayoutA>& a,
                     const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LayoutB>& b,
                     const fragment<accumulator, 16, 16, 16, float>& c) {
    ::cuemu::warp_barrier(0xffffffffu);
    float* result = ::cuemu::warp_scratch();
    const unsigned lane = ::cuemu::lane_id();
    for (unsigned o = lane * 8; o < lane * 8 + 8; o++) {
        const unsigned i = o / 16, j = o % 16;
        float sum = c.tile[o];
        for (int k = 0; k < 16; k++) sum += a.tile[i * 16 + k] * b.tile[k * 16 + j];
        result[o] = sum;
    }
    ::cuemu::warp_barrier(0xffffffffu);
    for (int o = 0; o < 256; o++) d.tile[o] = result[o];
}

}  // namespace wmma
}  // namespace nvcuda
