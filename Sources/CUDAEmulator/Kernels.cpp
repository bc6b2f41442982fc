// Every kernel file, compiled for the host with the device language of DeviceRuntime.h, and the table of
// kernels by name. Arguments arrive as cuLaunchKernel passes them (one pointer per argument); each
// launcher copies them with the kernel's own parameter types and checks every pointer argument against
// the device allocations before running a block.

#include "Kernels.h"

#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#include "BlockScheduler.h"
#include "DeviceMemory.h"
#include "GuardedMemory.h"
#include "device/DeviceLanguage.h"

#include "../CUDAKernels/Kernels/adamw.cu"
#include "../CUDAKernels/Kernels/attention.cu"
#include "../CUDAKernels/Kernels/attention_tensor_cores.cu"
#include "../CUDAKernels/Kernels/classifier.cu"
#include "../CUDAKernels/Kernels/elementwise.cu"
#include "../CUDAKernels/Kernels/encoder.cu"
#include "../CUDAKernels/Kernels/gelu.cu"
#include "../CUDAKernels/Kernels/layernorm.cu"
#include "../CUDAKernels/Kernels/norm.cu"
#include "checks/emulator_checks.cu"

namespace cuemu {
namespace {

/// The launch's dynamic shared memory: guarded, and kept per thread while launches ask for the same size.
void* dynamicSharedMemory(size_t bytes) {
    thread_local void* memory = nullptr;
    thread_local size_t memoryBytes = 0;
    if (!memory || memoryBytes != bytes) {
        if (memory) guarded_free(memory);
        memory = guarded_allocate(bytes, 128, GuardedUse::dynamicSharedMemory);
        memoryBytes = bytes;
    }
    return memory;
}

#if defined(__ELF__)
// The linker's bounds of the section that holds every kernel's static `__shared__` variables (DeviceLanguage.h).
extern "C" char __start_cuemu_static_shared[] __attribute__((weak));
extern "C" char __stop_cuemu_static_shared[] __attribute__((weak));
#endif

/// Fills a block's static and dynamic shared memory with 0xFF (NaN as fp32) before it runs: shared memory starts
/// uninitialised on a GPU, often holding what an earlier block left, so a read before a write must not find a
/// plausible value here either.
void poisonSharedMemory(void* dynamicShared, size_t dynamicBytes) {
    if (dynamicBytes) std::memset(dynamicShared, 0xFF, dynamicBytes);
#if defined(__ELF__)
    if (__start_cuemu_static_shared)
        std::memset(__start_cuemu_static_shared, 0xFF, size_t(__stop_cuemu_static_shared - __start_cuemu_static_shared));
#endif
}

template <typename... Arguments, size_t... Index>
bool launchTyped(void (*kernel)(Arguments...), const LaunchShape& shape, void** parameters, std::string& error,
                 std::index_sequence<Index...>) {
    std::tuple<std::decay_t<Arguments>...> values{*static_cast<std::decay_t<Arguments>*>(parameters[Index])...};
    bool valid = true;
    auto checkPointer = [&](size_t index, auto value) {
        if constexpr (std::is_pointer_v<decltype(value)>) {
            const uint64_t address = reinterpret_cast<uintptr_t>(value);
            if (address != 0 && !is_device_range(address, 0)) {
                error = "argument " + std::to_string(index) + " is not a device address";
                valid = false;
            }
        }
    };
    (checkPointer(Index, std::get<Index>(values)), ...);
    if (!valid) return false;

    void* dynamicShared = dynamicSharedMemory(shape.sharedBytes);
    if (!dynamicShared) {
        error = "no memory for " + std::to_string(shape.sharedBytes) + " bytes of dynamic shared memory";
        return false;
    }
    const std::function<void()> body = [&] { std::apply(kernel, values); };
    for (unsigned z = 0; z < shape.grid.z; z++)
        for (unsigned y = 0; y < shape.grid.y; y++)
            for (unsigned x = 0; x < shape.grid.x; x++) {
                poisonSharedMemory(dynamicShared, shape.sharedBytes);
                if (!run_block(body, shape.grid, shape.block, {x, y, z}, dynamicShared, shape.sharedBytes, shape.order, error)) {
                    error = "block (" + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(z) + "): " + error;
                    return false;
                }
            }
    return true;
}

template <typename... Arguments>
bool launchKernel(void (*kernel)(Arguments...), const LaunchShape& shape, void** parameters, std::string& error) {
    return launchTyped(kernel, shape, parameters, error, std::index_sequence_for<Arguments...>{});
}

struct KernelEntry {
    const char* name;
    KernelLauncher launcher;
};

#define KERNEL(name) \
    KernelEntry { #name, [](const LaunchShape& s, void** p, std::string& e) { return launchKernel(name, s, p, e); } }

const KernelEntry kernels[] = {
    KERNEL(adamw_update),
    KERNEL(attention_forward), KERNEL(attention_backward_preprocess), KERNEL(attention_backward_dkv),
    KERNEL(attention_backward_dq), KERNEL(attention_forward_row),
    KERNEL(attention_forward_tc_hs16), KERNEL(attention_backward_dkv_tc_hs16), KERNEL(attention_backward_dq_tc_hs16),
    KERNEL(attention_forward_tc_hs32), KERNEL(attention_backward_dkv_tc_hs32), KERNEL(attention_backward_dq_tc_hs32),
    KERNEL(attention_forward_tc_hs64), KERNEL(attention_backward_dkv_tc_hs64), KERNEL(attention_backward_dq_tc_hs64),
    KERNEL(attention_forward_tc_hs128), KERNEL(attention_backward_dkv_tc_hs128), KERNEL(attention_backward_dq_tc_hs128),
    KERNEL(classifier_forward_backward),
    KERNEL(residual_forward), KERNEL(cast_float_to_bf16), KERNEL(cast_bf16_to_float), KERNEL(bias_forward),
    KERNEL(bias_backward_partial), KERNEL(partials_accumulate),
    KERNEL(encoder_forward), KERNEL(encoder_backward_wpe), KERNEL(encoder_backward_wte),
    KERNEL(gelu_forward), KERNEL(gelu_backward),
    KERNEL(layernorm_forward), KERNEL(residual_layernorm_forward), KERNEL(layernorm_backward),
    KERNEL(norm_squared_partial), KERNEL(norm_squared_final),
    // The emulator's own checks (checks/emulator_checks.cu), launched only by its tests.
    KERNEL(check_shuffle_after_exit), KERNEL(check_shuffle_in_divergent_code), KERNEL(check_race),
    KERNEL(check_out_of_bounds), KERNEL(check_async_copy), KERNEL(check_shared_memory_starts_unset),
};

}  // namespace

KernelLauncher find_kernel(const char* name) {
    for (const KernelEntry& entry : kernels)
        if (std::strcmp(entry.name, name) == 0) return entry.launcher;
    return nullptr;
}

}  // namespace cuemu
