/// The global gradient norm², in two deterministic steps: each block sums the squares of a fixed
/// grid-strided slice into one partial, then a single block adds the partials in order.
#include "common.cuh"

// partials (gridDim.x) fp32 = per-block Σ grads² over grads (N) fp32.
// grid P (e.g. 2 × SM count, at most 1024), block 512. The result depends only on N and P, not on timing.
extern "C" __global__ void norm_squared_partial(float* partials, const float* grads, size_t N) {
    float sum = 0.0f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x) {
        const float g = grads[i];
        sum += g * g;
    }
    sum = block_sum(sum);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// norm_squared (1) fp32 = Σ partials (P) fp32.  grid 1, block 1024.
extern "C" __global__ void norm_squared_final(float* norm_squared, const float* partials, int P) {
    float sum = 0.0f;
    for (int i = threadIdx.x; i < P; i += blockDim.x) sum += partials[i];
    sum = block_sum(sum);
    if (threadIdx.x == 0) *norm_squared = sum;
}
