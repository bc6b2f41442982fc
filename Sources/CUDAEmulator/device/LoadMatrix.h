// The emulator's ldmatrix.sync.aligned.m8n8.x4{.trans}.shared.b16, which attention_tiles.cuh declares as
// ldmatrix_x4 and ldmatrix_x4_trans (with the layout). Warp-collective as on the GPU: every lane publishes
// the row address it gives, the warp meets at a barrier, and each lane collects its own elements from the
// rows the other lanes named. So a kernel that gives a wrong row address, or expects an element in another
// register or lane, gets wrong results here as on the GPU. Each row must be 16 bytes of the launch's
// dynamic shared memory, 16-byte aligned (the kernels keep their tiles there).
//
// The semantics are the PTX ISA's, section "Warp-level matrix load instruction: ldmatrix" (.m8n8, .b16): with
// .x4, threads 8j..8j+7 give the addresses of rows 0..7 of matrix j (addr0-addr7 the first matrix, addr8-addr15
// the second, and so on), and destination register j holds matrix j's fragment, in which lane l holds row l / 4,
// columns 2(l % 4) and 2(l % 4) + 1, the first in the low half (the figure "ldmatrix fragment layout for one 8x8
// Matrix with 16-bit elements"). .trans loads each matrix column-major, so lane l then holds rows 2(l % 4) and
// 2(l % 4) + 1, column l / 4, of the matrix as stored.
#pragma once

#include <cstdint>
#include <cstring>

#include "DeviceRuntime.h"

#define LDMATRIX_EMULATED

namespace cuemu {

inline void load_matrices(unsigned (&r)[4], const void* row, bool transposed) {
    require_dynamic_shared(row, 16);
    const auto address = reinterpret_cast<uintptr_t>(row);
    warp_barrier(0xffffffffu);   // the warp's previous use of the scratch is over
    auto* slots = reinterpret_cast<unsigned char*>(warp_scratch());
    const unsigned lane = lane_id();
    std::memcpy(slots + lane * sizeof(uintptr_t), &address, sizeof(uintptr_t));
    warp_barrier(0xffffffffu);

    // Element (row, column) of matrix j: its row's address came from lane 8j + row.
    auto element = [&](unsigned j, unsigned row, unsigned column) {
        uintptr_t start;
        std::memcpy(&start, slots + (8 * j + row) * sizeof(uintptr_t), sizeof(uintptr_t));
        uint16_t value;
        std::memcpy(&value, reinterpret_cast<const unsigned char*>(start) + 2 * column, 2);
        return unsigned(value);
    };
    const unsigned g = lane / 4, t = lane % 4;
    for (unsigned j = 0; j < 4; j++) {
        r[j] = transposed ? element(j, 2 * t, g) | element(j, 2 * t + 1, g) << 16
                          : element(j, g, 2 * t) | element(j, g, 2 * t + 1) << 16;
    }
}

}  // namespace cuemu

inline void ldmatrix_x4(unsigned (&r)[4], const void* row) { ::cuemu::load_matrices(r, row, false); }
inline void ldmatrix_x4_trans(unsigned (&r)[4], const void* row) { ::cuemu::load_matrices(r, row, true); }
