// Host stand-in for CUDA's <math_constants.h>, for the emulator only: the constants the kernels use.
#pragma once

#define CUDART_INF_F __builtin_huge_valf()
