// The emulator's mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, the one tensor-core instruction the
// kernels use (attention_tiles.cuh declares it, with the fragment layout, as mma_m16n8k16). It is
// warp-collective as on the GPU: every lane publishes its A and B registers in its warp's scratch, the warp
// meets at a barrier, and each lane computes its own four outputs from the whole A (16×16) and B (16×8)
// assembled out of the PTX ISA's layout. So a kernel that puts a value in the wrong register or lane gets
// wrong results here as on the GPU. Products of bf16 are exact in fp32; the sum runs in k order.
//
// The layout is the PTX ISA's, section "Matrix Fragments for mma.m16n8k16 with floating point type" (.bf16 A
// and B, .f32 C/D). With g = %laneid >> 2 and t = %laneid % 4, element i of the A or B fragment lies in
// register i / 2, in its high half when i is odd (elements are listed low to high); C/D's element i is d[i]:
//   A (a0..a7): row g for i < 2 or 4 <= i < 6, else g + 8; column 2t + (i & 1), plus 8 for i >= 4
//   B (b0..b3): row 2t + (i & 1), plus 8 for i >= 2; column g
//   C/D (c0..c3): row g for i < 2, else g + 8; column 2t + (i & 1)
// matrixA and matrixB below invert the A and B formulas; the loop over i applies the C/D one.
#pragma once

#include <cstdint>
#include <cstring>

#include "DeviceRuntime.h"

#define MMA_M16N8K16_EMULATED

inline void mma_m16n8k16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    constexpr unsigned wordsPerLane = 6;   // a[0..3], b[0..1]
    ::cuemu::warp_barrier(0xffffffffu);    // the warp's previous use of the scratch is over
    auto* slots = reinterpret_cast<uint32_t*>(::cuemu::warp_scratch());
    const unsigned lane = ::cuemu::lane_id();
    for (unsigned i = 0; i < 4; i++) slots[lane * wordsPerLane + i] = a[i];
    for (unsigned i = 0; i < 2; i++) slots[lane * wordsPerLane + 4 + i] = b[i];
    ::cuemu::warp_barrier(0xffffffffu);

    // Element (row, column) of A and (row, column) of B, from the lane and register the layout puts it in.
    auto element = [&](unsigned owner, unsigned word, unsigned high) {
        const uint32_t bits = (slots[owner * wordsPerLane + word] >> (16 * high)) << 16;
        float value;
        std::memcpy(&value, &bits, 4);
        return value;
    };
    auto matrixA = [&](unsigned row, unsigned column) {
        return element((row % 8) * 4 + (column % 8) / 2, (row / 8) + 2 * (column / 8), column % 2);
    };
    auto matrixB = [&](unsigned row, unsigned column) {
        return element(column * 4 + (row % 8) / 2, 4 + row / 8, row % 2);
    };
    const unsigned g = lane / 4, t = lane % 4;
    for (unsigned i = 0; i < 4; i++) {
        const unsigned row = g + 8 * (i / 2), column = 2 * t + i % 2;
        float sum = 0.0f;
        for (unsigned k = 0; k < 16; k++) sum += matrixA(row, k) * matrixB(k, column);
        d[i] += sum;
    }
}
