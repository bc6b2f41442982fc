// libCUDAEmulator exports, under their real C names, the CUDA driver and cuBLASLt entry points declared
// in CCUDA/include/ccuda.h; gpt2 opens it with dlopen in place of libcuda.so.1 and libcublasLt.so when
// CUDA_DRIVER_LIB and CUBLASLT_LIB name it. Nothing links against it, so this header declares nothing.
#pragma once
