/// Kernels that break, one each, a rule the CUDA emulator enforces: CUDABackendTests compile them with NVRTC,
/// launch them on the emulator and expect it to report the problem. Never part of gpt2's kernels.

// NVRTC finds the kernels' headers by name; the emulator's Kernels.cpp has included them before this file.
#if __has_include("common.cuh")
#include "common.cuh"
#include "async_copy.cuh"
#endif

#define CHECK_FULL_MASK 0xffffffffu

// out (blockDim.x) fp32. Lanes 16..31 of each warp exit before a full-warp shuffle: undefined on a GPU.
extern "C" __global__ void check_shuffle_after_exit(float* out) {
    if (threadIdx.x % 32 >= 16) return;
    out[threadIdx.x] = __shfl_xor_sync(CHECK_FULL_MASK, 1.0f, 1);
}

// out (blockDim.x) fp32. Half of each warp shuffles while the other half waits at __syncthreads: a deadlock.
extern "C" __global__ void check_shuffle_in_divergent_code(float* out) {
    float value = 1.0f;
    if (threadIdx.x % 32 < 16) value = __shfl_xor_sync(CHECK_FULL_MASK, value, 1);
    else __syncthreads();
    out[threadIdx.x] = value;
}

// out (64) int = what thread t reads from the slot thread 63 − t wrote, with no barrier between the write and
// the read: a race. The right answer is 63 − t + seed; block 64.
extern "C" __global__ void check_race(int* out, int seed) {
    __shared__ int slots[64];
    slots[threadIdx.x] = threadIdx.x + seed;
    out[threadIdx.x] = slots[63 - threadIdx.x];
}

// out (index) fp32. Thread 0 writes out[index]: one element past the end of a buffer of `index` floats.
extern "C" __global__ void check_out_of_bounds(float* out, int index) {
    if (threadIdx.x == 0) out[index] = 1.0f;
}

// buffer (128) fp32, block 64, 256 bytes of dynamic shared memory. Thread t stages buffer[t] into shared
// memory with cp.async, and after a barrier writes what thread 63 − t staged to buffer[64 + t]. Mode 1 waits
// for its copy before the barrier (right); mode 0 waits only after the read (a race: right only where the
// copies happen to have landed early); mode 2 never waits (copies still in flight when the thread exits).
extern "C" __global__ void check_async_copy(float* buffer, int mode) {
    DYNAMIC_SHARED(float, staged);
    cp_async_4(staged + threadIdx.x, buffer + threadIdx.x, 4);
    cp_async_commit();
    if (mode == 1) cp_async_wait<0>();
    __syncthreads();
    buffer[64 + threadIdx.x] = staged[63 - threadIdx.x];
    if (mode == 0) cp_async_wait<0>();
}

// out (gridDim.x, 128) fp32, block 64, 256 bytes of dynamic shared memory. Each block copies out its static
// (columns 0..63) and dynamic (64..127) shared memory before writing to either: a read of uninitialised
// shared memory, which on a GPU may find what an earlier block left there.
extern "C" __global__ void check_shared_memory_starts_unset(float* out, int unused) {
    __shared__ float statics[64];
    DYNAMIC_SHARED(float, dynamics);
    out[blockIdx.x * 128 + threadIdx.x] = statics[threadIdx.x];
    out[blockIdx.x * 128 + 64 + threadIdx.x] = dynamics[threadIdx.x];
    __syncthreads();
    statics[threadIdx.x] = 1.0f;
    dynamics[threadIdx.x] = 2.0f;
}
