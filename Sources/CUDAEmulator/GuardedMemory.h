// Memory with an inaccessible page on each side, for everything an emulated kernel addresses by pointer
// (device allocations, dynamic shared memory, the threads' stacks): an access just past the end (or
// before the start) faults instead of silently reading a neighbour, and the fault address can be traced
// back to the block it missed. Fresh memory is filled with 0xFF bytes (NaN as fp32 and as bf16), as a GPU
// leaves fresh memory uninitialised: a kernel that reads what nobody wrote gets NaN, not a lucky zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cuemu {

/// What a guarded block holds, for fault reports.
enum class GuardedUse { deviceAllocation, dynamicSharedMemory, threadStack };

/// `bytes` (0 allowed) starting `alignment`-aligned (a power of two up to the page size), the block rounded
/// up to `alignment` ending right before an inaccessible page and starting after another one (with the
/// unused rest of its first page between); filled with 0xFF. nullptr when the system refuses the mapping.
void* guarded_allocate(size_t bytes, size_t alignment, GuardedUse use);
/// Unmaps a block `guarded_allocate` returned; false for any other address.
bool guarded_free(void* start);
/// Where `address` lies relative to the guarded blocks, e.g. "4 bytes past the end of a 256-byte device
/// allocation"; "not next to any device allocation, shared memory or thread stack" when near none.
std::string describe_guarded_address(uintptr_t address);

}  // namespace cuemu
