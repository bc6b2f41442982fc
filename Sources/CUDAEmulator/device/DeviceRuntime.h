// What an emulated GPU thread can ask of the emulator: its launch coordinates, barriers, warp shuffles
// and the dynamic shared memory. Every GPU thread of a block runs as a fiber (BlockScheduler.cpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
};

namespace cuemu {

/// What one emulated GPU thread sees of its launch.
struct ThreadContext {
    uint3 threadIdx;
    uint3 blockIdx;
    dim3 blockDim;
    dim3 gridDim;
};

/// The running fiber's context (set by the scheduler before it switches to the fiber).
extern ThreadContext* current_thread;

/// __syncthreads: waits until every thread of the block that has not exited arrives.
void block_barrier();
/// __syncwarp: waits for the 32 lanes of the caller's warp (all must be present).
void warp_barrier(unsigned mask);
/// One warp shuffle: publishes `bits` for the caller's lane, waits for the warp, returns `source_lane`'s.
uint64_t warp_exchange(uint64_t bits, unsigned source_lane, unsigned mask);
/// The launch's dynamic shared memory (its `sharedMem` bytes, 128-byte aligned), and its size.
void* dynamic_shared_memory();
unsigned dynamic_shared_memory_bytes();
/// __trap(): stops the process, naming the kernel's block and thread.
[[noreturn]] void trap();
/// A vector access to `address` that is not `alignment`-aligned (a fault on the GPU): stops the process,
/// naming the block and thread.
[[noreturn]] void misaligned_access(const void* address, unsigned alignment);
/// Checks what shared-memory instructions (ldmatrix rows, cp.async destinations) require of an access of
/// `bytes`: aligned to `bytes` and inside the launch's dynamic shared memory (the GPU faults, or worse,
/// otherwise); stops the process naming the block and thread when it is not.
void require_dynamic_shared(const void* address, unsigned bytes);
/// cp.async of `bytes` (4, 8 or 16) into shared `destination` from device memory `source`, of which only
/// `source_bytes` are read (the rest zero-filled); both aligned to `bytes`, checked here. Performed at the
/// wait that covers its group, or in the reverse thread order at once (AsyncCopyQueue.h).
void async_copy(void* destination, const void* source, unsigned bytes, unsigned source_bytes);
/// cp.async.commit_group.
void async_commit();
/// cp.async.wait_group `pending_groups`.
void async_wait(unsigned pending_groups);
/// 256 floats private to the calling thread's warp, for warp-wide operations that share a result.
float* warp_scratch();

inline unsigned lane_id() {
    const ThreadContext& t = *current_thread;
    return (t.threadIdx.x + t.threadIdx.y * t.blockDim.x + t.threadIdx.z * t.blockDim.x * t.blockDim.y) % 32u;
}

template <typename Value>
inline Value shuffle(Value value, unsigned source_lane, unsigned mask) {
    static_assert(sizeof(Value) <= 8, "shuffles move at most 8 bytes");
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(Value));
    bits = warp_exchange(bits, source_lane % 32u, mask);
    Value result;
    std::memcpy(&result, &bits, sizeof(Value));
    return result;
}

}  // namespace cuemu
