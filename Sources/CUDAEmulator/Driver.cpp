// The CUDA driver API entry points gpt2 uses (see CCUDA/include/ccuda.h), on the CPU: one emulated
// device, memory from DeviceMemory, modules that accept the real NVRTC cubins and resolve kernel names to
// the host-compiled kernels, and launches that run to completion before they return (the one stream is
// therefore always synchronised). Every argument is checked as strictly as the real driver would.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "Cubin.h"
#include "DeviceMemory.h"
#include "FaultTrap.h"
#include "Kernels.h"
#include "LastError.h"
#include "Versions.h"
#include "ccuda.h"

using namespace cuemu;

namespace {

// cuda.h's CUresult values the emulator returns.
enum : int {
    success = 0,
    invalidValue = 1,
    outOfMemory = 2,
    notInitialized = 3,
    invalidImage = 200,
    invalidContext = 201,
    noBinaryForGPU = 209,
    unsupportedPTXVersion = 222,
    invalidHandle = 400,
    notFound = 500,
    illegalAddress = 700,
    launchOutOfResources = 701,
    launchFailed = 719,
};

constexpr size_t defaultSharedBytes = 48 * 1024;

/// The GPU architecture the emulated device presents: its compute capability (NVRTC compiles the kernels for
/// it, so their cubins give that architecture's register counts) and its opt-in shared memory per block (the
/// CUDA C++ Programming Guide's table of compute capabilities). GPT2_CUDA_EMULATOR_ARCH picks one; sm_90
/// (H100) by default, sm_89 for the RTX 40 series (the reference card, 99 KiB).
struct Architecture {
    const char* name;
    int major, minor;
    size_t optInSharedBytes;
};
constexpr Architecture architectures[] = {
    {"sm_80", 8, 0, 163 * 1024}, {"sm_86", 8, 6, 99 * 1024}, {"sm_89", 8, 9, 99 * 1024}, {"sm_90", 9, 0, 227 * 1024},
};
/// The chosen architecture, or nullptr when GPT2_CUDA_EMULATOR_ARCH names none of them (cuInit fails).
const Architecture* const architecture = [] {
    const char* setting = getenv("GPT2_CUDA_EMULATOR_ARCH");
    for (const Architecture& candidate : architectures)
        if (std::strcmp(setting && *setting ? setting : "sm_90", candidate.name) == 0) return &candidate;
    return static_cast<const Architecture*>(nullptr);
}();

bool initialized = false;
// Whether blocks run their threads last to first and land cp.async copies early (see ThreadOrder):
// GPT2_CUDA_EMULATOR_ORDER=reverse at start, or cuemu_set_thread_order from a test. Results that change with
// it reveal a race.
std::atomic<bool> reverseThreadOrder{[] {
    const char* setting = getenv("GPT2_CUDA_EMULATOR_ORDER");
    return setting && std::strcmp(setting, "reverse") == 0;
}()};
/// Whether GPT2_CUDA_EMULATOR_ORDER is unset, empty or `reverse` (cuInit fails otherwise: a misspelled schedule would
/// run the default one while its user looks for a race under the other).
const bool threadOrderSettingValid = [] {
    const char* setting = getenv("GPT2_CUDA_EMULATOR_ORDER");
    return !setting || !*setting || std::strcmp(setting, "reverse") == 0;
}();
std::mutex launchLock;   // kernels share the scheduler's fibers and their `__shared__` statics

struct Module {
    std::vector<unsigned char> image;
};

struct Function {
    KernelLauncher launcher;
    std::string name;
    KernelResources resources;
    size_t maxDynamicSharedBytes;   // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: 48 KiB − static by default
};

int contextToken, streamToken;   // their addresses are the handles the emulator hands out

/// The default stream (null) or the one cuStreamCreate handed out.
bool isKnownStream(CUstream stream) { return !stream || stream == reinterpret_cast<CUstream>(&streamToken); }

// Page-locked host allocations (cuMemHostAlloc): ordinary memory here, tracked so cuMemFreeHost can check.
std::mutex hostLock;
std::set<void*> hostAllocations;

// Events: work finishes before each call returns, so every event is complete; they only need to be handles.
// Work runs when it is queued, so the time an event is recorded at is when the work before it finished.
struct Event {
    std::optional<std::chrono::steady_clock::time_point> recorded;
};

}  // namespace

extern "C" {

/// Not a CUDA function: lets tests run every block's threads last to first (1) or first to last (0).
void cuemu_set_thread_order(int reverse) { reverseThreadOrder.store(reverse != 0); }

CUresult cuInit(unsigned int flags) {
    if (flags != 0) return fail(invalidValue, "cuInit flags must be 0");
    if (!architecture)
        return fail(invalidValue, std::string("GPT2_CUDA_EMULATOR_ARCH=") + getenv("GPT2_CUDA_EMULATOR_ARCH") +
                                      ": the emulator presents sm_80, sm_86, sm_89 or sm_90");
    if (deviceMemoryBytes == 0)
        return fail(invalidValue, std::string("GPT2_CUDA_EMULATOR_MEMORY_MIB=") + getenv("GPT2_CUDA_EMULATOR_MEMORY_MIB") +
                                      ": the device's memory in MiB must be a positive whole number");
    if (!threadOrderSettingValid)
        return fail(invalidValue, std::string("GPT2_CUDA_EMULATOR_ORDER=") + getenv("GPT2_CUDA_EMULATOR_ORDER") +
                                      ": the emulator's other schedule is reverse (unset: the default, thread 0 first)");
    if (otherProcessBytes == SIZE_MAX)
        return fail(invalidValue, std::string("GPT2_CUDA_EMULATOR_MEMORY_IN_USE_MIB=") + getenv("GPT2_CUDA_EMULATOR_MEMORY_IN_USE_MIB") +
                                      ": the MiB other processes hold must be a whole number below the device's memory");
    if (driver_version() == 0)
        return fail(invalidValue, std::string("GPT2_CUDA_EMULATOR_DRIVER_VERSION=") + getenv("GPT2_CUDA_EMULATOR_DRIVER_VERSION") +
                                      ": the CUDA version the driver runs is 1000·major + 10·minor, such as 12040 for 12.4");
    if (cublaslt_version() == 0)
        return fail(invalidValue, std::string("GPT2_CUDA_EMULATOR_CUBLASLT_VERSION=") + getenv("GPT2_CUDA_EMULATOR_CUBLASLT_VERSION") +
                                      ": cuBLASLt's version is 10000·major + 100·minor + patch, such as 120402 for 12.4.2");
    initialized = true;
    return success;
}

CUresult cuDriverGetVersion(int* version) {
    if (!version) return invalidValue;
    *version = driver_version();
    return success;
}

CUresult cuGetErrorString(CUresult error, const char** message) {
    if (!message) return invalidValue;
    const char* standard = "unknown error";
    switch (error) {
    case success: standard = "no error"; break;
    case invalidValue: standard = "invalid argument"; break;
    case outOfMemory: standard = "out of memory"; break;
    case notInitialized: standard = "initialization error"; break;
    case invalidImage: standard = "device kernel image is invalid"; break;
    case invalidContext: standard = "invalid device context"; break;
    case noBinaryForGPU: standard = "no kernel image is available for execution on the device"; break;
    case unsupportedPTXVersion: standard = "the provided PTX was compiled with an unsupported toolchain."; break;
    case invalidHandle: standard = "invalid resource handle"; break;
    case notFound: standard = "named symbol not found"; break;
    case illegalAddress: standard = "an illegal memory access was encountered"; break;
    case launchOutOfResources: standard = "too many resources requested for launch"; break;
    case launchFailed: standard = "unspecified launch failure"; break;
    }
    *message = describe_failure(error, standard);
    return success;
}

CUresult cuDeviceGetCount(int* count) {
    if (!initialized) return notInitialized;
    if (!count) return invalidValue;
    *count = 1;
    return success;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
    if (!initialized) return notInitialized;
    if (!device || ordinal != 0) return fail(invalidValue, "the emulator has one device, ordinal 0");
    *device = 0;
    return success;
}

CUresult cuDeviceGetName(char* name, int length, CUdevice device) {
    if (!name || length <= 0 || device != 0) return invalidValue;
    snprintf(name, size_t(length), "gpt2 CUDA emulator (CPU)");
    return success;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice device) {
    if (!bytes || device != 0) return invalidValue;
    *bytes = deviceMemoryBytes;
    return success;
}

CUresult cuDeviceGetAttribute(int* value, CUdevice_attribute attribute, CUdevice device) {
    if (!initialized) return notInitialized;
    if (!value || device != 0) return invalidValue;
    switch (attribute) {
    case CCUDA_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *value = 4; break;
    case CCUDA_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: *value = 4 << 20; break;
    case CCUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *value = architecture->major; break;   // kernels compile for it
    case CCUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *value = architecture->minor; break;
    case CCUDA_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *value = int(architecture->optInSharedBytes); break;
    default: return fail(invalidValue, "device attribute " + std::to_string(attribute) + " is not emulated");
    }
    return success;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext* context, CUdevice device) {
    if (!initialized) return notInitialized;
    if (!context || device != 0) return invalidValue;
    *context = reinterpret_cast<CUcontext>(&contextToken);
    return success;
}

CUresult cuCtxSetCurrent(CUcontext context) {
    if (context && context != reinterpret_cast<CUcontext>(&contextToken)) return invalidContext;
    return success;
}

CUresult cuModuleLoadData(CUmodule* module, const void* image) {
    if (!initialized) return notInitialized;
    if (!module || !image) return invalidValue;
    const auto* bytes = static_cast<const unsigned char*>(image);
    const std::optional<size_t> size = elf_image_size(bytes);
    if (!size) return fail(invalidImage, "the image is not a 64-bit ELF cubin (the emulator loads cubins, not PTX)");
    // As on a GPU, a cubin runs on its own major architecture at an equal or later minor one: sm_80's on sm_86 and
    // sm_89, sm_89's not on sm_80, and no sm_8x cubin on sm_90.
    const int built = cubin_architecture(bytes);
    if (built / 10 != architecture->major || built % 10 > architecture->minor)
        return fail(noBinaryForGPU, "the cubin is built for sm_" + std::to_string(built) + ", which does not run on " + architecture->name);
    // NVIDIA's compatibility rule: a driver runs what the compilers of its own CUDA major version built, or of an older
    // one, never a newer major's. Which error a real driver gives for such a cubin is not documented; this is the one
    // drivers give for PTX from a newer CUDA.
    std::vector<unsigned char> copy(bytes, bytes + *size);
    const int toolkit = cubin_toolkit_version(copy);
    if (toolkit / 10 > driver_version() / 1000)
        return fail(unsupportedPTXVersion, "the cubin was built by CUDA " + std::to_string(toolkit / 10) + "." + std::to_string(toolkit % 10) +
                                               "'s compiler, and this driver runs CUDA up to " + std::to_string(driver_version() / 1000) +
                                               "." + std::to_string(driver_version() % 1000 / 10));
    *module = reinterpret_cast<CUmodule>(new Module{std::move(copy)});
    return success;
}

CUresult cuModuleGetFunction(CUfunction* function, CUmodule module, const char* name) {
    if (!function || !module || !name) return invalidValue;
    const auto* loaded = reinterpret_cast<const Module*>(module);
    const std::optional<KernelResources> resources = kernel_resources(loaded->image, name);
    if (!resources) return fail(notFound, std::string(name) + " is not in this module's image");
    const KernelLauncher launcher = find_kernel(name);
    if (!launcher) return fail(notFound, std::string(name) + " is not among the emulator's host-compiled kernels");
    *function = reinterpret_cast<CUfunction>(new Function{launcher, name, *resources, defaultSharedBytes - std::min<size_t>(resources->staticSharedBytes, defaultSharedBytes)});
    return success;
}

CUresult cuFuncSetAttribute(CUfunction function, CUfunction_attribute attribute, int value) {
    if (!function) return invalidHandle;
    if (attribute != CCUDA_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
        return fail(invalidValue, "function attribute " + std::to_string(attribute) + " is not emulated");
    auto& kernel = *reinterpret_cast<Function*>(function);
    // The driver's rule (cudaFuncSetAttribute's documentation): static + dynamic ≤ the opt-in limit, which already
    // leaves out the 1 KiB per block the system reserves (the backend checks the same, in fitsDynamicSharedMemory).
    if (value < 0 || size_t(value) + kernel.resources.staticSharedBytes > architecture->optInSharedBytes)
        return fail(invalidValue, kernel.name + ": " + std::to_string(kernel.resources.staticSharedBytes) + " static + " +
                                      std::to_string(value) + " dynamic bytes of shared memory exceed " + architecture->name +
                                      "'s opt-in limit of " + std::to_string(architecture->optInSharedBytes));
    kernel.maxDynamicSharedBytes = size_t(value);
    return success;
}

CUresult cuLaunchKernel(CUfunction function, unsigned int gridX, unsigned int gridY, unsigned int gridZ,
                        unsigned int blockX, unsigned int blockY, unsigned int blockZ, unsigned int sharedBytes,
                        CUstream stream, void** parameters, void** extra) {
    if (!function) return invalidHandle;
    const auto& kernel = *reinterpret_cast<const Function*>(function);
    if (extra) return fail(invalidValue, "the `extra` argument form is not emulated");
    if (!isKnownStream(stream)) return invalidHandle;
    if (gridX == 0 || gridY == 0 || gridZ == 0 || gridX >= (1u << 31) || gridY > 65535 || gridZ > 65535)
        return fail(invalidValue, kernel.name + ": grid outside CUDA's limits");
    if (blockX == 0 || blockY == 0 || blockZ == 0 || blockZ > 64 || uint64_t(blockX) * blockY * blockZ > 1024)
        return fail(invalidValue, kernel.name + ": block outside CUDA's limits (at most 1024 threads)");
    // What a GPU checks: dynamic shared memory against the function's limit (48 KiB in all unless
    // cuFuncSetAttribute raised it) and the register file (64 K registers per block on sm_80 to sm_90).
    if (sharedBytes > kernel.maxDynamicSharedBytes)
        return fail(invalidValue, kernel.name + ": " + std::to_string(kernel.resources.staticSharedBytes) + " static + " +
                                      std::to_string(sharedBytes) + " dynamic bytes of shared memory exceed the limit " +
                                      "(cuFuncSetAttribute raises it)");
    const unsigned threads = blockX * blockY * blockZ;
    if (block_registers(kernel.resources.registersPerThread, threads) > 65536)
        return fail(launchOutOfResources, kernel.name + ": " + std::to_string(threads) + " threads × " +
                                              std::to_string(kernel.resources.registersPerThread) + " registers exceed 64 K per block");
    const ThreadOrder order = reverseThreadOrder.load() ? ThreadOrder::reverse : ThreadOrder::forward;
    const LaunchShape shape{{gridX, gridY, gridZ}, {blockX, blockY, blockZ}, sharedBytes, order};
    std::string error;
    bool faulted = false;
    std::lock_guard<std::mutex> guard(launchLock);
    if (!run_catching_faults([&](std::string& error) { return kernel.launcher(shape, parameters, error); }, error, faulted)) {
        fprintf(stderr, "CUDA emulator: %s: %s\n", kernel.name.c_str(), error.c_str());
        return fail(faulted ? illegalAddress : launchFailed, kernel.name + ": " + error);
    }
    return success;
}

CUresult cuMemAlloc_v2(CUdeviceptr* pointer, size_t bytes) {
    if (!pointer || bytes == 0) return invalidValue;
    *pointer = allocate_device(bytes);
    return *pointer ? success : fail(outOfMemory, std::to_string(bytes) + " bytes");
}

CUresult cuMemFree_v2(CUdeviceptr pointer) {
    return free_device(pointer) ? success : fail(invalidValue, "cuMemFree of an address cuMemAlloc did not return");
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr destination, const void* source, size_t bytes) {
    if (!is_device_range(destination, bytes)) return fail(invalidValue, "cuMemcpyHtoD destination outside a device allocation");
    if (bytes) std::memcpy(reinterpret_cast<void*>(destination), source, bytes);
    return success;
}

CUresult cuMemcpyDtoH_v2(void* destination, CUdeviceptr source, size_t bytes) {
    if (!is_device_range(source, bytes)) return fail(invalidValue, "cuMemcpyDtoH source outside a device allocation");
    if (bytes) std::memcpy(destination, reinterpret_cast<const void*>(source), bytes);
    return success;
}

CUresult cuMemsetD8_v2(CUdeviceptr destination, unsigned char value, size_t count) {
    if (!is_device_range(destination, count)) return fail(invalidValue, "cuMemsetD8 outside a device allocation");
    if (count) std::memset(reinterpret_cast<void*>(destination), value, count);
    return success;
}

CUresult cuMemsetD8Async(CUdeviceptr destination, unsigned char value, size_t count, CUstream stream) {
    if (!isKnownStream(stream)) return invalidHandle;
    return cuMemsetD8_v2(destination, value, count);
}

CUresult cuStreamCreate(CUstream* stream, unsigned int flags) {
    if (!stream || flags > 1) return invalidValue;
    *stream = reinterpret_cast<CUstream>(&streamToken);
    return success;
}

CUresult cuStreamSynchronize(CUstream stream) {
    if (!isKnownStream(stream)) return invalidHandle;
    return success;   // every operation finished before its call returned
}

CUresult cuMemHostAlloc(void** pointer, size_t bytes, unsigned int flags) {
    if (!pointer || bytes == 0 || flags > 0xF) return invalidValue;
    *pointer = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
    if (!*pointer) return fail(outOfMemory, std::to_string(bytes) + " bytes of page-locked host memory");
    std::lock_guard<std::mutex> guard(hostLock);
    hostAllocations.insert(*pointer);
    return success;
}

CUresult cuMemFreeHost(void* pointer) {
    std::lock_guard<std::mutex> guard(hostLock);
    if (hostAllocations.erase(pointer) == 0) return fail(invalidValue, "cuMemFreeHost of memory cuMemHostAlloc did not return");
    std::free(pointer);
    return success;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr destination, const void* source, size_t bytes, CUstream stream) {
    if (!isKnownStream(stream)) return invalidHandle;
    return cuMemcpyHtoD_v2(destination, source, bytes);
}

CUresult cuEventCreate(CUevent* event, unsigned int flags) {
    if (!event || flags > 0xF) return invalidValue;
    *event = reinterpret_cast<CUevent>(new Event);
    return success;
}

CUresult cuEventRecord(CUevent event, CUstream stream) {
    if (!event) return invalidHandle;
    if (!isKnownStream(stream)) return invalidHandle;
    reinterpret_cast<Event*>(event)->recorded = std::chrono::steady_clock::now();
    return success;
}

CUresult cuEventElapsedTime(float* milliseconds, CUevent start, CUevent end) {
    if (!milliseconds) return invalidValue;
    if (!start || !end) return invalidHandle;
    const auto& from = reinterpret_cast<Event*>(start)->recorded;
    const auto& to = reinterpret_cast<Event*>(end)->recorded;
    if (!from || !to) return invalidHandle;   // the driver's CUDA_ERROR_INVALID_HANDLE for an unrecorded event
    *milliseconds = std::chrono::duration<float, std::milli>(*to - *from).count();
    return success;
}

CUresult cuEventSynchronize(CUevent event) {
    return event ? success : invalidHandle;   // recorded work is already done; an unrecorded event is complete
}

CUresult cuEventDestroy_v2(CUevent event) {
    if (!event) return invalidHandle;
    delete reinterpret_cast<Event*>(event);
    return success;
}

CUresult cuMemGetInfo_v2(size_t* freeBytes, size_t* totalBytes) {
    if (!freeBytes || !totalBytes) return invalidValue;
    *totalBytes = deviceMemoryBytes;
    *freeBytes = deviceMemoryBytes - allocated_device_bytes();
    return success;
}

}  // extern "C"
