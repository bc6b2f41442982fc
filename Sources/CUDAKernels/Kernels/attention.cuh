/// What both attention kernel files share: where Q, K and V of a head lie in the (B,T,3C) qkv tensor.
#pragma once

#include "common.cuh"

// Index of element d of row t's part (0 = Q, 1 = K, 2 = V) for head h of sequence b.
__device__ __forceinline__ size_t qkv_index(int b, int t, int part, int h, int d, int T, int C, int HS) {
    return ((size_t)b * T + t) * 3 * C + (size_t)part * C + (size_t)h * HS + d;
}
