/// Small elementwise and reduction utilities: the residual add, fp32 ↔ bf16 casts (launched only by the device
/// tests and the self-test, which check common.cuh's rounding with them: the backend rounds its uploads on the host), and a bias add
/// and bias gradient for GEMMs run without a cuBLASLt bias epilogue.
#include "common.cuh"

// out (N) bf16 = a (N) bf16 + b (N) bf16.  grid ceil(N / 256) or fewer (grid-stride), block 256.
extern "C" __global__ void residual_forward(bf16* out, const bf16* a, const bf16* b, size_t N) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x)
        out[i] = to_bf16(to_float(a[i]) + to_float(b[i]));
}

// out (N) bf16 = inp (N) fp32, rounded to nearest even.  grid-stride, block 256.
extern "C" __global__ void cast_float_to_bf16(bf16* out, const float* inp, size_t N) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x)
        out[i] = to_bf16(inp[i]);
}

// out (N) fp32 = inp (N) bf16 (exact).  grid-stride, block 256.
extern "C" __global__ void cast_bf16_to_float(float* out, const bf16* inp, size_t N) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x)
        out[i] = to_float(inp[i]);
}

// out (N,OC) bf16 += bias (OC) bf16, N = B*T rows.  grid-stride over N*OC, block 256.
extern "C" __global__ void bias_forward(bf16* out, const bf16* bias, size_t N, int OC) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < N * OC; i += (size_t)gridDim.x * blockDim.x)
        out[i] = to_bf16(to_float(out[i]) + to_float(bias[i % OC]));
}

// The sum over a block's rows of threads of each column's `value`, added in order of threadIdx.y, so that it
// never depends on timing: block (32, Y ≤ 32), thread (x, y) holding its part of column x. The total is valid
// where threadIdx.y == 0. Every thread of the block must call it (it waits at a barrier).
__device__ __forceinline__ float column_total(float value) {
    __shared__ float sums[32][WARP_SIZE + 1];
    sums[threadIdx.y][threadIdx.x] = value;
    __syncthreads();
    if (threadIdx.y == 0)
        for (int y = 1; y < blockDim.y; y++) value += sums[y][threadIdx.x];
    return value;
}

// partials (R,OC) fp32 = per-row-group column sums of dout (N,OC) bf16, R = gridDim.y row groups.
// First stage of dbias += Σ_rows dout; partials_accumulate adds the R partials in a fixed order, so the result
// never depends on timing (no atomics). grid (ceil(OC/32), R), block (32, 8): thread (x, y) sums column
// c = blockIdx.x*32 + x over rows y + 8·(blockIdx.y + R·k); column_total adds the 8 sums.
extern "C" __global__ void bias_backward_partial(float* partials, const bf16* dout, int N, int OC) {
    const int c = blockIdx.x * WARP_SIZE + threadIdx.x;
    float sum = 0.0f;
    if (c < OC)
        for (int row = blockIdx.y * blockDim.y + threadIdx.y; row < N; row += gridDim.y * blockDim.y)
            sum += to_float(dout[(size_t)row * OC + c]);
    sum = column_total(sum);
    if (threadIdx.y == 0 && c < OC) partials[(size_t)blockIdx.y * OC + c] = sum;
}

// out (count) fp32 += Σ_{r<R} partials[r·stride + i], in a fixed order (deterministic): thread (x, y) sums rows
// y, y + 32, … of column i = 32·blockIdx.x + x, then column_total adds the 32 sums. Many rows (the LayerNorm
// backward's hundreds of blocks) are read by 32 threads per column, not walked by one thread alone.
// grid ceil(count / 32), block (32, 32).
extern "C" __global__ void partials_accumulate(float* out, const float* partials, int R, int count, int stride) {
    const int i = blockIdx.x * WARP_SIZE + threadIdx.x;
    float sum = 0.0f;
    if (i < count)
        for (int r = threadIdx.y; r < R; r += blockDim.y) sum += partials[(size_t)r * stride + i];
    sum = column_total(sum);
    if (threadIdx.y == 0 && i < count) out[i] += sum;
}
