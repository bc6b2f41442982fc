// Runs one thread block of an emulated kernel: every GPU thread as a fiber on the calling OS thread,
// switched at barriers and warp shuffles, so kernels written for lockstep warps run unchanged on the CPU.
#pragma once

#include <functional>
#include <string>

#include "device/DeviceRuntime.h"

namespace cuemu {

/// The two schedules the emulator can give a block, which a race-free kernel cannot tell apart: between two
/// barriers the threads run first to last, all warps advancing together, and a cp.async copy lands at the
/// wait that covers it (as late as the GPU may: reading a tile before waiting for it shows); or (`reverse`)
/// last to first, each warp running as far as it can before the next (warps drift apart as far as the GPU
/// lets them), and each cp.async copy lands as soon as it is issued (as early as the GPU may: refilling a
/// buffer that other warps still read shows).
enum class ThreadOrder { forward, reverse };

/// Runs `body` once per thread of block `block_index` (of `grid`, with `block` threads each), returning
/// false with `error` set when the block cannot finish: a barrier some threads never reach, or a warp
/// shuffle / __syncwarp with lanes that exited or do not exist (undefined behaviour on a GPU).
/// `dynamic_shared` (`dynamic_shared_bytes` long) is what `dynamic_shared_memory()` returns during the block.
bool run_block(const std::function<void()>& body, dim3 grid, dim3 block, uint3 block_index,
               void* dynamic_shared, unsigned dynamic_shared_bytes, ThreadOrder order, std::string& error);

}  // namespace cuemu
