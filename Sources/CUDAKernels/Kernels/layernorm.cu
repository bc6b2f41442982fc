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

// dinp (N,C) bf16 += from dout (N,C) bf16, given inp (N,C) bf16, weight (C) bf16 and the forward's
// mean, rstd (N) fp32. dinp accumulates because it is the residual stream's gradient: this is the residual
// add's backward fused with LayerNorm's. dweight and dbias come from layernorm_backward_params_partial.
// C a multiple of 8. grid ceil(N / 8), block 256: one warp per row.
extern "C" __global__ void layernorm_backward_input(bf16* dinp, const bf16* dout, const bf16* inp, const bf16* weight,
                                                    const float* mean, const float* rstd, int N, int C) {
    const int row = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE;
    if (row >= N) return;   // whole warps leave together
    const int lane = threadIdx.x % WARP_SIZE;
    const size_t offset = (size_t)row * C;
    const float m = mean[row], s = rstd[row];
    // The two row means the gradient needs: mean(dnorm) and mean(dnorm · xhat), dnorm = weight · dout.
    float dnorm_sum = 0.0f, dnorm_xhat_sum = 0.0f;
    for (int c = 8 * lane; c < C; c += 8 * WARP_SIZE) {
        const Pack8 x = load8(inp + offset + c), w = load8(weight + c), g = load8(dout + offset + c);
        for (int k = 0; k < 8; k++) {
            const float xhat = (to_float(x.values[k]) - m) * s;
            const float dnorm = to_float(w.values[k]) * to_float(g.values[k]);
            dnorm_sum += dnorm;
            dnorm_xhat_sum += dnorm * xhat;
        }
    }
    const float dnorm_mean = warp_sum(dnorm_sum) / C;
    const float dnorm_xhat_mean = warp_sum(dnorm_xhat_sum) / C;
    for (int c = 8 * lane; c < C; c += 8 * WARP_SIZE) {
        const Pack8 x = load8(inp + offset + c), w = load8(weight + c), g = load8(dout + offset + c);
        Pack8 d = load8(dinp + offset + c);
        for (int k = 0; k < 8; k++) {
            const float xhat = (to_float(x.values[k]) - m) * s;
            const float dnorm = to_float(w.values[k]) * to_float(g.values[k]);
            const float dx = (dnorm - dnorm_mean - xhat * dnorm_xhat_mean) * s;
            d.values[k] = to_bf16(to_float(d.values[k]) + dx);
        }
        store8(dinp + offset + c, d);
    }
}

// partials (R, 2C) fp32: [r][c] = Σ dout·xhat (dweight), [r][C + c] = Σ dout (dbias) over row group r
// of dout, inp (N,C) bf16 with xhat = (inp − mean)·rstd. partials_accumulate then adds the R groups in
// order into dweight and dbias (no atomics: deterministic). grid (ceil(C/32), R), block (32, 8), as
// bias_backward_partial.
extern "C" __global__ void layernorm_backward_params_partial(float* partials, const bf16* dout, const bf16* inp,
                                                             const float* mean, const float* rstd, int N, int C) {
    __shared__ float weight_sums[8][WARP_SIZE];
    __shared__ float bias_sums[8][WARP_SIZE];
    const int c = blockIdx.x * WARP_SIZE + threadIdx.x;
    float weight_sum = 0.0f, bias_sum = 0.0f;
    if (c < C)
        for (int row = blockIdx.y * blockDim.y + threadIdx.y; row < N; row += gridDim.y * blockDim.y) {
            const size_t i = (size_t)row * C + c;
            const float g = to_float(dout[i]);
            weight_sum += g * (to_float(inp[i]) - mean[row]) * rstd[row];
            bias_sum += g;
        }
    weight_sums[threadIdx.y][threadIdx.x] = weight_sum;
    bias_sums[threadIdx.y][threadIdx.x] = bias_sum;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int y = 1; y < blockDim.y; y++) {
            weight_sum += weight_sums[y][threadIdx.x];
            bias_sum += bias_sums[y][threadIdx.x];
        }
        partials[(size_t)blockIdx.y * 2 * C + c] = weight_sum;
        partials[(size_t)blockIdx.y * 2 * C + C + c] = bias_sum;
    }
}
