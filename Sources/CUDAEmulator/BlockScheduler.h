// Runs one thread block of an emulated kernel: every GPU thread as a fiber on the calling OS thread,
// switched at barriers and warp shuffles, so kernels written for lockstep warps run unchanged on the CPU.
#pragma once

#include <functional>
#include <string>

#include "device/DeviceRuntime.h"

namespace cuemu {

/// The order in which the threads of a block run between two barriers.
enum class ThreadOrder { forward, reverse };

/// Runs `body` once per thread of block `block_index` (of `grid`, with `block` threads each), returning
/// false with `error` set when the block cannot finish: a barrier some threads never reach, or a warp
/// shuffle / __syncwarp with lanes that exited or do not exist (undefined behaviour on a GPU).
/// `dynamic_shared` (`dynamic_shared_bytes` long) is what `dynamic_shared_memory()` returns during the block.
bool run_block(const std::function<void()>& body, dim3 grid, dim3 block, uint3 block_index,
               void* dynamic_shared, unsigned dynamic_shared_bytes, ThreadOrder order, std::string& error);

}  // namespace cuemu
