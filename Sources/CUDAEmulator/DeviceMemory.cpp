// Device allocations by start address, under a lock (tests may use several backends from several
// threads); the memory itself comes from GuardedMemory.

#include "DeviceMemory.h"

#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>

#include "GuardedMemory.h"

namespace cuemu {
namespace {
/// The setting `name` in bytes: `unset` when absent or empty, else its whole number of MiB if at least `least`
/// and below 2^30, else `invalid`.
size_t mebibytes_setting(const char* name, size_t unset, unsigned long long least, size_t invalid) {
    const char* setting = std::getenv(name);
    if (!setting || !*setting) return unset;
    char* end = nullptr;
    const unsigned long long mebibytes = std::strtoull(setting, &end, 10);
    return *end == '\0' && mebibytes >= least && mebibytes < (1ull << 30) ? size_t(mebibytes) << 20 : invalid;
}
}  // namespace

const size_t deviceMemoryBytes = mebibytes_setting("GPT2_CUDA_EMULATOR_MEMORY_MIB", size_t(16) << 30, 1, 0);
const size_t otherProcessBytes = [] {
    const size_t bytes = mebibytes_setting("GPT2_CUDA_EMULATOR_MEMORY_IN_USE_MIB", 0, 0, SIZE_MAX);
    return bytes < deviceMemoryBytes ? bytes : SIZE_MAX;
}();

namespace {
std::mutex lock;
std::map<uint64_t, size_t> allocations;   // start address → bytes
size_t allocatedBytes = 0;                 // in whole pages
constexpr size_t pageBytes = size_t(2) << 20;

size_t whole_pages(size_t bytes) { return (bytes + pageBytes - 1) / pageBytes * pageBytes; }
}  // namespace

uint64_t allocate_device(size_t bytes) {
    std::lock_guard<std::mutex> guard(lock);
    if (bytes == 0 || otherProcessBytes + allocatedBytes + whole_pages(bytes) > deviceMemoryBytes) return 0;
    void* memory = guarded_allocate(bytes, 256, GuardedUse::deviceAllocation);
    if (!memory) return 0;
    const uint64_t address = reinterpret_cast<uintptr_t>(memory);
    allocations[address] = bytes;
    allocatedBytes += whole_pages(bytes);
    return address;
}

bool free_device(uint64_t address) {
    std::lock_guard<std::mutex> guard(lock);
    const auto found = allocations.find(address);
    if (found == allocations.end()) return false;
    allocatedBytes -= whole_pages(found->second);
    allocations.erase(found);
    guarded_free(reinterpret_cast<void*>(address));
    return true;
}

bool is_device_range(uint64_t address, size_t bytes) {
    std::lock_guard<std::mutex> guard(lock);
    auto after = allocations.upper_bound(address);
    if (after == allocations.begin()) return false;
    const auto& [start, size] = *std::prev(after);
    const uint64_t end = address + bytes;   // bytes 0: a pointer may also sit one past the end
    return end >= address && end <= start + size;
}

size_t allocated_device_bytes() {
    std::lock_guard<std::mutex> guard(lock);
    return otherProcessBytes + allocatedBytes;
}

}  // namespace cuemu
