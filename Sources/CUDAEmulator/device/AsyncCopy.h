// The emulator's cp.async, which async_copy.cuh declares (with the PTX) as cp_async_16, cp_async_4,
// cp_async_commit and cp_async_wait<N>: copies are queued per thread and performed at the wait that covers
// them, the latest moment the GPU may complete them; in the reverse thread order (BlockScheduler.cpp) each is
// performed when it is issued instead, the earliest (AsyncCopyQueue.h).
#pragma once

#include "DeviceRuntime.h"

#define CP_ASYNC_EMULATED

inline void cp_async_16(void* destination, const void* source, unsigned source_bytes) {
    ::cuemu::async_copy(destination, source, 16, source_bytes);
}
inline void cp_async_4(void* destination, const void* source, unsigned source_bytes) {
    ::cuemu::async_copy(destination, source, 4, source_bytes);
}
inline void cp_async_commit() { ::cuemu::async_commit(); }
template <int PendingGroups>
inline void cp_async_wait() { ::cuemu::async_wait(PendingGroups); }
