// SIGSEGV and SIGBUS handlers that, while a launch on this thread is inside run_catching_faults, record the
// fault and jump back out of the kernel (siglongjmp); any other fault goes to the handler that was there
// before. The handlers run on an alternate stack, so a fiber whose stack overflowed can still be reported.

#include "FaultTrap.h"

#include <setjmp.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <mutex>

#include "GuardedMemory.h"
#include "device/DeviceRuntime.h"

namespace cuemu {
namespace {

thread_local sigjmp_buf* activeTrap = nullptr;
thread_local uintptr_t faultAddress = 0;
thread_local bool faultInThread = false;
thread_local ThreadContext faultThread;

struct sigaction previousSegv, previousBus;

void onFault(int signal, siginfo_t* info, void*) {
    if (!activeTrap) {   // not a kernel's fault: restore the old handler; the instruction faults again
        sigaction(signal, signal == SIGSEGV ? &previousSegv : &previousBus, nullptr);
        return;
    }
    faultAddress = reinterpret_cast<uintptr_t>(info->si_addr);
    faultInThread = current_thread != nullptr;
    if (faultInThread) faultThread = *current_thread;
    siglongjmp(*activeTrap, 1);
}

void installHandlers() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action = {};
        action.sa_sigaction = onFault;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&action.sa_mask);
        sigaction(SIGSEGV, &action, &previousSegv);
        sigaction(SIGBUS, &action, &previousBus);
    });
    thread_local std::unique_ptr<char[]> alternateStack;
    if (!alternateStack) {
        constexpr size_t bytes = 64 * 1024;
        alternateStack.reset(new char[bytes]);
        stack_t stack = {};
        stack.ss_sp = alternateStack.get();
        stack.ss_size = bytes;
        sigaltstack(&stack, nullptr);
    }
}

std::string describeFault() {
    char where[160] = "";
    if (faultInThread)
        snprintf(where, sizeof where, "block (%u,%u,%u) thread (%u,%u,%u) ", faultThread.blockIdx.x, faultThread.blockIdx.y,
                 faultThread.blockIdx.z, faultThread.threadIdx.x, faultThread.threadIdx.y, faultThread.threadIdx.z);
    char address[40];
    snprintf(address, sizeof address, "0x%llx", static_cast<unsigned long long>(faultAddress));
    return std::string("illegal memory access: ") + where + "touched " + address + ", " + describe_guarded_address(faultAddress);
}

}  // namespace

bool run_catching_faults(const std::function<bool(std::string&)>& launch, std::string& error, bool& faulted) {
    installHandlers();
    sigjmp_buf trap;
    faulted = false;
    if (sigsetjmp(trap, 1) != 0) {
        activeTrap = nullptr;
        faulted = true;
        error = describeFault();
        return false;
    }
    activeTrap = &trap;
    const bool completed = launch(error);
    activeTrap = nullptr;
    return completed;
}

}  // namespace cuemu
