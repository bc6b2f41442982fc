#include "AsyncCopyQueue.h"

#include <algorithm>
#include <cstring>

namespace cuemu {

void AsyncCopyQueue::land(const Copy& copy) {
    std::memcpy(copy.destination, copy.source, copy.sourceBytes);
    std::memset(static_cast<char*>(copy.destination) + copy.sourceBytes, 0, copy.bytes - copy.sourceBytes);
}

void AsyncCopyQueue::issue(void* destination, const void* source, unsigned bytes, unsigned sourceBytes, bool landNow) {
    const Copy copy{destination, source, bytes, std::min(sourceBytes, bytes), uncommitted, landNow};
    if (landNow) land(copy);
    copies.push_back(copy);
}

void AsyncCopyQueue::commit() {
    for (Copy& copy : copies)
        if (copy.group == uncommitted) copy.group = committedGroups;
    committedGroups++;
}

void AsyncCopyQueue::wait(unsigned pendingGroups) {
    const unsigned complete = committedGroups > pendingGroups ? committedGroups - pendingGroups : 0;   // groups [0, complete)
    auto done = [&](const Copy& copy) { return copy.group != uncommitted && copy.group < complete; };
    for (const Copy& copy : copies)
        if (done(copy) && !copy.landed) land(copy);
    copies.erase(std::remove_if(copies.begin(), copies.end(), done), copies.end());
}

void AsyncCopyQueue::reset() {
    copies.clear();
    committedGroups = 0;
}

}  // namespace cuemu
