/// GELU (tanh approximation), forward and backward, elementwise on bf16 with fp32 math.
/// The MLP's 4C-wide activation is the only place GPT-2 uses it.
#include "common.cuh"

// out (N) bf16 = gelu(inp (N) bf16). N = B*T*4C. grid ceil(N / 256) (or fewer: grid-stride), block 256.
extern "C" __global__ void gelu_forward(bf16* out, const bf16* inp, size_t N) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x) {
        const float x = to_float(inp[i]);
        const float inner = GELU_SCALE * (x + GELU_CUBIC * x * x * x);
        out[i] = to_bf16(0.5f * x * (1.0f + tanhf(inner)));
    }
}

// dinp (N) bf16 = gelu'(inp (N) bf16) · dout (N) bf16. dinp may be the same buffer as dout (in place).
// grid ceil(N / 256) (or fewer: grid-stride), block 256.
extern "C" __global__ void gelu_backward(bf16* dinp, const bf16* inp, const bf16* dout, size_t N) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x) {
        const float x = to_float(inp[i]);
        const float inner = GELU_SCALE * (x + GELU_CUBIC * x * x * x);
        const float th = tanhf(inner);
        const float dinner = GELU_SCALE * (1.0f + 3.0f * GELU_CUBIC * x * x);
        const float grad = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * dinner;
        dinp[i] = to_bf16(grad * to_float(dout[i]));
    }
}
