/// Shared definitions for every kernel file: the bf16 type, warp and block reductions, loads and stores.
/// Given to NVRTC as an in-memory header; kernels `#include "common.cuh"`.
#pragma once

#include <cuda_bf16.h>
#include <math_constants.h>

// Precision contract for the whole backend:
//   activations, activation gradients, and the bf16 copy of the weights: bf16 (__nv_bfloat16);
//   parameter gradients, master weights, AdamW moments, LayerNorm statistics, losses: fp32;
//   every sum and dot product accumulates in fp32.
typedef __nv_bfloat16 bf16;

// A kernel's dynamically sized shared memory (the launch's sharedMem bytes) as an array `name` of `type`,
// and that size read back, so a kernel can refuse a launch that gave it less than its layout needs.
// Both are defined elsewhere when the kernels are compiled as host C++ by the CUDA emulator.
#ifndef DYNAMIC_SHARED
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]
__device__ __forceinline__ unsigned dynamic_shared_bytes() {
    unsigned bytes;
    asm volatile("mov.u32 %0, %%dynamic_smem_size;" : "=r"(bytes));
    return bytes;
}
#endif

#define WARP_SIZE 32
#define FULL_MASK 0xffffffffu

// A vector access to a misaligned address faults on the GPU; the CUDA emulator, where it would not, checks
// it through this macro (nothing on the GPU).
#ifndef REQUIRE_ALIGNED
#define REQUIRE_ALIGNED(pointer, bytes)
#endif

// Eight bf16 values as one 16-byte unit, moved by one vectorised load or store.
struct alignas(16) Pack8 {
    bf16 values[8];
};

// The eight bf16 at p, which must be 16-byte aligned.
__device__ __forceinline__ Pack8 load8(const bf16* p) {
    REQUIRE_ALIGNED(p, 16);
    return *reinterpret_cast<const Pack8*>(p);
}

// Stores eight bf16 at p, which must be 16-byte aligned.
__device__ __forceinline__ void store8(bf16* p, const Pack8& values) {
    REQUIRE_ALIGNED(p, 16);
    *reinterpret_cast<Pack8*>(p) = values;
}

__device__ __forceinline__ float to_float(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 to_bf16(float x) { return __float2bfloat16_rn(x); }

// 2^x in one special-function-unit instruction (PTX ex2.approx.ftz.f32: relative error ~2^-22, results below
// 2^-126 flushed to 0). Without --use_fast_math, __expf(x) costs this on x·log2(e) plus three instructions
// that rescue subnormal results; a kernel that folds log2(e) into a scale it multiplies by anyway uses this.
// The CUDA emulator brings its own definition.
#define LOG2_E 1.4426950408889634f
#ifndef EXP2_APPROX_EMULATED
__device__ __forceinline__ float exp2_approx(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
#endif

// Sum / max of `value` over the 32 lanes of a warp; every lane gets the result.
__device__ __forceinline__ float warp_sum(float value) {
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(FULL_MASK, value, offset);
    return value;
}

__device__ __forceinline__ float warp_max(float value) {
    for (int offset = 16; offset > 0; offset >>= 1) value = fmaxf(value, __shfl_xor_sync(FULL_MASK, value, offset));
    return value;
}

// `value` reduced over the block by `warp_reduce` (warp_sum or warp_max); every thread gets the result, and
// `identity` (0 or -inf) stands in for the warps the block does not have. blockDim.x must be a multiple of 32
// (at most 1024) and every thread of the block must call it. Safe to call several times in a row: the
// leading barrier keeps one call's partials from overwriting the previous call's before they are read.
template <float (*warp_reduce)(float)>
__device__ __forceinline__ float block_reduce(float value, float identity) {
    __shared__ float partials[WARP_SIZE];
    const int lane = threadIdx.x % WARP_SIZE, warp = threadIdx.x / WARP_SIZE;
    const int warps = blockDim.x / WARP_SIZE;
    value = warp_reduce(value);
    __syncthreads();
    if (lane == 0) partials[warp] = value;
    __syncthreads();
    return warp_reduce(lane < warps ? partials[lane] : identity);
}

__device__ __forceinline__ float block_sum(float value) { return block_reduce<warp_sum>(value, 0.0f); }
__device__ __forceinline__ float block_max(float value) { return block_reduce<warp_max>(value, -CUDART_INF_F); }

// GPT-2's GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
#define GELU_SCALE 0.7978845608028654f   // √(2/π)
#define GELU_CUBIC 0.044715f
