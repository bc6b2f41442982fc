/// cp.async (sm_80 and later): copies from global to shared memory that the issuing thread does not wait for,
/// so the next tile can be in flight while the current one is used. Given to NVRTC as an in-memory header;
/// the CUDA emulator brings its own definitions (device/AsyncCopy.h).
#pragma once

#if (!defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800) && !defined(CP_ASYNC_EMULATED)
// cp.async: a copy of 16 (or 4) bytes from global to shared memory that the thread does not wait for; only
// `source_bytes` are read, the rest of the destination is zero-filled. cp_async_commit closes the copies
// issued since the last one into a group; cp_async_wait<N> waits until at most N groups are still in flight.
__device__ __forceinline__ void cp_async_16(void* destination, const void* source, unsigned source_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                 :: "r"((unsigned)__cvta_generic_to_shared(destination)), "l"(source), "r"(source_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_4(void* destination, const void* source, unsigned source_bytes) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n"
                 :: "r"((unsigned)__cvta_generic_to_shared(destination)), "l"(source), "r"(source_bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int PendingGroups>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(PendingGroups) : "memory"); }
#endif
