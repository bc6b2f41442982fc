// The emulated device's memory: host allocations standing in for cuMemAlloc, tracked so that every copy,
// memset, kernel pointer argument and GEMM operand can be checked to lie inside one allocation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cuemu {

/// Bytes the emulated device reports as its total memory: 16 GiB, or GPT2_CUDA_EMULATOR_MEMORY_MIB mebibytes (a
/// small device a test can fill); 0 when that setting is not a positive whole number (cuInit fails).
extern const size_t deviceMemoryBytes;
/// Bytes of it "other processes" hold from the start (a desktop, another run): 0, or
/// GPT2_CUDA_EMULATOR_MEMORY_IN_USE_MIB mebibytes; SIZE_MAX when that setting is not a whole number below the
/// device's memory (cuInit fails).
extern const size_t otherProcessBytes;

/// A 256-byte-aligned allocation between guard pages, filled with 0xFF bytes (a GPU does not clear fresh
/// memory); 0 when the emulated device is full.
uint64_t allocate_device(size_t bytes);
/// Frees an address `allocate_device` returned; false for any other address.
bool free_device(uint64_t address);
/// Whether [address, address + bytes) lies inside one live allocation (bytes 0: a pointer into it, or one past its end).
bool is_device_range(uint64_t address, size_t bytes);
/// Device memory in use, as cuMemGetInfo reports it: what other processes hold, and each live allocation rounded
/// up to the 2 MiB pages the driver hands out (the granularity the planner assumes; the real figure is measured
/// on a GPU).
size_t allocated_device_bytes();

}  // namespace cuemu
