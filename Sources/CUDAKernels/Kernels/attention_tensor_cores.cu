/// Causal flash attention on tensor cores: the matrix products of attention.cu's algorithm done as warp-wide
/// 16×16×16 bf16 WMMA tiles with fp32 accumulation, for head sizes that are a multiple of 16 up to 128.
/// Same contract as attention.cu (which stays the path for other head sizes and for devices without the
/// shared memory these kernels ask for): no T×T matrix in global memory; the forward keeps each row's
/// log-sum-exp (B,NH,T) and the backward recomputes the probabilities from it.
///
/// Each block has 4 warps; a warp owns 16 rows (queries in the forward and dq, keys in dkv). Products land
/// in per-warp fp32 scratch in shared memory; the softmax is elementwise work there, two lanes per row
/// (lane l: row l/2, columns of half l%2). Probabilities and dS are rounded to bf16 for the next product,
/// as in FlashAttention-2. Running outputs (O, dK, dV, dQ) accumulate in per-warp fp32 shared memory,
/// because the forward rescales O's rows and WMMA fragments have no row addressing.
/// Shared memory is dynamic; attention_tc_*_shared_bytes give each kernel's need, which the host must pass
/// (CUDABackend+Attention mirrors them), and each kernel traps when given less.
#include "common.cuh"
#include "attention.cuh"
#include <mma.h>

// bf16 WMMA needs sm_80; for older architectures the file compiles to an empty module (the backend then
// uses attention.cu).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800

using namespace nvcuda;

#define TC_WARPS 4
#define TC_ROWS 16                 // rows per warp: one WMMA tile
#define TC_BLOCK_ROWS 64           // TC_WARPS × TC_ROWS
#define TC_FWD_KEYS 64             // keys per tile in the forward
#define TC_BWD_TILE 32             // queries per tile in dkv, keys per tile in dq
#define TC_F32_LD(n) ((n) + 4)     // fp32 scratch row stride (a multiple of 4 floats, as WMMA needs)
#define TC_BF16_LD(n) ((n) + 8)    // bf16 row stride (a multiple of 8 elements, as WMMA needs)

typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> TileA;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> TileB;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> TileBTransposed;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> TileAccumulator;

// Dynamic shared memory is declared as this type so that it is 32-byte aligned, as WMMA pointers must be.
// Every region below is a multiple of 32 bytes long, so each one starts aligned too.
struct alignas(32) SharedChunk {
    float values[8];
};

// Bytes of a bf16 tile of `rows` rows of HS, and of a warp's fp32 scratch of 16 rows of `columns`.
__device__ __forceinline__ int tc_bf16_bytes(int rows, int HS) { return rows * TC_BF16_LD(HS) * 2; }
__device__ __forceinline__ int tc_f32_bytes(int columns) { return TC_ROWS * TC_F32_LD(columns) * 4; }

// forward: Q (64 rows), K, V (64 rows) bf16 | per warp: S (16 × 64) fp32, P (16 × 64) bf16, O (16 × HS) fp32
__device__ __forceinline__ int attention_tc_forward_shared_bytes(int HS) {
    return 3 * tc_bf16_bytes(TC_BLOCK_ROWS, HS)
        + TC_WARPS * (tc_f32_bytes(TC_FWD_KEYS) + tc_bf16_bytes(TC_ROWS, TC_FWD_KEYS) + tc_f32_bytes(HS));
}

// dkv: K, V (64 rows), Q, dO (32 rows) bf16 | lse, delta (32) fp32 |
//      per warp: Sᵀ, dPᵀ (16 × 32) fp32, Pᵀ, dSᵀ (16 × 32) bf16, dK, dV (16 × HS) fp32
__device__ __forceinline__ int attention_tc_dkv_shared_bytes(int HS) {
    return 2 * tc_bf16_bytes(TC_BLOCK_ROWS, HS) + 2 * tc_bf16_bytes(TC_BWD_TILE, HS) + 2 * TC_BWD_TILE * 4
        + TC_WARPS * (2 * tc_f32_bytes(TC_BWD_TILE) + 2 * tc_bf16_bytes(TC_ROWS, TC_BWD_TILE) + 2 * tc_f32_bytes(HS));
}

// dq: Q, dO (64 rows), K, V (32 rows) bf16 | per warp: S, dP (16 × 32) fp32, dS (16 × 32) bf16, dQ (16 × HS) fp32
__device__ __forceinline__ int attention_tc_dq_shared_bytes(int HS) {
    return 2 * tc_bf16_bytes(TC_BLOCK_ROWS, HS) + 2 * tc_bf16_bytes(TC_BWD_TILE, HS)
        + TC_WARPS * (2 * tc_f32_bytes(TC_BWD_TILE) + tc_bf16_bytes(TC_ROWS, TC_BWD_TILE) + tc_f32_bytes(HS));
}

// Carves consecutive regions out of the dynamic shared memory.
struct SharedCursor {
    char* next;
    template <typename T>
    __device__ T* take(int bytes) {
        T* region = reinterpret_cast<T*>(next);
        next += bytes;
        return region;
    }
};

// Rows [t0, t0+rows) of Q, K or V (`part`) of head h into dst (rows × HS bf16, row stride TC_BF16_LD(HS)),
// zero past T. Called by every thread of the block.
__device__ void tc_load_qkv(bf16* dst, const bf16* qkv, int b, int t0, int rows, int part, int h, int T, int C, int HS) {
    for (int i = threadIdx.x; i < rows * HS; i += blockDim.x) {
        const int r = i / HS, d = i % HS, t = t0 + r;
        dst[r * TC_BF16_LD(HS) + d] = t < T ? qkv[qkv_index(b, t, part, h, d, T, C, HS)] : to_bf16(0.0f);
    }
}

// The same for rows of head h of dout (B,T,C).
__device__ void tc_load_dout(bf16* dst, const bf16* dout, int b, int t0, int rows, int h, int T, int C, int HS) {
    for (int i = threadIdx.x; i < rows * HS; i += blockDim.x) {
        const int r = i / HS, d = i % HS, t = t0 + r;
        dst[r * TC_BF16_LD(HS) + d] = t < T ? dout[((size_t)b * T + t) * C + (size_t)h * HS + d] : to_bf16(0.0f);
    }
}

// scores (16 × 16·tiles fp32, stride TC_F32_LD(16·tiles)) = A (16 × HS) · Bᵀ, with A and B (16·tiles × HS)
// bf16 row-major at stride TC_BF16_LD(HS). One warp.
__device__ void tc_products(float* scores, const bf16* a, const bf16* b, int tiles, int HS) {
    const int ld = TC_BF16_LD(HS);
    for (int n = 0; n < tiles; n++) {
        TileAccumulator accumulator;
        wmma::fill_fragment(accumulator, 0.0f);
        for (int d = 0; d < HS; d += 16) {
            TileA left;
            TileBTransposed right;
            wmma::load_matrix_sync(left, a + d, ld);
            wmma::load_matrix_sync(right, b + n * 16 * ld + d, ld);
            wmma::mma_sync(accumulator, left, right, accumulator);
        }
        wmma::store_matrix_sync(scores + n * 16, accumulator, TC_F32_LD(16 * tiles), wmma::mem_row_major);
    }
}

// sum (16 × HS fp32, stride TC_F32_LD(HS)) += P (16 × 16·tiles bf16, stride TC_BF16_LD(16·tiles)) · V, with
// V (16·tiles × HS) bf16 row-major at stride TC_BF16_LD(HS). One warp.
__device__ void tc_accumulate(float* sum, const bf16* p, const bf16* v, int tiles, int HS) {
    const int ld = TC_BF16_LD(HS);
    for (int d = 0; d < HS; d += 16) {
        TileAccumulator accumulator;
        wmma::load_matrix_sync(accumulator, sum + d, TC_F32_LD(HS), wmma::mem_row_major);
        for (int k = 0; k < tiles; k++) {
            TileA left;
            TileB right;
            wmma::load_matrix_sync(left, p + k * 16, TC_BF16_LD(16 * tiles));
            wmma::load_matrix_sync(right, v + k * 16 * ld + d, ld);
            wmma::mma_sync(accumulator, left, right, accumulator);
        }
        wmma::store_matrix_sync(sum + d, accumulator, TC_F32_LD(HS), wmma::mem_row_major);
    }
}

// Zeroes this lane's half of its row of a warp's 16 × HS fp32 accumulator.
__device__ __forceinline__ void tc_zero_row_half(float* sum, int row, int half, int HS) {
    for (int c = half * (HS / 2); c < (half + 1) * (HS / 2); c++) sum[row * TC_F32_LD(HS) + c] = 0.0f;
}

// out (B,T,C) bf16, lse (B,NH,T) fp32 = causal softmax(Q·Kᵀ/√HS)·V over qkv (B,T,3C) bf16, as attention_forward.
// grid (ceil(T/64), NH, B), block 128, dynamic shared memory attention_tc_forward_shared_bytes(HS).
extern "C" __global__ void attention_forward_tc(bf16* out, float* lse, const bf16* qkv, int B, int T, int C, int NH) {
    DYNAMIC_SHARED(SharedChunk, shared);
    const int HS = C / NH;
    if (dynamic_shared_bytes() < (unsigned)attention_tc_forward_shared_bytes(HS)) __trap();
    const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * TC_BLOCK_ROWS;
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    SharedCursor cursor{reinterpret_cast<char*>(shared)};
    bf16* q_tile = cursor.take<bf16>(tc_bf16_bytes(TC_BLOCK_ROWS, HS));
    bf16* k_tile = cursor.take<bf16>(tc_bf16_bytes(TC_FWD_KEYS, HS));
    bf16* v_tile = cursor.take<bf16>(tc_bf16_bytes(TC_FWD_KEYS, HS));
    cursor.next += warp * (tc_f32_bytes(TC_FWD_KEYS) + tc_bf16_bytes(TC_ROWS, TC_FWD_KEYS) + tc_f32_bytes(HS));
    float* scores = cursor.take<float>(tc_f32_bytes(TC_FWD_KEYS));
    bf16* probabilities = cursor.take<bf16>(tc_bf16_bytes(TC_ROWS, TC_FWD_KEYS));
    float* o = cursor.take<float>(tc_f32_bytes(HS));

    const float scale = rsqrtf((float)HS);
    tc_load_qkv(q_tile, qkv, b, q0, TC_BLOCK_ROWS, 0, h, T, C, HS);
    const int row = lane / 2, half = lane % 2;
    const int warp_first = q0 + warp * TC_ROWS, t = warp_first + row;
    const int visible_until = min(t, T - 1);   // rows past T attend like the last row; their output is dropped
    tc_zero_row_half(o, row, half, HS);
    float running_max = -CUDART_INF_F, running_sum = 0.0f;

    const int last_query = min(q0 + TC_BLOCK_ROWS, T) - 1;
    for (int k0 = 0; k0 <= last_query; k0 += TC_FWD_KEYS) {
        __syncthreads();   // every warp is done with the previous K and V (and Q is complete)
        tc_load_qkv(k_tile, qkv, b, k0, TC_FWD_KEYS, 1, h, T, C, HS);
        tc_load_qkv(v_tile, qkv, b, k0, TC_FWD_KEYS, 2, h, T, C, HS);
        __syncthreads();
        if (warp_first >= T || k0 > warp_first + TC_ROWS - 1) continue;   // warp-uniform: no key visible
        tc_products(scores, q_tile + warp * TC_ROWS * TC_BF16_LD(HS), k_tile, TC_FWD_KEYS / 16, HS);
        __syncwarp();
        // Online softmax over this lane's 32 columns; the two lanes of a row combine through one shuffle.
        // The first tile holds key 0, visible to every row, so new_max is finite from then on.
        float values[32];
        float tile_max = -CUDART_INF_F;
        for (int j = 0; j < 32; j++) {
            const int column = half * 32 + j;
            values[j] = k0 + column <= visible_until ? scores[row * TC_F32_LD(TC_FWD_KEYS) + column] * scale : -CUDART_INF_F;
            tile_max = fmaxf(tile_max, values[j]);
        }
        tile_max = fmaxf(tile_max, __shfl_xor_sync(FULL_MASK, tile_max, 1));
        const float new_max = fmaxf(running_max, tile_max);
        const float correction = __expf(running_max - new_max);   // 0 on the first tile
        float tile_sum = 0.0f;
        for (int j = 0; j < 32; j++) {
            const float p = __expf(values[j] - new_max);          // 0 for masked keys
            probabilities[row * TC_BF16_LD(TC_FWD_KEYS) + half * 32 + j] = to_bf16(p);
            tile_sum += p;
        }
        tile_sum += __shfl_xor_sync(FULL_MASK, tile_sum, 1);
        running_sum = running_sum * correction + tile_sum;
        running_max = new_max;
        for (int c = half * (HS / 2); c < (half + 1) * (HS / 2); c++) o[row * TC_F32_LD(HS) + c] *= correction;
        __syncwarp();
        tc_accumulate(o, probabilities, v_tile, TC_FWD_KEYS / 16, HS);
        __syncwarp();
    }

    if (t < T) {
        const float inverse = 1.0f / running_sum;
        for (int c = half * (HS / 2); c < (half + 1) * (HS / 2); c++)
            out[((size_t)b * T + t) * C + (size_t)h * HS + c] = to_bf16(o[row * TC_F32_LD(HS) + c] * inverse);
        if (half == 0) lse[((size_t)b * NH + h) * T + t] = running_max + logf(running_sum);
    }
}

// dqkv (B,T,3C) bf16 [K and V parts] from dout (B,T,C) bf16, qkv, lse and delta (B,NH,T) fp32, as
// attention_backward_dkv. grid (ceil(T/64), NH, B), block 128, dynamic shared memory
// attention_tc_dkv_shared_bytes(HS): each warp owns 16 keys and walks the query tiles from its block's first key.
extern "C" __global__ void attention_backward_dkv_tc(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                                                     const float* delta, int B, int T, int C, int NH) {
    DYNAMIC_SHARED(SharedChunk, shared);
    const int HS = C / NH;
    if (dynamic_shared_bytes() < (unsigned)attention_tc_dkv_shared_bytes(HS)) __trap();
    const int b = blockIdx.z, h = blockIdx.y, k0 = blockIdx.x * TC_BLOCK_ROWS;
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    SharedCursor cursor{reinterpret_cast<char*>(shared)};
    bf16* k_rows = cursor.take<bf16>(tc_bf16_bytes(TC_BLOCK_ROWS, HS));
    bf16* v_rows = cursor.take<bf16>(tc_bf16_bytes(TC_BLOCK_ROWS, HS));
    bf16* q_tile = cursor.take<bf16>(tc_bf16_bytes(TC_BWD_TILE, HS));
    bf16* do_tile = cursor.take<bf16>(tc_bf16_bytes(TC_BWD_TILE, HS));
    float* lse_tile = cursor.take<float>(TC_BWD_TILE * 4);
    float* delta_tile = cursor.take<float>(TC_BWD_TILE * 4);
    cursor.next += warp * (2 * tc_f32_bytes(TC_BWD_TILE) + 2 * tc_bf16_bytes(TC_ROWS, TC_BWD_TILE) + 2 * tc_f32_bytes(HS));
    float* scores_t = cursor.take<float>(tc_f32_bytes(TC_BWD_TILE));
    float* dp_t = cursor.take<float>(tc_f32_bytes(TC_BWD_TILE));
    bf16* p_t = cursor.take<bf16>(tc_bf16_bytes(TC_ROWS, TC_BWD_TILE));
    bf16* ds_t = cursor.take<bf16>(tc_bf16_bytes(TC_ROWS, TC_BWD_TILE));
    float* dk = cursor.take<float>(tc_f32_bytes(HS));
    float* dv = cursor.take<float>(tc_f32_bytes(HS));

    const float scale = rsqrtf((float)HS);
    const size_t stats = ((size_t)b * NH + h) * T;
    tc_load_qkv(k_rows, qkv, b, k0, TC_BLOCK_ROWS, 1, h, T, C, HS);
    tc_load_qkv(v_rows, qkv, b, k0, TC_BLOCK_ROWS, 2, h, T, C, HS);
    const int row = lane / 2, half = lane % 2;
    const int warp_first = k0 + warp * TC_ROWS, key = warp_first + row;
    tc_zero_row_half(dk, row, half, HS);
    tc_zero_row_half(dv, row, half, HS);
    const int sld = TC_F32_LD(TC_BWD_TILE), pld = TC_BF16_LD(TC_BWD_TILE);

    for (int i0 = k0; i0 < T; i0 += TC_BWD_TILE) {   // queries before k0 see none of this block's keys
        __syncthreads();
        tc_load_qkv(q_tile, qkv, b, i0, TC_BWD_TILE, 0, h, T, C, HS);
        tc_load_dout(do_tile, dout, b, i0, TC_BWD_TILE, h, T, C, HS);
        if (threadIdx.x < TC_BWD_TILE) {
            const int t = i0 + threadIdx.x;
            lse_tile[threadIdx.x] = t < T ? lse[stats + t] : 0.0f;
            delta_tile[threadIdx.x] = t < T ? delta[stats + t] : 0.0f;
        }
        __syncthreads();
        if (warp_first >= T || i0 + TC_BWD_TILE - 1 < warp_first) continue;   // warp-uniform: no query sees its keys
        tc_products(scores_t, k_rows + warp * TC_ROWS * TC_BF16_LD(HS), q_tile, TC_BWD_TILE / 16, HS);   // Sᵀ = K·Qᵀ
        tc_products(dp_t, v_rows + warp * TC_ROWS * TC_BF16_LD(HS), do_tile, TC_BWD_TILE / 16, HS);      // dPᵀ = V·dOᵀ
        __syncwarp();
        for (int j = 0; j < TC_BWD_TILE / 2; j++) {
            const int column = half * (TC_BWD_TILE / 2) + j, query = i0 + column;
            const bool visible = query < T && key < T && query >= key;
            const float p = visible ? __expf(scores_t[row * sld + column] * scale - lse_tile[column]) : 0.0f;
            p_t[row * pld + column] = to_bf16(p);
            ds_t[row * pld + column] = to_bf16(p * (dp_t[row * sld + column] - delta_tile[column]));
        }
        __syncwarp();
        tc_accumulate(dv, p_t, do_tile, TC_BWD_TILE / 16, HS);   // dV += Pᵀ·dO
        tc_accumulate(dk, ds_t, q_tile, TC_BWD_TILE / 16, HS);   // dK += dSᵀ·Q (scaled below)
        __syncwarp();
    }

    if (key < T)
        for (int c = half * (HS / 2); c < (half + 1) * (HS / 2); c++) {
            dqkv[qkv_index(b, key, 1, h, c, T, C, HS)] = to_bf16(dk[row * TC_F32_LD(HS) + c] * scale);
            dqkv[qkv_index(b, key, 2, h, c, T, C, HS)] = to_bf16(dv[row * TC_F32_LD(HS) + c]);
        }
}

// dqkv (B,T,3C) bf16 [Q part] = (1/√HS) Σ_{j≤i} dS_ij K_j, as attention_backward_dq. grid (ceil(T/64), NH, B),
// block 128, dynamic shared memory attention_tc_dq_shared_bytes(HS): each warp owns 16 queries and walks the
// key tiles up to them.
extern "C" __global__ void attention_backward_dq_tc(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                                                    const float* delta, int B, int T, int C, int NH) {
    DYNAMIC_SHARED(SharedChunk, shared);
    const int HS = C / NH;
    if (dynamic_shared_bytes() < (unsigned)attention_tc_dq_shared_bytes(HS)) __trap();
    const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * TC_BLOCK_ROWS;
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    SharedCursor cursor{reinterpret_cast<char*>(shared)};
    bf16* q_rows = cursor.take<bf16>(tc_bf16_bytes(TC_BLOCK_ROWS, HS));
    bf16* do_rows = cursor.take<bf16>(tc_bf16_bytes(TC_BLOCK_ROWS, HS));
    bf16* k_tile = cursor.take<bf16>(tc_bf16_bytes(TC_BWD_TILE, HS));
    bf16* v_tile = cursor.take<bf16>(tc_bf16_bytes(TC_BWD_TILE, HS));
    cursor.next += warp * (2 * tc_f32_bytes(TC_BWD_TILE) + tc_bf16_bytes(TC_ROWS, TC_BWD_TILE) + tc_f32_bytes(HS));
    float* scores = cursor.take<float>(tc_f32_bytes(TC_BWD_TILE));
    float* dp = cursor.take<float>(tc_f32_bytes(TC_BWD_TILE));
    bf16* ds = cursor.take<bf16>(tc_bf16_bytes(TC_ROWS, TC_BWD_TILE));
    float* dq = cursor.take<float>(tc_f32_bytes(HS));

    const float scale = rsqrtf((float)HS);
    const size_t stats = ((size_t)b * NH + h) * T;
    tc_load_qkv(q_rows, qkv, b, q0, TC_BLOCK_ROWS, 0, h, T, C, HS);
    tc_load_dout(do_rows, dout, b, q0, TC_BLOCK_ROWS, h, T, C, HS);
    const int row = lane / 2, half = lane % 2;
    const int warp_first = q0 + warp * TC_ROWS, query = warp_first + row;
    const float row_lse = query < T ? lse[stats + query] : 0.0f;
    const float row_delta = query < T ? delta[stats + query] : 0.0f;
    tc_zero_row_half(dq, row, half, HS);
    const int sld = TC_F32_LD(TC_BWD_TILE), pld = TC_BF16_LD(TC_BWD_TILE);

    const int last_query = min(q0 + TC_BLOCK_ROWS, T) - 1;
    for (int k0 = 0; k0 <= last_query; k0 += TC_BWD_TILE) {
        __syncthreads();
        tc_load_qkv(k_tile, qkv, b, k0, TC_BWD_TILE, 1, h, T, C, HS);
        tc_load_qkv(v_tile, qkv, b, k0, TC_BWD_TILE, 2, h, T, C, HS);
        __syncthreads();
        if (warp_first >= T || k0 > warp_first + TC_ROWS - 1) continue;   // warp-uniform: no key visible
        tc_products(scores, q_rows + warp * TC_ROWS * TC_BF16_LD(HS), k_tile, TC_BWD_TILE / 16, HS);   // S = Q·Kᵀ
        tc_products(dp, do_rows + warp * TC_ROWS * TC_BF16_LD(HS), v_tile, TC_BWD_TILE / 16, HS);      // dP = dO·Vᵀ
        __syncwarp();
        for (int j = 0; j < TC_BWD_TILE / 2; j++) {
            const int column = half * (TC_BWD_TILE / 2) + j, key = k0 + column;
            const float p = (query < T && key <= query) ? __expf(scores[row * sld + column] * scale - row_lse) : 0.0f;
            ds[row * pld + column] = to_bf16(p * (dp[row * sld + column] - row_delta));
        }
        __syncwarp();
        tc_accumulate(dq, ds, k_tile, TC_BWD_TILE / 16, HS);   // dQ += dS·K (scaled below)
        __syncwarp();
    }

    if (query < T)
        for (int c = half * (HS / 2); c < (half + 1) * (HS / 2); c++)
            dqkv[qkv_index(b, query, 0, h, c, T, C, HS)] = to_bf16(dq[row * TC_F32_LD(HS) + c] * scale);
}

#endif
