/// The tile primitives of the tensor-core attention (attention_tensor_cores.cu): one warp's mma.sync and
/// ldmatrix, tiles staged into shared memory by cp.async, the two products a warp computes on staged tiles
/// (Q·Kᵀ-style scores and P·V-style sums), a block's coordinates, and the causal mask. bf16 mma.sync needs
/// sm_80: include this only where __CUDA_ARCH__ >= 800 (or in the CUDA emulator, which brings its own mma).
#pragma once

#include "common.cuh"
#include "async_copy.cuh"

#define TC_WARPS 4
#define TC_ROWS 16            // rows per warp: the M of one mma tile
#define TC_BLOCK_ROWS 64      // TC_WARPS × TC_ROWS
#define TC_FWD_KEYS 64        // keys per tile in the forward
#define TC_BWD_TILE 32        // queries per tile in dkv, keys per tile in dq
#define TC_LD(n) ((n) + 8)    // row stride, in elements, of a bf16 tile whose rows hold n elements

// d (16×8 fp32) += a (16×16 bf16) · b (16×8 bf16) for one warp, operands in the PTX ISA's m16n8k16 fragment
// layout (g = lane / 4, t = lane % 4; each register holds two bf16, the lower column or row in its low half):
//   a[0] = A[g][2t, 2t+1]   a[1] = A[g+8][2t, 2t+1]   a[2] = A[g][2t+8, 2t+9]   a[3] = A[g+8][2t+8, 2t+9]
//   b[0] = B[2t, 2t+1][g]   b[1] = B[2t+8, 2t+9][g]
//   d[0], d[1] = D[g][2t, 2t+1]                       d[2], d[3] = D[g+8][2t, 2t+1]
// All 32 lanes call it together. The CUDA emulator brings its own definition.
#ifndef MMA_M16N8K16_EMULATED
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Four 8×8 bf16 matrices from shared memory into a warp's registers (ldmatrix .x4): lane l gives the address
// of row l % 8 of matrix l / 8 (16 contiguous bytes, 16-byte aligned) and receives in r[j] two elements of
// matrix j, the lower column or row in the low half:
//   ldmatrix_x4:        row l / 4, columns 2(l % 4) and 2(l % 4) + 1
//   ldmatrix_x4_trans:  rows 2(l % 4) and 2(l % 4) + 1, column l / 4 (the matrix transposed)
// All 32 lanes call it together.
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const bf16* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"((unsigned)__cvta_generic_to_shared(row))
                 : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const bf16* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"((unsigned)__cvta_generic_to_shared(row))
                 : "memory");
}
#endif

// Two floats rounded to bf16 in one register, `low` in the low half.
__device__ __forceinline__ unsigned tc_pack(float low, float high) {
    return (unsigned)__bfloat16_as_ushort(to_bf16(low)) | ((unsigned)__bfloat16_as_ushort(to_bf16(high)) << 16);
}

// Starts copying rows [t0, t0 + ROWS) of a (T × HS) bf16 matrix whose row t starts at src + t·stride into dst
// (ROWS × HS, row-major at stride TC_LD(HS)); rows past T arrive as zeros (their copies read nothing, from
// the clamped row T−1). 16 bytes per cp.async (HS is a multiple of 16 and every row start is 16-byte
// aligned: C is a multiple of 16). The block's 128 threads each keep one 16-byte column of the rows and
// step down them, every count known at compile time: a few instructions per copy, no division.
// Called by every thread of the block; complete after the cp_async_wait that covers the group and a
// __syncthreads.
template <int HS, int ROWS>
__device__ __forceinline__ void tc_stage(bf16* dst, const bf16* src, int stride, int t0, int T) {
    constexpr int chunks = HS / 8;                                  // 16-byte pieces of a row
    constexpr int rows_per_pass = TC_WARPS * WARP_SIZE / chunks;    // 8 (HS 128) to 64 (HS 16)
    const int first_row = threadIdx.x / chunks, d = (threadIdx.x % chunks) * 8;
#pragma unroll
    for (int pass = 0; pass < (ROWS + rows_per_pass - 1) / rows_per_pass; pass++) {
        const int r = first_row + pass * rows_per_pass, t = t0 + r;
        if (ROWS % rows_per_pass == 0 || r < ROWS)
            cp_async_16(dst + r * TC_LD(HS) + d, src + min(t, T - 1) * stride + d, t < T ? 16 : 0);
    }
}

// Starts copying the fp32 statistics of rows [t0, t0 + TC_BWD_TILE) (zeros past T) into dst, as tc_stage.
__device__ __forceinline__ void tc_stage_statistics(float* dst, const float* src, int t0, int T) {
    if (threadIdx.x < TC_BWD_TILE) {
        const int t = t0 + threadIdx.x;
        cp_async_4(dst + threadIdx.x, src + min(t, T - 1), t < T ? 4 : 0);
    }
}

// Where this lane points ldmatrix_x4 within a 16 × 16 block of a tile: row l % 8 of one of the block's four
// 8×8 quarters, taken in the order (rows 0-7, columns 0-7), (rows 8-15, columns 0-7), (rows 0-7, columns
// 8-15), (rows 8-15, columns 8-15) — or, with `columns_first`, (0-7, 0-7), (0-7, 8-15), (8-15, 0-7), (8-15, 8-15).
__device__ __forceinline__ int tc_quarter_row(bool columns_first) {
    const int lane = threadIdx.x % WARP_SIZE;
    return lane % 8 + 8 * (columns_first ? lane / 16 : (lane / 8) % 2);
}
__device__ __forceinline__ int tc_quarter_column(bool columns_first) {
    const int lane = threadIdx.x % WARP_SIZE;
    return 8 * (columns_first ? (lane / 8) % 2 : lane / 16);
}

// s (16 × 8N fp32, N accumulator tiles) = A · Mᵀ for the 16 rows of `a_rows` and the 8N rows of `m_rows`,
// both row-major (· × HS) bf16 at stride TC_LD(HS). One warp.
//   The A fragment of columns [k, k+16) is the block's quarters in the first order (a[0..3]).
//   B = Mᵀ: b[0] and b[1] of accumulator tile n (output columns [8n, 8n+8)) are rows 8n..8n+7 of M at columns
//   k.. and k+8..; one ldmatrix (quarters columns first) reads them for the tiles n and n+1.
template <int HS, int N>
__device__ __forceinline__ void tc_scores(float (&s)[N][4], const bf16* a_rows, const bf16* m_rows) {
    const int a_row = tc_quarter_row(false), a_column = tc_quarter_column(false);
    const int m_row = tc_quarter_row(true), m_column = tc_quarter_column(true);
    for (int n = 0; n < N; n++)
        for (int e = 0; e < 4; e++) s[n][e] = 0.0f;
    for (int k = 0; k < HS; k += 16) {
        unsigned a[4];
        ldmatrix_x4(a, a_rows + a_row * TC_LD(HS) + k + a_column);
        for (int n = 0; n < N; n += 2) {
            unsigned b[4];
            ldmatrix_x4(b, m_rows + (8 * n + m_row) * TC_LD(HS) + k + m_column);
            const unsigned first[2] = {b[0], b[1]}, second[2] = {b[2], b[3]};
            mma_m16n8k16(s[n], a, first);
            mma_m16n8k16(s[n + 1], a, second);
        }
    }
}

// sum (16 × HS fp32) += P · M for P (16 × 8N, the accumulator tiles of a previous product, rounded to
// bf16 here) and M (8N × HS bf16, row-major at stride TC_LD(HS)). One warp.
//   B = M: b[0] and b[1] of accumulator tile n (output columns [8n, 8n+8)) are rows 16j..16j+7 and
//   16j+8..16j+15 of M at columns 8n..8n+7, transposed; one ldmatrix_x4_trans (quarters in the first order)
//   reads them for the tiles n and n+1.
template <int HS, int N>
__device__ __forceinline__ void tc_accumulate(float (&sum)[HS / 8][4], const float (&p)[N][4], const bf16* m) {
    const int m_row = tc_quarter_row(false), m_column = tc_quarter_column(false);
    for (int j = 0; j < N / 2; j++) {
        // Columns [16j, 16j+16) of P as an A fragment: accumulator tiles 2j and 2j+1 side by side.
        const unsigned a[4] = {tc_pack(p[2 * j][0], p[2 * j][1]), tc_pack(p[2 * j][2], p[2 * j][3]),
                               tc_pack(p[2 * j + 1][0], p[2 * j + 1][1]), tc_pack(p[2 * j + 1][2], p[2 * j + 1][3])};
        for (int n = 0; n < HS / 8; n += 2) {
            unsigned b[4];
            ldmatrix_x4_trans(b, m + (16 * j + m_row) * TC_LD(HS) + 8 * n + m_column);
            const unsigned first[2] = {b[0], b[1]}, second[2] = {b[2], b[3]};
            mma_m16n8k16(sum[n], a, first);
            mma_m16n8k16(sum[n + 1], a, second);
        }
    }
}

// Writes one of this lane's rows of a warp's 16 × HS fp32 accumulator (g, or g+8 when `upper` is 1) times
// `factor` as bf16 into dst (HS contiguous elements), two columns per store.
template <int HS>
__device__ __forceinline__ void tc_store_row(bf16* dst, const float (&sum)[HS / 8][4], int upper, float factor) {
    const int t = threadIdx.x % 4;
    for (int n = 0; n < HS / 8; n++) {
        REQUIRE_ALIGNED(dst + 8 * n + 2 * t, 4);
        *reinterpret_cast<unsigned*>(dst + 8 * n + 2 * t) = tc_pack(sum[n][2 * upper] * factor, sum[n][2 * upper + 1] * factor);
    }
}

// What each kernel derives from its launch coordinates: the sequence and head of its block, the block's
// and the warp's first row (queries, or keys in dkv), this thread's fragment coordinates and rows, and
// where the head's data lie in qkv, dout and the (B,NH,T) statistics.
// With `last_rows_first`, block x takes the rows from the end of the sequence (block 0 the last 64): the
// forward and dq blocks walk every key up to their rows, so the last rows cost the most, and started first,
// those long blocks no longer run on alone after the short ones have finished (the GPU starts blocks
// roughly in order of x). A dkv block walks the queries from its keys on: its first rows cost the most.
struct TcBlock {
    int b, h, first;          // first: the block's first row
    int warp, g, t4;          // g = lane / 4 and t4 = lane % 4, as in the fragment layout
    int warp_first;           // the warp's first row
    int rows[2];              // this lane's rows: g and g + 8 of the warp's 16
    int stride;               // 3C: from one row of qkv to the next (T·3C fits in an int: see tc_launch_shared)
    const bf16* q;            // the head's Q in row 0 of sequence b; its K and V are C and 2C further on
    const bf16* dout;         // the head's columns of dout in row 0 of sequence b (null in the forward)
    size_t stats;             // (b, h)'s row 0 in lse and delta
};

__device__ __forceinline__ TcBlock tc_block(const bf16* qkv, const bf16* dout, int T, int C, int NH, int HS,
                                            bool last_rows_first) {
    TcBlock block;
    block.b = blockIdx.z;
    block.h = blockIdx.y;
    block.first = (last_rows_first ? gridDim.x - 1 - blockIdx.x : blockIdx.x) * TC_BLOCK_ROWS;
    block.warp = threadIdx.x / WARP_SIZE;
    block.g = (threadIdx.x % WARP_SIZE) / 4;
    block.t4 = threadIdx.x % 4;
    block.warp_first = block.first + block.warp * TC_ROWS;
    block.rows[0] = block.warp_first + block.g;
    block.rows[1] = block.rows[0] + 8;
    block.stride = 3 * C;
    block.q = qkv + (size_t)block.b * T * block.stride + (size_t)block.h * HS;
    block.dout = dout ? dout + (size_t)block.b * T * C + (size_t)block.h * HS : nullptr;
    block.stats = ((size_t)block.b * NH + block.h) * T;
    return block;
}

// Two buffers of K and V tiles (KEYS keys × HS each, K first) from `base`: the tile pipeline of the forward
// and dq kernels, which compute on one buffer while the other fills.
template <int HS, int KEYS>
struct TcKeyBuffers {
    bf16* base;
    __device__ bf16* k_rows(int buffer) const { return base + buffer * 2 * KEYS * TC_LD(HS); }
    __device__ bf16* v_rows(int buffer) const { return k_rows(buffer) + KEYS * TC_LD(HS); }
    // Starts copying keys [k0, k0 + KEYS) of the block's head into `buffer` (see tc_stage).
    __device__ void stage(const TcBlock& blk, int k0, int buffer, int T, int C) const {
        tc_stage<HS, KEYS>(k_rows(buffer), blk.q + C, blk.stride, k0, T);
        tc_stage<HS, KEYS>(v_rows(buffer), blk.q + 2 * C, blk.stride, k0, T);
    }
};

// The causal mask of the forward and dq: in a tile whose columns are keys [k0, k0 + 8·N) and whose rows are this
// lane's two rows, every entry of a key after its row becomes `hidden`. Only a tile reaching past the warp's first
// row has such entries: below the diagonal every key is visible to every row (and lies before T), and the compares
// would be wasted issue slots. Rows past T are never stored, and the keys past T they may see arrive as zeros.
template <int N>
__device__ __forceinline__ void tc_mask_later_keys(float (&tile)[N][4], int k0, const TcBlock& blk, float hidden) {
    if (k0 + 8 * N - 1 > blk.warp_first)
        for (int n = 0; n < N; n++)
            for (int e = 0; e < 4; e++)
                if (k0 + 8 * n + 2 * blk.t4 + e % 2 > blk.rows[e / 2]) tile[n][e] = hidden;
}
