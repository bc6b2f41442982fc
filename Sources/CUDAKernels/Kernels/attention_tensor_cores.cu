/// Causal flash attention on tensor cores, organised as FlashAttention-2: bf16 mma.sync (m16n8k16) with fp32
/// accumulation, the scores, probabilities and running outputs kept in registers, for head sizes 16, 32, 64
/// and 128. Same contract as attention.cu (which stays the path for other head sizes and
/// for devices before sm_80): no T×T matrix in global memory; the forward keeps each row's log-sum-exp
/// (B,NH,T) and the backward recomputes the probabilities from it.
///
/// Each block has 4 warps; a warp owns 16 rows (queries in the forward and dq, keys in dkv) and multiplies
/// them with tiles of the other side staged in shared memory by the whole block. Register fragments follow
/// the PTX ISA's m16n8k16 layout (see mma_m16n8k16 in attention_tiles.cuh, which holds the tile primitives),
/// in which an accumulator tile of one product is laid out as the A operand of the next needs it:
/// probabilities and dS go from one product into the next without leaving registers, rounded to bf16 on the
/// way (as in FlashAttention-2). Tiles are staged row-major, with rows padded by 8 elements, and fragments
/// are read from them with ldmatrix, four 8×8 matrices per instruction (transposing on the way where a
/// product needs the transpose of a tile); the padding keeps every ldmatrix free of shared-memory bank
/// conflicts. Tiles arrive by cp.async into two
/// buffers: the next tile is in flight while the warps compute on the current one.
/// Shared memory is dynamic; attention_tc_*_shared_bytes give each kernel's need, which the host must pass
/// (CUDABackend+Attention mirrors them), and each kernel traps when given less.
#include "common.cuh"
#include "async_copy.cuh"
#include "attention.cuh"

// bf16 mma.sync needs sm_80; for older architectures the file compiles to an empty module (the backend
// then uses attention.cu).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800

#include "attention_tiles.cuh"

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
