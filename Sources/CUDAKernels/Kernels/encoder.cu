/// Token + position embedding, forward and backward: out = wte[token] + wpe[t]; the backward adds dout
/// into the rows of dwte that were looked up and into dwpe's first T rows.
#include "common.cuh"

// out (B,T,C) bf16 = wte (Vp,C) bf16 [inp (B,T) int32] + wpe (maxT,C) bf16 [t]
// grid ceil(B*T*C / 256), block 256: one thread per output element.
extern "C" __global__ void encoder_forward(bf16* out, const int* inp, const bf16* wte, const bf16* wpe,
                                           int B, int T, int C) {
    const size_t total = (size_t)B * T * C;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const size_t bt = i / C;
        const int c = (int)(i % C), t = (int)(bt % T);
        const int token = inp[bt];
        out[i] = to_bf16(to_float(wte[(size_t)token * C + c]) + to_float(wpe[(size_t)t * C + c]));
    }
}

// dwpe (maxT,C) fp32 [0..<T] += Σ_b dout (B,T,C) bf16 [b, t]
// grid ceil(T*C / 256), block 256: one thread per (t, c), summing over the batch in order (deterministic).
extern "C" __global__ void encoder_backward_wpe(float* dwpe, const bf16* dout, int B, int T, int C) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;   // i = t*C + c
    if (i >= T * C) return;
    float sum = 0.0f;
    for (int b = 0; b < B; b++) sum += to_float(dout[(size_t)b * T * C + i]);
    dwpe[i] += sum;
}

// dwte (Vp,C) fp32 [token] += Σ dout (B,T,C) bf16 [p] over the positions p that hold the token.
// The host groups positions by token (it uploaded the tokens, so it has them): bucket u covers token
// bucket_tokens[u] and positions[bucket_starts[u] ..< bucket_starts[u+1]] (ascending). One thread owns
// one (token, channel) and adds its positions in order: no atomics, so the result is deterministic.
// grid (buckets, ceil(C / 256)), block 256.
extern "C" __global__ void encoder_backward_wte(float* dwte, const bf16* dout, const int* bucket_tokens,
                                                const int* bucket_starts, const int* positions, int C) {
    const int u = blockIdx.x;
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float sum = 0.0f;
    for (int k = bucket_starts[u]; k < bucket_starts[u + 1]; k++) sum += to_float(dout[(size_t)positions[k] * C + c]);
    dwte[(size_t)bucket_tokens[u] * C + c] += sum;
}
