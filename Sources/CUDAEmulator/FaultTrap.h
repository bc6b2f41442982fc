// Turns a memory fault inside an emulated kernel (a thread touching a guard page, a stack overflow, a wild
// pointer) into a failed launch that names the kernel's block and thread, the address and the block of
// memory it missed, as CUDA reports an illegal address instead of taking the process down.
#pragma once

#include <functional>
#include <string>

namespace cuemu {

/// Runs `launch`; when it faults on memory, abandons it (its threads never resume) and returns false with
/// `error` describing the fault. Otherwise returns what `launch` returns. `faulted` tells the two apart.
bool run_catching_faults(const std::function<bool(std::string&)>& launch, std::string& error, bool& faulted);

}  // namespace cuemu
