// Host stand-in for CUDA's <cuda_bf16.h>, for the emulator only: the bf16 storage type, the two conversions
// the kernels use and the raw bits. Round-to-nearest-even as the GPU's cvt.rn.bf16.f32; NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
    uint16_t bits;
};

inline float __bfloat162float(__nv_bfloat16 value) {
    const uint32_t widened = uint32_t(value.bits) << 16;
    float result;
    std::memcpy(&result, &widened, 4);
    return result;
}

inline __nv_bfloat16 __float2bfloat16_rn(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return {uint16_t((bits >> 16) | 0x0040u)};   // quiet NaN
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return {uint16_t(bits >> 16)};
}

inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 value) { return value.bits; }
