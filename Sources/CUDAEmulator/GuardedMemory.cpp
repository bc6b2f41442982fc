// Each block is one mapping: [guard page][unused start of the first page][block][guard page], the guard
// pages made inaccessible with mprotect. Blocks are recorded by start address under a lock (tests use
// backends from several threads).

#include "GuardedMemory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <iterator>
#include <map>
#include <mutex>

namespace cuemu {
namespace {

struct Block {
    size_t bytes;      // as asked
    uintptr_t base;    // the mapping: base … base + length, guard pages included
    size_t length;
    GuardedUse use;
};

std::mutex lock;
std::map<uintptr_t, Block> blocks;   // by start address

size_t pageBytes() {
    static const size_t page = size_t(sysconf(_SC_PAGESIZE));
    return page;
}

size_t roundUp(size_t value, size_t multiple) { return (value + multiple - 1) / multiple * multiple; }

const char* name(GuardedUse use) {
    switch (use) {
    case GuardedUse::deviceAllocation: return "device allocation";
    case GuardedUse::dynamicSharedMemory: return "block of dynamic shared memory";
    case GuardedUse::threadStack: return "emulated thread's stack";
    }
    return "?";
}

}  // namespace

void* guarded_allocate(size_t bytes, size_t alignment, GuardedUse use) {
    const size_t page = pageBytes();
    if (alignment == 0 || alignment > page || (alignment & (alignment - 1)) != 0) return nullptr;
    const size_t rounded = roundUp(bytes, alignment);
    const size_t length = page + roundUp(rounded, page) + page;
    void* mapping = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapping == MAP_FAILED) return nullptr;
    const auto base = reinterpret_cast<uintptr_t>(mapping);
    const uintptr_t trailingGuard = base + length - page;
    if (mprotect(mapping, page, PROT_NONE) != 0 || mprotect(reinterpret_cast<void*>(trailingGuard), page, PROT_NONE) != 0) {
        munmap(mapping, length);
        return nullptr;
    }
    const uintptr_t start = trailingGuard - rounded;
    std::memset(reinterpret_cast<void*>(base + page), 0xFF, length - 2 * page);
    std::lock_guard<std::mutex> guard(lock);
    blocks[start] = {bytes, base, length, use};
    return reinterpret_cast<void*>(start);
}

bool guarded_free(void* start) {
    Block block;
    {
        std::lock_guard<std::mutex> guard(lock);
        const auto found = blocks.find(reinterpret_cast<uintptr_t>(start));
        if (found == blocks.end()) return false;
        block = found->second;
        blocks.erase(found);
    }
    munmap(reinterpret_cast<void*>(block.base), block.length);
    return true;
}

std::string describe_guarded_address(uintptr_t address) {
    std::lock_guard<std::mutex> guard(lock);
    // Mappings do not overlap, so the one holding `address` is that of the block starting next after it
    // (the address in its leading guard or unused first page) or of the block starting at or before it.
    const auto next = blocks.upper_bound(address);
    for (const auto candidate : {next, next == blocks.begin() ? blocks.end() : std::prev(next)}) {
        if (candidate == blocks.end()) continue;
        const auto& [start, block] = *candidate;
        if (address < block.base || address >= block.base + block.length) continue;
        const std::string what = "a " + std::to_string(block.bytes) + "-byte " + name(block.use);
        if (address < start) return std::to_string(start - address) + " bytes before the start of " + what;
        if (address >= start + block.bytes)
            return std::to_string(address - start - block.bytes) + " bytes past the end of " + what;
        return "at byte " + std::to_string(address - start) + " inside " + what;
    }
    return "not next to any device allocation, shared memory or thread stack";
}

}  // namespace cuemu
