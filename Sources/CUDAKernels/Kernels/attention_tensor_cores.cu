/// Causal flash attention on tensor cores, organised as FlashAttention-2: bf16 mma.sync (m16n8k16) with fp32
/// accumulation, the scores, probabilities and running outputs kept in registers, for head sizes 16, 32, 64
/// and 128. Same contract as attention.cu (which stays the path for other head sizes and
/// for devices before sm_80): no T×T matrix in global memory; the forward keeps each row's log-sum-exp
/// (B,NH,T) and the backward recomputes the probabilities from it.
///
/// Each block has 4 warps; a warp owns 16 rows (queries in the forward and dq, keys in dkv) and multiplies
/// them with tiles of the other side staged in shared memory by the whole block. Register fragments follow
/// the PTX ISA's m16n8k16 layout (see mma_m16n8k16), in which an accumulator tile of one product is laid
/// out as the A operand of the next needs it: probabilities and dS go from one product into the next
/// without leaving registers, rounded to bf16 on the way (as in FlashAttention-2). Tiles are staged
/// row-major, with rows padded by 8 elements, and fragments are read from them with ldmatrix, four 8×8
/// matrices per instruction (transposing on the way where a product needs the transpose of a tile); the
/// padding keeps every ldmatrix free of shared-memory bank conflicts. Tiles arrive by cp.async into two
/// buffers: the next tile is in flight while the warps compute on the current one.
/// Shared memory is dynamic; attention_tc_*_shared_bytes give each kernel's need, which the host must pass
/// (CUDABackend+Attention mirrors them), and each kernel traps when given less.
#include "common.cuh"
#include "async_copy.cuh"
#include "attention.cuh"

// bf16 mma.sync needs sm_80; for older architectures the file compiles to an empty module (the backend
// then uses attention.cu).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800

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

// Dynamic shared memory is declared as this type so that it is 16-byte aligned for the staging copies.
// Every region below is a multiple of 16 bytes long, so each one starts aligned too.
struct alignas(16) SharedChunk {
    unsigned words[4];
};

// forward: Q (64 rows × HS), then two buffers of K, V (64 keys × HS each)
__device__ __forceinline__ int attention_tc_forward_shared_bytes(int HS) {
    return (TC_BLOCK_ROWS + 2 * 2 * TC_FWD_KEYS) * TC_LD(HS) * 2;
}

// dq: Q, dO (64 rows × HS), then two buffers of K, V (32 keys × HS each)
__device__ __forceinline__ int attention_tc_dq_shared_bytes(int HS) {
    return (2 * TC_BLOCK_ROWS + 2 * 2 * TC_BWD_TILE) * TC_LD(HS) * 2;
}

// dkv: K, V (64 rows × HS), then two buffers of Q, dO (32 queries × HS each); then two buffers of the
// queries' lse and delta (32 fp32 each)
__device__ __forceinline__ int attention_tc_dkv_shared_bytes(int HS) {
    return (2 * TC_BLOCK_ROWS + 2 * 2 * TC_BWD_TILE) * TC_LD(HS) * 2 + 2 * 2 * TC_BWD_TILE * 4;
}

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

// The forward for head size HS: see attention_forward_tc_hsN below.
template <int HS>
__device__ void tc_forward(bf16* out, float* lse, const bf16* qkv, int T, int C, int NH, bf16* shared) {
    const TcBlock blk = tc_block(qkv, nullptr, T, C, NH, HS, true);
    bf16* q_rows = shared;
    const TcKeyBuffers<HS, TC_FWD_KEYS> keys{q_rows + TC_BLOCK_ROWS * TC_LD(HS)};
    tc_stage<HS, TC_BLOCK_ROWS>(q_rows, blk.q, blk.stride, blk.first, T);
    keys.stage(blk, 0, 0, T, C);
    cp_async_commit();

    const float scale = rsqrtf((float)HS);
    const float scale_log2 = scale * LOG2_E;   // exp(x·scale) = 2^(x·scale_log2): one FFMA before each exp2
    float o[HS / 8][4] = {};
    float running_max[2] = {-CUDART_INF_F, -CUDART_INF_F};   // of the unscaled scores
    float running_sum[2] = {0.0f, 0.0f};   // this lane's columns only; the row's four lanes add up at the end

    const int last_query = min(blk.first + TC_BLOCK_ROWS, T) - 1;
    for (int k0 = 0, buffer = 0; k0 <= last_query; k0 += TC_FWD_KEYS, buffer ^= 1) {
        if (k0 + TC_FWD_KEYS <= last_query) keys.stage(blk, k0 + TC_FWD_KEYS, buffer ^ 1, T, C);   // the next tile, in flight
        cp_async_commit();
        cp_async_wait<1>();   // this thread's copies of the current tile (and Q) have landed
        __syncthreads();      // and everyone's
        if (blk.warp_first < T && k0 <= blk.warp_first + TC_ROWS - 1) {   // warp-uniform: some key visible
            float s[TC_FWD_KEYS / 8][4];
            tc_scores<HS>(s, q_rows + blk.warp * TC_ROWS * TC_LD(HS), keys.k_rows(buffer));   // S = Q·Kᵀ
            tc_mask_later_keys(s, k0, blk, -CUDART_INF_F);
            // Online softmax. The first tile holds key 0, visible to every row, so the maxima are finite from then on.
            float tile_max[2] = {-CUDART_INF_F, -CUDART_INF_F};
            for (int n = 0; n < TC_FWD_KEYS / 8; n++)
                for (int e = 0; e < 4; e++) tile_max[e / 2] = fmaxf(tile_max[e / 2], s[n][e]);
            float correction[2], max_log2[2];
            for (int r = 0; r < 2; r++) {
                tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(FULL_MASK, tile_max[r], 1));
                tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(FULL_MASK, tile_max[r], 2));
                const float new_max = fmaxf(running_max[r], tile_max[r]);
                correction[r] = exp2_approx((running_max[r] - new_max) * scale_log2);   // 0 on the first tile
                running_max[r] = new_max;
                running_sum[r] *= correction[r];
                max_log2[r] = new_max * scale_log2;
            }
            for (int n = 0; n < TC_FWD_KEYS / 8; n++)
                for (int e = 0; e < 4; e++) {
                    s[n][e] = exp2_approx(fmaf(s[n][e], scale_log2, -max_log2[e / 2]));   // 0 for masked keys
                    running_sum[e / 2] += s[n][e];
                }
            for (int n = 0; n < HS / 8; n++)
                for (int e = 0; e < 4; e++) o[n][e] *= correction[e / 2];
            tc_accumulate<HS>(o, s, keys.v_rows(buffer));   // O += P·V
        }
        __syncthreads();   // every warp is done with this buffer before the next iteration refills it
    }

    for (int r = 0; r < 2; r++) {
        running_sum[r] += __shfl_xor_sync(FULL_MASK, running_sum[r], 1);
        running_sum[r] += __shfl_xor_sync(FULL_MASK, running_sum[r], 2);
    }
    for (int r = 0; r < 2; r++) {
        if (blk.rows[r] >= T) continue;
        tc_store_row<HS>(out + ((size_t)blk.b * T + blk.rows[r]) * C + (size_t)blk.h * HS, o, r, 1.0f / running_sum[r]);
        if (blk.t4 == 0) lse[blk.stats + blk.rows[r]] = running_max[r] * scale + logf(running_sum[r]);
    }
}

// The dK, dV backward for head size HS: see attention_backward_dkv_tc_hsN below.
template <int HS>
__device__ void tc_backward_dkv(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse, const float* delta,
                                int T, int C, int NH, bf16* shared) {
    const TcBlock blk = tc_block(qkv, dout, T, C, NH, HS, false);   // rows: keys
    bf16* k_rows = shared;
    bf16* v_rows = k_rows + TC_BLOCK_ROWS * TC_LD(HS);
    bf16* query_buffers = v_rows + TC_BLOCK_ROWS * TC_LD(HS);   // buffer i: Q, then dO, of 32 queries each
    float* statistics_buffers = reinterpret_cast<float*>(query_buffers + 2 * 2 * TC_BWD_TILE * TC_LD(HS));   // i: lse, delta
    auto q_rows = [&](int buffer) { return query_buffers + buffer * 2 * TC_BWD_TILE * TC_LD(HS); };
    auto do_rows = [&](int buffer) { return q_rows(buffer) + TC_BWD_TILE * TC_LD(HS); };
    auto lse_tile = [&](int buffer) { return statistics_buffers + buffer * 2 * TC_BWD_TILE; };
    auto delta_tile = [&](int buffer) { return lse_tile(buffer) + TC_BWD_TILE; };
    auto stage_queries = [&](int i0, int buffer) {
        tc_stage<HS, TC_BWD_TILE>(q_rows(buffer), blk.q, blk.stride, i0, T);
        tc_stage<HS, TC_BWD_TILE>(do_rows(buffer), blk.dout, C, i0, T);
        tc_stage_statistics(lse_tile(buffer), lse + blk.stats, i0, T);
        tc_stage_statistics(delta_tile(buffer), delta + blk.stats, i0, T);
    };
    tc_stage<HS, TC_BLOCK_ROWS>(k_rows, blk.q + C, blk.stride, blk.first, T);
    tc_stage<HS, TC_BLOCK_ROWS>(v_rows, blk.q + 2 * C, blk.stride, blk.first, T);
    stage_queries(blk.first, 0);
    cp_async_commit();
    const float scale = rsqrtf((float)HS);
    const float scale_log2 = scale * LOG2_E;   // as in the forward
    float dk[HS / 8][4] = {}, dv[HS / 8][4] = {};

    // Earlier queries see none of this block's keys.
    for (int i0 = blk.first, buffer = 0; i0 < T; i0 += TC_BWD_TILE, buffer ^= 1) {
        if (i0 + TC_BWD_TILE < T) stage_queries(i0 + TC_BWD_TILE, buffer ^ 1);   // the next tile, in flight
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        if (blk.warp_first < T && i0 + TC_BWD_TILE - 1 >= blk.warp_first) {   // warp-uniform: some query sees its keys
            const float* lse_row = lse_tile(buffer);
            const float* delta_row = delta_tile(buffer);
            // Named for what they end as: p_t first holds Sᵀ and ds_t dPᵀ, turned in place into Pᵀ and dSᵀ below.
            float p_t[TC_BWD_TILE / 8][4], ds_t[TC_BWD_TILE / 8][4];
            tc_scores<HS>(p_t, k_rows + blk.warp * TC_ROWS * TC_LD(HS), q_rows(buffer));    // Sᵀ = K·Qᵀ
            tc_scores<HS>(ds_t, v_rows + blk.warp * TC_ROWS * TC_LD(HS), do_rows(buffer));  // dPᵀ = V·dOᵀ
            for (int n = 0; n < TC_BWD_TILE / 8; n++)
                for (int e = 0; e < 4; e++) {
                    const int column = 8 * n + 2 * blk.t4 + e % 2;
                    p_t[n][e] = exp2_approx(fmaf(p_t[n][e], scale_log2, -lse_row[column] * LOG2_E));
                    ds_t[n][e] = p_t[n][e] * (ds_t[n][e] - delta_row[column]);
                }
            // The causal mask, only on a tile with a query before one of the warp's keys; masked entries are
            // overwritten (not multiplied: the exp2 of a score a query must not see may be inf). Queries past T
            // need none: their Q, dO, lse and delta arrive as zeros, so P is 1 there but dP and dO are 0, and
            // they add nothing to dK or dV (keys past T are never stored).
            if (i0 < blk.warp_first + TC_ROWS - 1)
                for (int n = 0; n < TC_BWD_TILE / 8; n++)
                    for (int e = 0; e < 4; e++)
                        if (i0 + 8 * n + 2 * blk.t4 + e % 2 < blk.rows[e / 2]) p_t[n][e] = ds_t[n][e] = 0.0f;
            tc_accumulate<HS>(dv, p_t, do_rows(buffer));   // dV += Pᵀ·dO
            tc_accumulate<HS>(dk, ds_t, q_rows(buffer));   // dK += dSᵀ·Q (scaled below)
        }
        __syncthreads();   // every warp is done with this buffer before the next iteration refills it
    }

    for (int r = 0; r < 2; r++) {
        if (blk.rows[r] >= T) continue;
        tc_store_row<HS>(dqkv + qkv_index(blk.b, blk.rows[r], 1, blk.h, 0, T, C, HS), dk, r, scale);
        tc_store_row<HS>(dqkv + qkv_index(blk.b, blk.rows[r], 2, blk.h, 0, T, C, HS), dv, r, 1.0f);
    }
}

// The dQ backward for head size HS: see attention_backward_dq_tc_hsN below.
template <int HS>
__device__ void tc_backward_dq(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse, const float* delta,
                               int T, int C, int NH, bf16* shared) {
    const TcBlock blk = tc_block(qkv, dout, T, C, NH, HS, true);
    bf16* q_rows = shared;
    bf16* do_rows = q_rows + TC_BLOCK_ROWS * TC_LD(HS);
    const TcKeyBuffers<HS, TC_BWD_TILE> keys{do_rows + TC_BLOCK_ROWS * TC_LD(HS)};
    tc_stage<HS, TC_BLOCK_ROWS>(q_rows, blk.q, blk.stride, blk.first, T);
    tc_stage<HS, TC_BLOCK_ROWS>(do_rows, blk.dout, C, blk.first, T);
    keys.stage(blk, 0, 0, T, C);
    cp_async_commit();

    const float scale = rsqrtf((float)HS);
    const float scale_log2 = scale * LOG2_E;   // as in the forward
    float row_lse_log2[2], row_delta[2];
    for (int r = 0; r < 2; r++) {
        row_lse_log2[r] = blk.rows[r] < T ? lse[blk.stats + blk.rows[r]] * LOG2_E : 0.0f;
        row_delta[r] = blk.rows[r] < T ? delta[blk.stats + blk.rows[r]] : 0.0f;
    }
    float dq[HS / 8][4] = {};

    const int last_query = min(blk.first + TC_BLOCK_ROWS, T) - 1;
    for (int k0 = 0, buffer = 0; k0 <= last_query; k0 += TC_BWD_TILE, buffer ^= 1) {
        if (k0 + TC_BWD_TILE <= last_query) keys.stage(blk, k0 + TC_BWD_TILE, buffer ^ 1, T, C);   // the next tile, in flight
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        if (blk.warp_first < T && k0 <= blk.warp_first + TC_ROWS - 1) {   // warp-uniform: some key visible
            // ds is named for what it ends as: it first holds S, turned in place into dS below (P lives in a register).
            float ds[TC_BWD_TILE / 8][4], dp[TC_BWD_TILE / 8][4];
            tc_scores<HS>(ds, q_rows + blk.warp * TC_ROWS * TC_LD(HS), keys.k_rows(buffer));    // S = Q·Kᵀ
            tc_scores<HS>(dp, do_rows + blk.warp * TC_ROWS * TC_LD(HS), keys.v_rows(buffer));   // dP = dO·Vᵀ
            for (int n = 0; n < TC_BWD_TILE / 8; n++)
                for (int e = 0; e < 4; e++) {
                    const float p = exp2_approx(fmaf(ds[n][e], scale_log2, -row_lse_log2[e / 2]));
                    ds[n][e] = p * (dp[n][e] - row_delta[e / 2]);
                }
            tc_mask_later_keys(ds, k0, blk, 0.0f);   // overwritten, not multiplied, as in dkv
            tc_accumulate<HS>(dq, ds, keys.k_rows(buffer));   // dQ += dS·K (scaled below)
        }
        __syncthreads();   // every warp is done with this buffer before the next iteration refills it
    }

    for (int r = 0; r < 2; r++)
        if (blk.rows[r] < T) tc_store_row<HS>(dqkv + qkv_index(blk.b, blk.rows[r], 0, blk.h, 0, T, C, HS), dq, r, scale);
}

// The launch's dynamic shared memory as bf16, after trapping unless the launch is for head size HS, has the
// block of 128 threads the staging is unrolled for, offsets within one sequence (T·3C) that fit in an int (the
// staging's row arithmetic), and gave at least `needed` bytes.
template <int HS>
__device__ __forceinline__ bf16* tc_launch_shared(int T, int C, int NH, int needed) {
    DYNAMIC_SHARED(SharedChunk, shared);
    if (C / NH != HS || blockDim.x != TC_WARPS * WARP_SIZE || (long long)T * 3 * C > 0x7fffffffLL ||
        dynamic_shared_bytes() < (unsigned)needed)
        __trap();
    return reinterpret_cast<bf16*>(shared);
}

// The three kernels for one head size, named with it (attention_forward_tc_hs64, …): one entry point per size
// so that each is compiled with the registers its own size needs (one kernel switching over the sizes would
// be given the largest size's registers, and with them lower occupancy, for every size). Each traps when the
// launch's head size is not its own, its block is not 128 threads, T·3C overflows an int, or its dynamic shared
// memory is less than its layout needs.
//
// Up to head size 64, each kernel is held to 128 registers per thread (launch bounds: 128 threads and 4 blocks
// per SM, whose 64K registers make 128 each), so that 16 warps fit on an SM: left free, the compiler gives
// them 128–135 on sm_90, and then only 3 blocks fit. Head size 128 would spill under that bound and is left
// free (its shared memory allows 2–3 blocks per SM anyway).
//
// attention_forward_tc_hsN: out (B,T,C) bf16, lse (B,NH,T) fp32 = causal softmax(Q·Kᵀ/√HS)·V over qkv (B,T,3C)
//   bf16, as attention_forward. grid (ceil(T/64), NH, B), block 128, shared attention_tc_forward_shared_bytes(HS).
// attention_backward_dkv_tc_hsN: dqkv (B,T,3C) bf16 [K and V parts] from dout (B,T,C) bf16, qkv, lse and
//   delta (B,NH,T) fp32, as attention_backward_dkv. grid (ceil(T/64), NH, B), block 128, shared
//   attention_tc_dkv_shared_bytes(HS): each warp owns 16 keys and walks the query tiles from its block's first key.
// attention_backward_dq_tc_hsN: dqkv (B,T,3C) bf16 [Q part] = (1/√HS) Σ_{j≤i} dS_ij K_j, as attention_backward_dq.
//   grid (ceil(T/64), NH, B), block 128, shared attention_tc_dq_shared_bytes(HS): each warp owns 16 queries
//   and walks the key tiles up to them.
#define TC_LAUNCH_BOUNDS_16 __launch_bounds__(TC_WARPS * WARP_SIZE, 4)
#define TC_LAUNCH_BOUNDS_32 TC_LAUNCH_BOUNDS_16
#define TC_LAUNCH_BOUNDS_64 TC_LAUNCH_BOUNDS_16
#define TC_LAUNCH_BOUNDS_128
#define TC_KERNELS(HS)                                                                                                   \
    extern "C" __global__ void TC_LAUNCH_BOUNDS_##HS                                                                     \
        attention_forward_tc_hs##HS(bf16* out, float* lse, const bf16* qkv, int B, int T, int C, int NH) {               \
        tc_forward<HS>(out, lse, qkv, T, C, NH, tc_launch_shared<HS>(T, C, NH, attention_tc_forward_shared_bytes(HS)));  \
    }                                                                                                                    \
    extern "C" __global__ void TC_LAUNCH_BOUNDS_##HS                                                                     \
        attention_backward_dkv_tc_hs##HS(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,                \
                                         const float* delta, int B, int T, int C, int NH) {                              \
        tc_backward_dkv<HS>(dqkv, dout, qkv, lse, delta, T, C, NH,                                                       \
                            tc_launch_shared<HS>(T, C, NH, attention_tc_dkv_shared_bytes(HS)));                          \
    }                                                                                                                    \
    extern "C" __global__ void TC_LAUNCH_BOUNDS_##HS                                                                     \
        attention_backward_dq_tc_hs##HS(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,                 \
                                        const float* delta, int B, int T, int C, int NH) {                               \
        tc_backward_dq<HS>(dqkv, dout, qkv, lse, delta, T, C, NH,                                                        \
                           tc_launch_shared<HS>(T, C, NH, attention_tc_dq_shared_bytes(HS)));                            \
    }

// Head sizes 16, 32 (the test presets), 64 (every GPT-2) and 128.
TC_KERNELS(16)
TC_KERNELS(32)
TC_KERNELS(64)
TC_KERNELS(128)

#endif
