// The CUDA device-side language the kernels use, for compiling them as host C++ in the emulator:
// qualifiers, the built-in index variables, barriers, warp shuffles and the math intrinsics.
//
// `threadIdx` and friends read the running fiber's context. `__shared__` variables become function
// statics in one section of their own: blocks run one at a time, so a static is exactly one block's shared
// memory, and the launcher refills the section with 0xFF before each block (Kernels.cpp). Barriers and
// shuffles switch fibers. Include this only where the kernels are compiled: its macros take over names.
#pragma once

#include <cfloat>

#include "AsyncCopy.h"
#include "DeviceRuntime.h"
#include "LoadMatrix.h"
#include "MatrixMultiplyAccumulate.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#if defined(__ELF__)
#define __shared__ __attribute__((section("cuemu_static_shared"))) static
#else   // (no linker-made section bounds to refill by: static shared memory keeps what the last block left)
#define __shared__ static
#endif
#define __restrict__ __restrict
#define DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::cuemu::dynamic_shared_memory())
inline unsigned dynamic_shared_bytes() { return ::cuemu::dynamic_shared_memory_bytes(); }
inline void __trap() { ::cuemu::trap(); }
#define REQUIRE_ALIGNED(pointer, bytes) \
    if (reinterpret_cast<uintptr_t>(pointer) % (bytes) != 0) ::cuemu::misaligned_access(pointer, bytes)

#define threadIdx (::cuemu::current_thread->threadIdx)
#define blockIdx (::cuemu::current_thread->blockIdx)
#define blockDim (::cuemu::current_thread->blockDim)
#define gridDim (::cuemu::current_thread->gridDim)

inline void __syncthreads() { ::cuemu::block_barrier(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::cuemu::warp_barrier(mask); }

template <typename Value>
inline Value __shfl_sync(unsigned mask, Value value, int source_lane) {
    return ::cuemu::shuffle(value, unsigned(source_lane), mask);
}

template <typename Value>
inline Value __shfl_xor_sync(unsigned mask, Value value, int lane_mask) {
    return ::cuemu::shuffle(value, ::cuemu::lane_id() ^ unsigned(lane_mask), mask);
}

inline float __expf(float x) { return expf(x); }
// ex2.approx.ftz.f32 (common.cuh's exp2_approx): 2^x, subnormal results flushed to zero.
#define EXP2_APPROX_EMULATED
inline float exp2_approx(float x) {
    const float y = exp2f(x);
    return y < FLT_MIN ? 0.0f : y;
}
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

template <typename Value>
inline Value min(Value a, Value b) { return b < a ? b : a; }
template <typename Value>
inline Value max(Value a, Value b) { return a < b ? b : a; }
