/// Causal flash attention, forward and backward: tiled over keys with an online softmax, so no T×T
/// matrix ever reaches global memory; the forward saves each row's log-sum-exp, (B,NH,T), for the backward.
#include "common.cuh"
#include "attention.cuh"

// Layout: qkv (B,T,3C) holds [Q | K | V] per row; head h owns channels h*HS ..< (h+1)*HS of each part.
// Any head size HS = C/NH up to ATT_MAX_HS works (16, 32, 64, 80, 96, 128, and the rest ≤ 128): lane l owns output channels
// l, l+32, l+64, l+96 (ATT_SLOTS of them), those ≥ HS are skipped. Shared memory is sized for
// ATT_MAX_HS statically (about 41 KB per block), so no launch needs a dynamic shared-memory size.
// Tiles are staged in shared memory as fp32. Rows read one per lane use a stride of HS|1 floats (odd),
// so the 32 lanes reading the same channel of 32 different rows hit 32 different banks.
// Scores use the natural exponent; __expf is used on purpose: its error (a few ulp of fp32) is far
// below bf16's resolution, and the file is not compiled with --use_fast_math.
#define ATT_MAX_HS 128
#define ATT_SLOTS (ATT_MAX_HS / WARP_SIZE)
#define ATT_TILE 32              // keys per tile in the forward and dq kernels, queries per tile in dkv
#define ATT_WARPS 4              // block = 128 threads
#define ATT_FWD_ROWS 4           // query rows per warp in the forward: 16 per block
#define ATT_BWD_ROWS 2           // query rows (dq) or keys (dkv) per warp in the backward: 8 per block

// Copies `rows` rows (starting at row t0, part `part`) of one head into shared memory as fp32 with row
// stride `stride`; rows past T are zero. Called by every thread of the block.
__device__ void load_rows(float* dst, int stride, const bf16* qkv, int b, int t0, int rows, int part,
                          int h, int T, int C, int HS) {
    for (int i = threadIdx.x; i < rows * HS; i += blockDim.x) {
        const int r = i / HS, d = i % HS, t = t0 + r;
        dst[r * stride + d] = t < T ? to_float(qkv[qkv_index(b, t, part, h, d, T, C, HS)]) : 0.0f;
    }
}

// out (B,T,C) bf16, lse (B,NH,T) fp32 = causal softmax(Q·Kᵀ/√HS)·V over qkv (B,T,3C) bf16
// lse[b,h,t] = log Σ_{j≤t} exp(q_t·k_j/√HS), the softmax's normaliser, kept for the backward.
// grid (ceil(T/16), NH, B), block 128. Each warp owns 4 query rows; each key tile gives one key per lane.
extern "C" __global__ void attention_forward(bf16* out, float* lse, const bf16* qkv, int B, int T, int C, int NH) {
    __shared__ float q_tile[ATT_WARPS * ATT_FWD_ROWS * ATT_MAX_HS];   // queries, pre-scaled by 1/√HS
    __shared__ float k_tile[ATT_TILE * (ATT_MAX_HS + 1)];
    __shared__ float v_tile[ATT_TILE * ATT_MAX_HS];
    const int HS = C / NH, stride = HS | 1;
    const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * ATT_WARPS * ATT_FWD_ROWS;
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    const float scale = rsqrtf((float)HS);

    load_rows(q_tile, HS, qkv, b, q0, ATT_WARPS * ATT_FWD_ROWS, 0, h, T, C, HS);
    // With stride HS, element i was written by thread i % blockDim.x above: no barrier needed to scale it.
    for (int i = threadIdx.x; i < ATT_WARPS * ATT_FWD_ROWS * HS; i += blockDim.x) q_tile[i] *= scale;

    float running_max[ATT_FWD_ROWS], running_sum[ATT_FWD_ROWS], acc[ATT_FWD_ROWS][ATT_SLOTS];
#pragma unroll
    for (int r = 0; r < ATT_FWD_ROWS; r++) {
        running_max[r] = -CUDART_INF_F;
        running_sum[r] = 0.0f;
#pragma unroll
        for (int s = 0; s < ATT_SLOTS; s++) acc[r][s] = 0.0f;
    }

    const int last_query = min(q0 + ATT_WARPS * ATT_FWD_ROWS, T) - 1;
    for (int k0 = 0; k0 <= last_query; k0 += ATT_TILE) {
        __syncthreads();   // the previous tile has been used (and q_tile is complete)
        load_rows(k_tile, stride, qkv, b, k0, ATT_TILE, 1, h, T, C, HS);
        load_rows(v_tile, HS, qkv, b, k0, ATT_TILE, 2, h, T, C, HS);
        __syncthreads();
#pragma unroll
        for (int r = 0; r < ATT_FWD_ROWS; r++) {
            const int row = warp * ATT_FWD_ROWS + r, t = q0 + row;
            if (t >= T || k0 > t) continue;   // uniform across the warp: no key of this tile is visible
            // Score of this lane's key; keys after t are masked (this also covers keys past T).
            const float* q = q_tile + row * HS;
            const float* k = k_tile + lane * stride;
            float score = 0.0f;
            for (int d = 0; d < HS; d++) score += q[d] * k[d];
            if (k0 + lane > t) score = -CUDART_INF_F;
            // Online softmax: key k0 ≤ t is in this tile, so new_max is finite.
            const float new_max = fmaxf(running_max[r], warp_max(score));
            const float p = __expf(score - new_max);                    // 0 for masked keys
            const float correction = __expf(running_max[r] - new_max);  // 0 on the first tile
            running_sum[r] = running_sum[r] * correction + warp_sum(p);
            running_max[r] = new_max;
            const int visible = min(ATT_TILE, t - k0 + 1);
#pragma unroll
            for (int s = 0; s < ATT_SLOTS; s++) acc[r][s] *= correction;
            for (int j = 0; j < visible; j++) {
                const float pj = __shfl_sync(FULL_MASK, p, j);
#pragma unroll
                for (int s = 0; s < ATT_SLOTS; s++) {
                    const int d = lane + s * WARP_SIZE;
                    if (d < HS) acc[r][s] += pj * v_tile[j * HS + d];
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < ATT_FWD_ROWS; r++) {
        const int t = q0 + warp * ATT_FWD_ROWS + r;
        if (t >= T) continue;
        const float inverse = 1.0f / running_sum[r];
#pragma unroll
        for (int s = 0; s < ATT_SLOTS; s++) {
            const int d = lane + s * WARP_SIZE;
            if (d < HS) out[((size_t)b * T + t) * C + (size_t)h * HS + d] = to_bf16(acc[r][s] * inverse);
        }
        if (lane == 0) lse[((size_t)b * NH + h) * T + t] = running_max[r] + logf(running_sum[r]);
    }
}

// delta (B,NH,T) fp32 = Σ_d dout·out over each head's HS channels, from dout, out (B,T,C) bf16.
// The backward's softmax term: dS = P ∘ (dP − delta). grid ceil(B*T*NH / 8), block 256: one warp per (b,t,h).
extern "C" __global__ void attention_backward_preprocess(float* delta, const bf16* dout, const bf16* out,
                                                         int B, int T, int C, int NH) {
    const int index = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE;   // (b*T + t)*NH + h
    if (index >= B * T * NH) return;
    const int lane = threadIdx.x % WARP_SIZE, HS = C / NH;
    const int h = index % NH, bt = index / NH, t = bt % T, b = bt / T;
    const size_t offset = (size_t)bt * C + (size_t)h * HS;
    float sum = 0.0f;
    for (int d = lane; d < HS; d += WARP_SIZE) sum += to_float(dout[offset + d]) * to_float(out[offset + d]);
    sum = warp_sum(sum);
    if (lane == 0) delta[((size_t)b * NH + h) * T + t] = sum;
}

// dqkv (B,T,3C) bf16 [K and V parts] = from dout (B,T,C) bf16, qkv, lse and delta (B,NH,T) fp32:
//   dV_j = Σ_{i≥j} P_ij dO_i,  dK_j = (1/√HS) Σ_{i≥j} dS_ij Q_i,  P_ij = exp(q_i·k_j/√HS − lse_i),
//   dS_ij = P_ij (dO_i·V_j − delta_i).
// grid (ceil(T/8), NH, B), block 128: each warp owns 2 keys and walks the query tiles after them, one
// query per lane. Writes every K and V element of dqkv once (=).
extern "C" __global__ void attention_backward_dkv(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                                                  const float* delta, int B, int T, int C, int NH) {
    __shared__ float k_rows[ATT_WARPS * ATT_BWD_ROWS * ATT_MAX_HS];
    __shared__ float v_rows[ATT_WARPS * ATT_BWD_ROWS * ATT_MAX_HS];
    __shared__ float q_tile[ATT_TILE * (ATT_MAX_HS + 1)];
    __shared__ float do_tile[ATT_TILE * (ATT_MAX_HS + 1)];
    __shared__ float lse_tile[ATT_TILE], delta_tile[ATT_TILE];
    const int HS = C / NH, stride = HS | 1;
    const int b = blockIdx.z, h = blockIdx.y, k0 = blockIdx.x * ATT_WARPS * ATT_BWD_ROWS;
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    const float scale = rsqrtf((float)HS);
    const size_t stats = ((size_t)b * NH + h) * T;

    load_rows(k_rows, HS, qkv, b, k0, ATT_WARPS * ATT_BWD_ROWS, 1, h, T, C, HS);
    load_rows(v_rows, HS, qkv, b, k0, ATT_WARPS * ATT_BWD_ROWS, 2, h, T, C, HS);
    float dk[ATT_BWD_ROWS][ATT_SLOTS] = {}, dv[ATT_BWD_ROWS][ATT_SLOTS] = {};

    for (int i0 = k0; i0 < T; i0 += ATT_TILE) {   // queries before k0 see none of this block's keys
        __syncthreads();
        for (int i = threadIdx.x; i < ATT_TILE * HS; i += blockDim.x) {
            const int r = i / HS, d = i % HS, t = i0 + r;
            const size_t o = ((size_t)b * T + t) * C + (size_t)h * HS + d;
            q_tile[r * stride + d] = t < T ? to_float(qkv[qkv_index(b, t, 0, h, d, T, C, HS)]) : 0.0f;
            do_tile[r * stride + d] = t < T ? to_float(dout[o]) : 0.0f;
        }
        if (threadIdx.x < ATT_TILE) {
            const int t = i0 + threadIdx.x;
            lse_tile[threadIdx.x] = t < T ? lse[stats + t] : 0.0f;
            delta_tile[threadIdx.x] = t < T ? delta[stats + t] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < ATT_BWD_ROWS; r++) {
            const int key = warp * ATT_BWD_ROWS + r, j = k0 + key;
            if (j >= T) continue;   // uniform across the warp
            const int i = i0 + lane;   // this lane's query
            const float* q = q_tile + lane * stride;
            const float* g = do_tile + lane * stride;
            const float* k = k_rows + key * HS;
            const float* v = v_rows + key * HS;
            float score = 0.0f, dp = 0.0f;
            for (int d = 0; d < HS; d++) {
                score += q[d] * k[d];
                dp += g[d] * v[d];
            }
            const float p = (i < T && i >= j) ? __expf(score * scale - lse_tile[lane]) : 0.0f;
            const float ds = p * (dp - delta_tile[lane]);
            for (int l = 0; l < ATT_TILE; l++) {
                const float pl = __shfl_sync(FULL_MASK, p, l);
                const float dsl = __shfl_sync(FULL_MASK, ds, l);
#pragma unroll
                for (int s = 0; s < ATT_SLOTS; s++) {
                    const int d = lane + s * WARP_SIZE;
                    if (d < HS) {
                        dv[r][s] += pl * do_tile[l * stride + d];
                        dk[r][s] += dsl * q_tile[l * stride + d];
                    }
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < ATT_BWD_ROWS; r++) {
        const int j = k0 + warp * ATT_BWD_ROWS + r;
        if (j >= T) continue;
#pragma unroll
        for (int s = 0; s < ATT_SLOTS; s++) {
            const int d = lane + s * WARP_SIZE;
            if (d < HS) {
                dqkv[qkv_index(b, j, 1, h, d, T, C, HS)] = to_bf16(dk[r][s] * scale);
                dqkv[qkv_index(b, j, 2, h, d, T, C, HS)] = to_bf16(dv[r][s]);
            }
        }
    }
}

// dqkv (B,T,3C) bf16 [Q part] = (1/√HS) Σ_{j≤i} dS_ij K_j, with dS as in attention_backward_dkv.
// grid (ceil(T/8), NH, B), block 128: each warp owns 2 query rows and walks the key tiles up to them,
// one key per lane. Writes every Q element of dqkv once (=).
extern "C" __global__ void attention_backward_dq(bf16* dqkv, const bf16* dout, const bf16* qkv, const float* lse,
                                                 const float* delta, int B, int T, int C, int NH) {
    __shared__ float q_rows[ATT_WARPS * ATT_BWD_ROWS * ATT_MAX_HS];
    __shared__ float do_rows[ATT_WARPS * ATT_BWD_ROWS * ATT_MAX_HS];
    __shared__ float k_tile[ATT_TILE * (ATT_MAX_HS + 1)];
    __shared__ float v_tile[ATT_TILE * (ATT_MAX_HS + 1)];
    const int HS = C / NH, stride = HS | 1;
    const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * ATT_WARPS * ATT_BWD_ROWS;
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    const float scale = rsqrtf((float)HS);
    const size_t stats = ((size_t)b * NH + h) * T;

    load_rows(q_rows, HS, qkv, b, q0, ATT_WARPS * ATT_BWD_ROWS, 0, h, T, C, HS);
    for (int i = threadIdx.x; i < ATT_WARPS * ATT_BWD_ROWS * HS; i += blockDim.x) {
        const int r = i / HS, d = i % HS, t = q0 + r;
        do_rows[r * HS + d] = t < T ? to_float(dout[((size_t)b * T + t) * C + (size_t)h * HS + d]) : 0.0f;
    }
    float row_lse[ATT_BWD_ROWS], row_delta[ATT_BWD_ROWS], dq[ATT_BWD_ROWS][ATT_SLOTS] = {};
#pragma unroll
    for (int r = 0; r < ATT_BWD_ROWS; r++) {
        const int t = q0 + warp * ATT_BWD_ROWS + r;
        row_lse[r] = t < T ? lse[stats + t] : 0.0f;
        row_delta[r] = t < T ? delta[stats + t] : 0.0f;
    }

    const int last_query = min(q0 + ATT_WARPS * ATT_BWD_ROWS, T) - 1;
    for (int k0 = 0; k0 <= last_query; k0 += ATT_TILE) {
        __syncthreads();
        load_rows(k_tile, stride, qkv, b, k0, ATT_TILE, 1, h, T, C, HS);
        load_rows(v_tile, stride, qkv, b, k0, ATT_TILE, 2, h, T, C, HS);
        __syncthreads();
#pragma unroll
        for (int r = 0; r < ATT_BWD_ROWS; r++) {
            const int row = warp * ATT_BWD_ROWS + r, i = q0 + row;
            if (i >= T || k0 > i) continue;   // uniform across the warp
            const float* q = q_rows + row * HS;
            const float* g = do_rows + row * HS;
            const float* k = k_tile + lane * stride;
            const float* v = v_tile + lane * stride;
            float score = 0.0f, dp = 0.0f;
            for (int d = 0; d < HS; d++) {
                score += q[d] * k[d];
                dp += g[d] * v[d];
            }
            const float p = (k0 + lane <= i) ? __expf(score * scale - row_lse[r]) : 0.0f;
            const float ds = p * (dp - row_delta[r]);
            const int visible = min(ATT_TILE, i - k0 + 1);
            for (int j = 0; j < visible; j++) {
                const float dsj = __shfl_sync(FULL_MASK, ds, j);
#pragma unroll
                for (int s = 0; s < ATT_SLOTS; s++) {
                    const int d = lane + s * WARP_SIZE;
                    if (d < HS) dq[r][s] += dsj * k_tile[j * stride + d];
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < ATT_BWD_ROWS; r++) {
        const int i = q0 + warp * ATT_BWD_ROWS + r;
        if (i >= T) continue;
#pragma unroll
        for (int s = 0; s < ATT_SLOTS; s++) {
            const int d = lane + s * WARP_SIZE;
            if (d < HS) dqkv[qkv_index(b, i, 0, h, d, T, C, HS)] = to_bf16(dq[r][s] * scale);
        }
    }
}

// out (C) bf16 = causal attention of query row t over rows 0...t of one sequence's qkv (T,3C) bf16, every
// head: the decode step of generation (the earlier rows are the key/value cache). No statistics kept.
// grid NH, block 32 (one warp per head), dynamic shared memory (t+1)·sizeof(float) for the weights.
extern "C" __global__ void attention_forward_row(bf16* out, const bf16* qkv, int t, int C, int NH) {
    DYNAMIC_SHARED(float, weights);
    const int h = blockIdx.x, lane = threadIdx.x, HS = C / NH;
    const float scale = rsqrtf((float)HS);
    const bf16* q = qkv + (size_t)t * 3 * C + (size_t)h * HS;
    float thread_max = -CUDART_INF_F;
    for (int j = lane; j <= t; j += WARP_SIZE) {
        const bf16* k = qkv + (size_t)j * 3 * C + C + (size_t)h * HS;
        float score = 0.0f;
        for (int d = 0; d < HS; d++) score += to_float(q[d]) * to_float(k[d]);
        score *= scale;
        weights[j] = score;
        thread_max = fmaxf(thread_max, score);
    }
    const float row_max = warp_max(thread_max);
    float thread_sum = 0.0f;
    for (int j = lane; j <= t; j += WARP_SIZE) {
        const float p = __expf(weights[j] - row_max);
        weights[j] = p;
        thread_sum += p;
    }
    const float inverse = 1.0f / warp_sum(thread_sum);
    __syncwarp();   // every lane's weights are written before any lane reads them all
    for (int d = lane; d < HS; d += WARP_SIZE) {
        float acc = 0.0f;
        for (int j = 0; j <= t; j++) acc += weights[j] * to_float(qkv[(size_t)j * 3 * C + 2 * C + (size_t)h * HS + d]);
        out[(size_t)h * HS + d] = to_bf16(acc * inverse);
    }
}
