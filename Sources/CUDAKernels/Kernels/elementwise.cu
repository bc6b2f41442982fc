/// Small elementwise and reduction utilities: the residual add, fp32 ↔ bf16 casts, and a bias add and
/// bias gradient for GEMMs run without a cuBLASLt bias epilogue.
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

// dbias (OC) fp32 += Σ_rows dout (N,OC) bf16.
// grid (ceil(OC/32), R) with R row groups (e.g. 2 × SM count / blocks in x), block (32, 8): thread
// (x, y) sums column c = blockIdx.x*32 + x over rows y + 8·(blockIdx.y + R·k); the 8 partials are added
// in shared memory in a fixed order, then once into dbias with atomicAdd (one per block and column).
extern "C" __global__ void bias_backward(float* dbias, const bf16* dout, int N, int OC) {
    __shared__ float partials[8][WARP_SIZE];
    const int c = blockIdx.x * WARP_SIZE + threadIdx.x;
    float sum = 0.0f;
    if (c < OC)
        for (int row = blockIdx.y * blockDim.y + threadIdx.y; row < N; row += gridDim.y * blockDim.y)
            sum += to_float(dout[(size_t)row * OC + c]);
    partials[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && c < OC) {
        for (int y = 1; y < blockDim.y; y++) sum += partials[y][threadIdx.x];
        atomicAdd(&dbias[c], sum);
    }
}
