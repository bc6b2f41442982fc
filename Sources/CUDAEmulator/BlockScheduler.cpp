// The fiber scheduler behind BlockScheduler.h. Each fiber runs until it reaches a barrier (block or
// warp) or finishes; when every fiber is waiting, the scheduler releases whichever barrier is complete:
// a warp whose 32 lanes all wait at a warp barrier, or the block when every live thread waits at
// __syncthreads (threads that exited count as arrived, as on the GPU). Nothing releasable is a bug in the
// kernel (a barrier in divergent code), reported instead of hanging.
//
// Between two barriers the threads run one after another: in thread order, all warps advancing one warp
// operation at a time, with cp.async copies landing late; or (ThreadOrder::reverse) last to first, each warp
// as far as it gets before the next, with copies landing early. A kernel whose result depends on the
// schedule has a race, which running it both ways exposes.
//
// Fibers switch with a few instructions on x86-64 (callee-saved registers and the stack pointer); other
// hosts use ucontext, which is correct but slower (a system call per switch).

#include "BlockScheduler.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "AsyncCopyQueue.h"
#include "DeviceMemory.h"
#include "GuardedMemory.h"

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#if defined(__x86_64__)
// Saves the callee-saved registers on the current stack, stores the stack pointer in *save, switches
// to the stack at `load` and restores the registers saved there.
extern "C" void cuemu_switch_stack(void** save, void* load);
asm(R"(
    .pushsection .text
    .p2align 4
    .hidden cuemu_switch_stack
    .globl cuemu_switch_stack
    .type cuemu_switch_stack, @function
cuemu_switch_stack:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cuemu_switch_stack, .-cuemu_switch_stack
    .popsection
)");
#endif

namespace cuemu {

ThreadContext* current_thread = nullptr;

namespace {

enum class FiberState { runnable, atWarpBarrier, atBlockBarrier, finished };

constexpr size_t stackBytes = 16 * 1024;
constexpr unsigned maxThreads = 1024;

struct Fiber {
    ThreadContext context;
    FiberState state = FiberState::finished;
    unsigned linear = 0;   // x + y·Dx + z·Dx·Dy: lane = linear % 32, warp = linear / 32
    unsigned parity = 0;   // which of the two exchange buffers this lane's next shuffle uses
    AsyncCopyQueue asyncCopies;
#if defined(__x86_64__)
    void* stackPointer = nullptr;
#else
    ucontext_t ucontext;
#endif
};

std::vector<Fiber> fibers(maxThreads);
std::vector<char*> stacks;   // per fiber, guarded: an overflow faults (reported by FaultTrap) instead of corrupting
Fiber* running = nullptr;
const std::function<void()>* blockBody = nullptr;
void* blockDynamicShared = nullptr;
unsigned blockDynamicSharedBytes = 0;
ThreadOrder blockOrder = ThreadOrder::forward;
// Shuffle values per warp, double-buffered: a lane can only reuse a buffer after the next shuffle's
// barrier, by which time every lane has read the previous values from it.
uint64_t exchange[maxThreads / 32][2][32];
float warpScratch[maxThreads / 32][256];

#if defined(__x86_64__)
void* schedulerStackPointer = nullptr;

void switchToScheduler() { cuemu_switch_stack(&running->stackPointer, schedulerStackPointer); }
void switchToFiber(Fiber& fiber) { cuemu_switch_stack(&schedulerStackPointer, fiber.stackPointer); }
#else
ucontext_t schedulerContext;
void switchToScheduler() { swapcontext(&running->ucontext, &schedulerContext); }
void switchToFiber(Fiber& fiber) { swapcontext(&schedulerContext, &fiber.ucontext); }
#endif

[[noreturn]] void fiberMain() {
    (*blockBody)();
    running->state = FiberState::finished;
    switchToScheduler();
    std::abort();   // a finished fiber is never resumed
}

void prepare(Fiber& fiber, unsigned index) {
    char* top = stacks[index] + stackBytes;
#if defined(__x86_64__)
    // What cuemu_switch_stack pops: six callee-saved registers, then the address `ret` jumps to; above it
    // a fake return address, so fiberMain starts with the stack aligned as after a call.
    void** slot = reinterpret_cast<void**>(top);
    *--slot = nullptr;
    *--slot = reinterpret_cast<void*>(&fiberMain);
    for (int i = 0; i < 6; i++) *--slot = nullptr;
    fiber.stackPointer = slot;
#else
    getcontext(&fiber.ucontext);
    fiber.ucontext.uc_stack.ss_sp = top - stackBytes;
    fiber.ucontext.uc_stack.ss_size = stackBytes;
    fiber.ucontext.uc_link = nullptr;
    makecontext(&fiber.ucontext, fiberMain, 0);
#endif
}

void wait(FiberState barrier) {
    running->state = barrier;
    switchToScheduler();
}

const char* describe(FiberState state) {
    switch (state) {
    case FiberState::runnable: return "running";
    case FiberState::atWarpBarrier: return "at a warp shuffle/__syncwarp";
    case FiberState::atBlockBarrier: return "at __syncthreads";
    case FiberState::finished: return "exited";
    }
    return "?";
}

std::string location(const Fiber& fiber) {
    char text[96];
    snprintf(text, sizeof text, "thread (%u,%u,%u) [warp %u lane %u]", fiber.context.threadIdx.x,
             fiber.context.threadIdx.y, fiber.context.threadIdx.z, fiber.linear / 32, fiber.linear % 32);
    return text;
}

void requireFullMask(unsigned mask) {
    if (mask == 0xffffffffu) return;
    fprintf(stderr, "CUDA emulator: only full-warp masks (0xffffffff) are emulated, got 0x%08x\n", mask);
    std::abort();
}

}  // namespace

void block_barrier() { wait(FiberState::atBlockBarrier); }

void warp_barrier(unsigned mask) {
    requireFullMask(mask);
    wait(FiberState::atWarpBarrier);
}

uint64_t warp_exchange(uint64_t bits, unsigned source_lane, unsigned mask) {
    requireFullMask(mask);
    Fiber& self = *running;
    uint64_t(&buffer)[32] = exchange[self.linear / 32][self.parity];
    buffer[self.linear % 32] = bits;
    wait(FiberState::atWarpBarrier);
    self.parity ^= 1;
    return buffer[source_lane];
}

void* dynamic_shared_memory() { return blockDynamicShared; }

unsigned dynamic_shared_memory_bytes() { return blockDynamicSharedBytes; }

namespace {
// Stops the process with a printf-style message, naming the running thread's block and thread: a fault the
// GPU would report for that thread.
[[noreturn]] [[gnu::format(printf, 1, 2)]] void stopRunningThread(const char* format, ...) {
    va_list arguments;
    va_start(arguments, format);
    fputs("CUDA emulator: ", stderr);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    const ThreadContext& t = *current_thread;
    fprintf(stderr, " in block (%u,%u,%u) thread (%u,%u,%u)\n", t.blockIdx.x, t.blockIdx.y, t.blockIdx.z, t.threadIdx.x,
            t.threadIdx.y, t.threadIdx.z);
    std::abort();
}
}  // namespace

void misaligned_access(const void* address, unsigned alignment) {
    stopRunningThread("%u-byte access to %p, which is not %u-byte aligned,", alignment, address, alignment);
}

void require_dynamic_shared(const void* address, unsigned bytes) {
    const auto at = reinterpret_cast<uintptr_t>(address), shared = reinterpret_cast<uintptr_t>(blockDynamicShared);
    if (at % bytes != 0) misaligned_access(address, bytes);
    if (at < shared || at + bytes > shared + blockDynamicSharedBytes)
        stopRunningThread("%u-byte shared-memory access to %p, outside the launch's %u bytes of dynamic shared memory,", bytes,
                          address, blockDynamicSharedBytes);
}

void trap() { stopRunningThread("__trap()"); }

float* warp_scratch() { return warpScratch[running->linear / 32]; }

void async_copy(void* destination, const void* source, unsigned bytes, unsigned source_bytes) {
    const auto from = reinterpret_cast<uintptr_t>(source);
    if (bytes != 4 && bytes != 8 && bytes != 16) trap();
    require_dynamic_shared(destination, bytes);
    if (from % bytes != 0) misaligned_access(source, bytes);
    // Even a copy that reads nothing (src-size 0) must name device memory: the kernels clamp such rows.
    if (!is_device_range(from, bytes)) stopRunningThread("cp.async from %p, outside every device allocation,", source);
    running->asyncCopies.issue(destination, source, bytes, source_bytes, blockOrder == ThreadOrder::reverse);
}

void async_commit() { running->asyncCopies.commit(); }

void async_wait(unsigned pending_groups) { running->asyncCopies.wait(pending_groups); }

namespace {

/// Gives the block's `count` threads their indices and fresh stacks (allocated on first use, then kept).
bool prepareFibers(unsigned count, dim3 grid, dim3 block, uint3 block_index, std::string& error) {
    while (stacks.size() < count) {
        void* stack = guarded_allocate(stackBytes, 64, GuardedUse::threadStack);
        if (!stack) {
            error = "no memory for the stacks of " + std::to_string(count) + " emulated threads";
            return false;
        }
        stacks.push_back(static_cast<char*>(stack));
    }
    for (unsigned i = 0; i < count; i++) {
        Fiber& fiber = fibers[i];
        fiber.linear = i;
        fiber.context = {{i % block.x, i / block.x % block.y, i / (block.x * block.y)}, block_index, block, grid};
        fiber.state = FiberState::runnable;
        fiber.parity = 0;
        fiber.asyncCopies.reset();
        prepare(fiber, i);
    }
    return true;
}

/// Runs the runnable threads among [first, last), in the block's order, each until it waits or finishes.
void runRunnable(unsigned first, unsigned last, ThreadOrder order) {
    for (unsigned k = first; k < last; k++) {
        const unsigned i = order == ThreadOrder::reverse ? last - 1 - (k - first) : k;
        if (fibers[i].state != FiberState::runnable) continue;
        running = &fibers[i];
        current_thread = &fibers[i].context;
        switchToFiber(fibers[i]);
    }
}

/// Runs the block's threads until every one waits at a barrier or has finished.
void runUntilAllWait(unsigned count, ThreadOrder order) {
    if (order == ThreadOrder::forward) {
        runRunnable(0, count, order);   // all warps side by side, one warp operation at a time
        return;
    }
    // Each warp as far as it gets on its own before the next, last warp first: the warps drift as far apart as
    // __syncthreads allows, so one that refills a buffer another still reads is caught.
    const unsigned warps = (count + 31) / 32;
    for (unsigned w = warps; w-- > 0;) {
        const unsigned first = w * 32, last = std::min(first + 32, count);
        while (true) {
            runRunnable(first, last, order);
            if (last - first < 32 || !std::all_of(&fibers[first], &fibers[last], [](const Fiber& f) {
                    return f.state == FiberState::atWarpBarrier;
                }))
                break;
            for (unsigned i = first; i < last; i++) fibers[i].state = FiberState::runnable;
        }
    }
}

/// Releases every warp whose 32 lanes all wait at a warp operation, setting `released` when one was. False, with
/// `error`, at a warp operation that waits for lanes which exited or which the (partial) warp does not have.
bool releaseWarpBarriers(unsigned count, bool& released, std::string& error) {
    const unsigned warps = (count + 31) / 32;
    for (unsigned w = 0; w < warps; w++) {
        const unsigned first = w * 32, last = std::min(first + 32, count);
        bool anyAtWarp = false, allAtWarp = last - first == 32;
        for (unsigned i = first; i < last; i++) {
            anyAtWarp |= fibers[i].state == FiberState::atWarpBarrier;
            allAtWarp &= fibers[i].state == FiberState::atWarpBarrier;
        }
        if (allAtWarp) {
            for (unsigned i = first; i < last; i++) fibers[i].state = FiberState::runnable;
            released = true;
            continue;
        }
        if (!anyAtWarp) continue;
        for (unsigned i = first; i < last; i++) {
            if (fibers[i].state == FiberState::finished || last - first < 32) {
                const Fiber& waiting = *std::find_if(&fibers[first], &fibers[last], [](const Fiber& f) {
                    return f.state == FiberState::atWarpBarrier;
                });
                error = location(waiting) + " is at a warp shuffle/__syncwarp, but " +
                        (last - first < 32 ? std::string("its warp has only ") + std::to_string(last - first) + " lanes"
                                           : location(fibers[i]) + " has exited");
                return false;
            }
        }
    }
    return true;
}

/// Once every thread has finished: false, with `error`, when one exited with cp.async copies it never waited for.
bool checkCopiesWaitedFor(unsigned count, std::string& error) {
    for (unsigned i = 0; i < count; i++) {
        if (fibers[i].asyncCopies.outstanding() == 0) continue;
        error = location(fibers[i]) + " exited with " + std::to_string(fibers[i].asyncCopies.outstanding()) +
                " cp.async copies it never waited for";
        return false;
    }
    return true;
}

/// A deadlock's report: two threads that wait at different barriers.
std::string describeDeadlock(unsigned count) {
    unsigned a = 0;
    while (fibers[a].state == FiberState::finished) a++;
    unsigned b = a;
    while (b < count && (fibers[b].state == fibers[a].state || fibers[b].state == FiberState::finished)) b++;
    return "barrier deadlock: " + location(fibers[a]) + " is " + describe(fibers[a].state) +
           (b < count ? ", " + location(fibers[b]) + " is " + describe(fibers[b].state) : std::string());
}

}  // namespace

bool run_block(const std::function<void()>& body, dim3 grid, dim3 block, uint3 block_index,
               void* dynamic_shared, unsigned dynamic_shared_bytes, ThreadOrder order, std::string& error) {
    const unsigned count = block.x * block.y * block.z;
    if (count == 0 || count > maxThreads) {
        error = "block of " + std::to_string(count) + " threads (1 to 1024 allowed)";
        return false;
    }
    if (!prepareFibers(count, grid, block, block_index, error)) return false;
    blockBody = &body;
    blockDynamicShared = dynamic_shared;
    blockDynamicSharedBytes = dynamic_shared_bytes;
    blockOrder = order;
    while (true) {
        runUntilAllWait(count, order);
        // Every fiber now waits or has finished: release what is complete, warps first.
        bool released = false;
        if (!releaseWarpBarriers(count, released, error)) return false;
        if (released) continue;
        bool anyLive = false, allAtBlockBarrier = true;
        for (unsigned i = 0; i < count; i++) {
            if (fibers[i].state == FiberState::finished) continue;
            anyLive = true;
            allAtBlockBarrier &= fibers[i].state == FiberState::atBlockBarrier;
        }
        if (!anyLive) return checkCopiesWaitedFor(count, error);
        if (allAtBlockBarrier) {
            for (unsigned i = 0; i < count; i++)
                if (fibers[i].state == FiberState::atBlockBarrier) fibers[i].state = FiberState::runnable;
            continue;
        }
        error = describeDeadlock(count);
        return false;
    }
}

}  // namespace cuemu
