/// LayerNorm forward (alone, and fused with the residual add that precedes it in every block) and
/// backward. One warp per row of C channels; statistics in fp32; eps 1e-5 as GPT-2.
#include "common.cuh"

#define LAYERNORM_EPS 1e-5f

// Normalises one row x (C) bf16 in global memory into out (C) bf16 and writes its mean and rstd.
// Called by all 32 lanes of a warp; lane l handles the 8-channel chunks l, l+32, … (C is a multiple of 8),
// reading x three times (from cache after the first).
__device__ void layernorm_row(bf16* out, float* mean, float* rstd, const bf16* x,
                              const bf16* weight, const bf16* bias, int C, int lane) {
    float sum = 0.0f;
    for (int c = 8 * lane; c < C; c += 8 * WARP_SIZE) {
        const Pack8 v = load8(x + c);
        for (int k = 0; k < 8; k++) sum += to_float(v.values[k]);
    }
    const float m = warp_sum(sum) / C;
    float squares = 0.0f;
    for (int c = 8 * lane; c < C; c += 8 * WARP_SIZE) {
        const Pack8 v = load8(x + c);
        for (int k = 0; k < 8; k++) {
            const float d = to_float(v.values[k]) - m;
            squares += d * d;
        }
    }
    const float s = rsqrtf(warp_sum(squares) / C + LAYERNORM_EPS);
    for (int c = 8 * lane; c < C; c += 8 * WARP_SIZE) {
        const Pack8 v = load8(x + c), w = load8(weight + c), b = load8(bias + c);
        Pack8 o;
        for (int k = 0; k < 8; k++)
            o.values[k] = to_bf16((to_float(v.values[k]) - m) * s * to_float(w.values[k]) + to_float(b.values[k]));
        store8(out + c, o);
    }
    if (lane == 0) {
        *mean = m;
        *rstd = s;
    }
}

// out (N,C) bf16, mean (N) fp32, rstd (N) fp32 = layernorm(inp (N,C) bf16) · weight (C) + bias (C)
// N = B*T rows, C a multiple of 8. grid ceil(N / 8), block 256: one warp per row.
extern "C" __global__ void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* inp,
                                             const bf16* weight, const bf16* bias, int N, int C) {
    const int row = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE;
    if (row >= N) return;   // whole warps leave together
    const size_t offset = (size_t)row * C;
    layernorm_row(out + offset, mean + row, rstd + row, inp + offset, weight, bias, C, threadIdx.x % WARP_SIZE);
}

// residual_out (N,C) bf16 = residual (N,C) bf16 + x (N,C) bf16;
// out (N,C) bf16, mean (N), rstd (N) fp32 = layernorm(residual_out) · weight (C) + bias (C)
// The sum is rounded to bf16 before it is normalised, so the backward (which reads residual_out) sees
// exactly the values the forward used. C a multiple of 8. grid ceil(N / 8), block 256: one warp per row.
extern "C" __global__ void residual_layernorm_forward(bf16* residual_out, bf16* out, float* mean, float* rstd,
                                                      const bf16* residual, const bf16* x,
                                                      const bf16* weight, const bf16* bias, int N, int C) {
    const int row = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE;
    if (row >= N) return;
    const int lane = threadIdx.x % WARP_SIZE;
    const size_t offset = (size_t)row * C;
    for (int c = 8 * lane; c < C; c += 8 * WARP_SIZE) {   // each lane later re-reads only the chunks it wrote
        const Pack8 a = load8(residual + offset + c), b = load8(x + offset + c);
        Pack8 sum;
        for (int k = 0; k < 8; k++) sum.values[k] = to_bf16(to_float(a.values[k]) + to_float(b.values[k]));
        store8(residual_out + offset + c, sum);
    }
    layernorm_row(out + offset, mean + row, rstd + row, residual_out + offset, weight, bias, C, lane);
}

// The LayerNorm backward in one kernel, with the residual add's backward fused in:
//   dinp (N,C) bf16 += dx, from dout (N,C) bf16, inp (N,C) bf16, weight (C) bf16 and the forward's mean, rstd (N)
//   fp32 (dinp accumulates: it is the residual stream's gradient);
//   partials (R, 2C) fp32: [r][c] = Σ dout·xhat (dweight), [r][C + c] = Σ dout (dbias) over block r's rows,
// xhat = (inp − mean)·rstd. partials_accumulate then adds the R rows in order into dweight and dbias: no atomics,
// so the result never depends on timing, and R is the caller's, so it is the same on every GPU.
// One warp per row: block r's warps take rows r·W + w, then every R·W rows after (W warps per block); lane l
// handles the 8-channel chunks l, l+32, … (C a multiple of 8). Each warp sums its rows' parameter terms in its own
// 2C floats of shared memory, stored as [k][chunk] for channel 8·chunk + k, so that the 32 lanes touch 32
// consecutive floats (no bank conflicts) and no two lanes share one; at the end the block adds its warps' sums in
// warp order. Each row is read twice (the second time from cache): once for the two row means, once for the rest.
// grid R, block W·32, dynamic shared memory W·2C·4 bytes (the kernel traps when given less).
extern "C" __global__ void layernorm_backward(bf16* dinp, float* partials, const bf16* dout, const bf16* inp,
                                              const bf16* weight, const float* mean, const float* rstd, int N, int C) {
    DYNAMIC_SHARED(float, warp_sums);   // [warp][2C]
    const int warps = blockDim.x / WARP_SIZE, warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    if (dynamic_shared_bytes() < (unsigned)(warps * 2 * C * 4)) __trap();
    const int chunks = C / 8;
    float* weight_sums = warp_sums + (size_t)warp * 2 * C;   // channel 8q + k at k·chunks + q
    float* bias_sums = weight_sums + C;
    for (int q = lane; q < chunks; q += WARP_SIZE)
        for (int k = 0; k < 8; k++) weight_sums[k * chunks + q] = bias_sums[k * chunks + q] = 0.0f;

    for (int row = blockIdx.x * warps + warp; row < N; row += gridDim.x * warps) {
        const size_t offset = (size_t)row * C;
        const float m = mean[row], s = rstd[row];
        // The two row means the gradient needs: mean(dnorm) and mean(dnorm · xhat), dnorm = weight · dout.
        float dnorm_sum = 0.0f, dnorm_xhat_sum = 0.0f;
        for (int q = lane; q < chunks; q += WARP_SIZE) {
            const Pack8 x = load8(inp + offset + 8 * q), w = load8(weight + 8 * q), g = load8(dout + offset + 8 * q);
            for (int k = 0; k < 8; k++) {
                const float xhat = (to_float(x.values[k]) - m) * s;
                const float dnorm = to_float(w.values[k]) * to_float(g.values[k]);
                dnorm_sum += dnorm;
                dnorm_xhat_sum += dnorm * xhat;
            }
        }
        const float dnorm_mean = warp_sum(dnorm_sum) / C;
        const float dnorm_xhat_mean = warp_sum(dnorm_xhat_sum) / C;
        for (int q = lane; q < chunks; q += WARP_SIZE) {
            const Pack8 x = load8(inp + offset + 8 * q), w = load8(weight + 8 * q), g = load8(dout + offset + 8 * q);
            Pack8 d = load8(dinp + offset + 8 * q);
            for (int k = 0; k < 8; k++) {
                const float xhat = (to_float(x.values[k]) - m) * s;
                const float gradient = to_float(g.values[k]);
                const float dnorm = to_float(w.values[k]) * gradient;
                d.values[k] = to_bf16(to_float(d.values[k]) + (dnorm - dnorm_mean - xhat * dnorm_xhat_mean) * s);
                weight_sums[k * chunks + q] += gradient * xhat;
                bias_sums[k * chunks + q] += gradient;
            }
            store8(dinp + offset + 8 * q, d);
        }
    }

    __syncthreads();
    for (int i = threadIdx.x; i < 2 * C; i += blockDim.x) {   // i: channel c of the weight half, C + c of the bias half
        const int c = i % C, at = i - c + (c % 8) * chunks + c / 8;
        float total = 0.0f;
        for (int w = 0; w < warps; w++) total += warp_sums[(size_t)w * 2 * C + at];
        partials[(size_t)blockIdx.x * 2 * C + i] = total;
    }
}
