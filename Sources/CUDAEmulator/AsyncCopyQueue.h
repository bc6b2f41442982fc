// One emulated thread's cp.async copies (global → shared) between issue and wait. A copy lands either as late
// as the GPU may, when the thread waits for its group (cp.async.wait_group), or as early, when it is issued
// (the block's schedule chooses: ThreadOrder). Late, a kernel that reads a staged tile before waiting for it,
// or before the barrier after the other threads' waits, reads the old contents (stale data, or the 0xFF of
// fresh shared memory); early, one that refills a buffer other threads still read corrupts it. Either way
// the results go wrong here instead of passing by luck.
#pragma once

#include <cstddef>
#include <vector>

namespace cuemu {

class AsyncCopyQueue {
public:
    /// Queues `sourceBytes` from `source` to `destination`, zero-filling it up to `bytes` (cp.async src-size);
    /// with `landNow` the copy is made at once (and still counts towards its group).
    void issue(void* destination, const void* source, unsigned bytes, unsigned sourceBytes, bool landNow);
    /// Closes the copies issued since the last commit into one group (cp.async.commit_group).
    void commit();
    /// Performs every committed group but the newest `pendingGroups` (cp.async.wait_group N).
    void wait(unsigned pendingGroups);
    /// Copies issued and not yet performed.
    size_t outstanding() const { return copies.size(); }
    /// Forgets everything (a new block).
    void reset();

private:
    struct Copy {
        void* destination;
        const void* source;
        unsigned bytes, sourceBytes;
        unsigned group;   // `uncommitted` until a commit
        bool landed;
    };
    static void land(const Copy& copy);
    static constexpr unsigned uncommitted = ~0u;
    std::vector<Copy> copies;
    unsigned committedGroups = 0;
};

}  // namespace cuemu
