// The kernels of Sources/CUDAKernels/Kernels compiled as host C++, looked up by their C names, and a
// launch that checks its arguments and runs every block of the grid through the block scheduler.
#pragma once

#include <string>

#include "BlockScheduler.h"

namespace cuemu {

/// Grid, block and dynamic shared memory of one launch, and the order its threads run in.
struct LaunchShape {
    dim3 grid;
    dim3 block;
    unsigned sharedBytes;
    ThreadOrder order;
};

/// Runs one kernel over its whole grid; false with `error` set on a bad argument or a stuck block.
using KernelLauncher = bool (*)(const LaunchShape& shape, void** parameters, std::string& error);

/// The launcher of the `extern "C"` kernel `name`, or nullptr when no kernel file defines it.
KernelLauncher find_kernel(const char* name);

}  // namespace cuemu
