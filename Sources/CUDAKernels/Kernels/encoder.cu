/// Token + position embedding, forward and backward: out = wte[token] + wpe[t]; the backward adds dout
/// into the rows of dwte that were looked up and into dwpe's first T rows.
#include "common.cuh"

// out (B,T,C) bf16 = wte (Vp,C) bf16 [inp (B,T) int32] + wpe (maxT,C) bf16 [t]
// grid B*T, block ≥ C/8: one block per position, one thread per 8 channels (16 bytes). C must be a multiple
// of 8 and at most 8·blockDim.x; the kernel traps otherwise.
extern "C" __global__ void encoder_forward(bf16* out, const int* inp, const bf16* wte, const bf16* wpe,
                                           int B, int T, int C) {
    if (C % 8 != 0 || C > 8 * (int)blockDim.x) __trap();
    const int bt = blockIdx.x, c = 8 * threadIdx.x;
    if (bt >= B * T || c >= C) return;
    const Pack8 token = load8(wte + (size_t)inp[bt] * C + c), position = load8(wpe + (size_t)(bt % T) * C + c);
    Pack8 sum;
    for (int k = 0; k < 8; k++) sum.values[k] = to_bf16(to_float(token.values[k]) + to_float(position.values[k]));
    store8(out + (size_t)bt * C + c, sum);
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
