// The CUDA versions the emulator claims to be: its driver's (cuDriverGetVersion) and its cuBLASLt's
// (cublasLtGetVersion), each 13.0's unless a setting names another, so that tests can pair a driver with libraries
// of another CUDA. cuInit fails on a setting that is not a version.
#pragma once

namespace cuemu {

/// The CUDA version the driver runs, 1000·major + 10·minor: 13000 unless GPT2_CUDA_EMULATOR_DRIVER_VERSION names
/// another (12040 for a driver of CUDA 12.4); 0 when that is not such a version.
int driver_version();

/// cuBLASLt's version, 10000·major + 100·minor + patch: 130000 unless GPT2_CUDA_EMULATOR_CUBLASLT_VERSION names
/// another (120402 for 12.4.2); 0 when that is not such a version.
int cublaslt_version();

}  // namespace cuemu
