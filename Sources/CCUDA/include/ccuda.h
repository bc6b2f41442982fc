/// The CUDA driver, NVRTC and cuBLASLt types and function-pointer types that gpt2 calls, declared here so
/// that nothing links against CUDA: Swift dlopens the libraries and casts each dlsym result to a PFN_ type.
#ifndef CCUDA_H
#define CCUDA_H

#include <stddef.h>

/* ---- Driver API (libcuda.so.1). Values from cuda.h (CUDA 12/13; stable ABI). ---- */
typedef int CUresult;                              /* 0 == CUDA_SUCCESS */
typedef int CUdevice;
typedef int CUdevice_attribute;
typedef int CUfunction_attribute;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef unsigned long long CUdeviceptr;           /* CUdeviceptr_v2 on 64-bit hosts */

enum {
    CCUDA_SUCCESS = 0,
    CCUDA_ERROR_NO_DEVICE = 100,
    CCUDA_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CCUDA_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
    CCUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CCUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CCUDA_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
    CCUDA_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
};

typedef CUresult (*PFN_cuInit)(unsigned int flags);
typedef CUresult (*PFN_cuDriverGetVersion)(int *version);
typedef CUresult (*PFN_cuDeviceGetCount)(int *count);
typedef CUresult (*PFN_cuDeviceGet)(CUdevice *device, int ordinal);
typedef CUresult (*PFN_cuDeviceGetName)(char *name, int length, CUdevice device);
typedef CUresult (*PFN_cuDeviceTotalMem_v2)(size_t *bytes, CUdevice device);
typedef CUresult (*PFN_cuDeviceGetAttribute)(int *value, CUdevice_attribute attribute, CUdevice device);
typedef CUresult (*PFN_cuDevicePrimaryCtxRetain)(CUcontext *context, CUdevice device);
typedef CUresult (*PFN_cuCtxSetCurrent)(CUcontext context);
typedef CUresult (*PFN_cuModuleLoadData)(CUmodule *module, const void *image);
typedef CUresult (*PFN_cuModuleGetFunction)(CUfunction *function, CUmodule module, const char *name);
typedef CUresult (*PFN_cuFuncSetAttribute)(CUfunction function, CUfunction_attribute attribute, int value);
typedef CUresult (*PFN_cuLaunchKernel)(CUfunction function,
                                       unsigned int gridX, unsigned int gridY, unsigned int gridZ,
                                       unsigned int blockX, unsigned int blockY, unsigned int blockZ,
                                       unsigned int sharedMemoryBytes, CUstream stream,
                                       void **kernelParameters, void **extra);
typedef CUresult (*PFN_cuMemAlloc_v2)(CUdeviceptr *pointer, size_t bytes);
typedef CUresult (*PFN_cuMemFree_v2)(CUdeviceptr pointer);
typedef CUresult (*PFN_cuMemcpyHtoD_v2)(CUdeviceptr destination, const void *source, size_t bytes);
typedef CUresult (*PFN_cuMemcpyDtoH_v2)(void *destination, CUdeviceptr source, size_t bytes);
typedef CUresult (*PFN_cuMemsetD8_v2)(CUdeviceptr destination, unsigned char value, size_t count);
typedef CUresult (*PFN_cuStreamCreate)(CUstream *stream, unsigned int flags);
typedef CUresult (*PFN_cuStreamSynchronize)(CUstream stream);
typedef CUresult (*PFN_cuMemGetInfo_v2)(size_t *freeBytes, size_t *totalBytes);
typedef CUresult (*PFN_cuGetErrorString)(CUresult error, const char **message);

/* ---- NVRTC (libnvrtc.so.13 / .12) ---- */
typedef int nvrtcResult;                           /* 0 == NVRTC_SUCCESS */
typedef struct _nvrtcProgram *nvrtcProgram;

typedef const char *(*PFN_nvrtcGetErrorString)(nvrtcResult result);
typedef nvrtcResult (*PFN_nvrtcVersion)(int *major, int *minor);
typedef nvrtcResult (*PFN_nvrtcCreateProgram)(nvrtcProgram *program, const char *source, const char *name,
                                              int headerCount, const char *const *headers,
                                              const char *const *includeNames);
typedef nvrtcResult (*PFN_nvrtcDestroyProgram)(nvrtcProgram *program);
typedef nvrtcResult (*PFN_nvrtcCompileProgram)(nvrtcProgram program, int optionCount, const char *const *options);
typedef nvrtcResult (*PFN_nvrtcGetPTXSize)(nvrtcProgram program, size_t *size);
typedef nvrtcResult (*PFN_nvrtcGetPTX)(nvrtcProgram program, char *ptx);
typedef nvrtcResult (*PFN_nvrtcGetCUBINSize)(nvrtcProgram program, size_t *size);
typedef nvrtcResult (*PFN_nvrtcGetCUBIN)(nvrtcProgram program, char *cubin);
typedef nvrtcResult (*PFN_nvrtcGetProgramLogSize)(nvrtcProgram program, size_t *size);
typedef nvrtcResult (*PFN_nvrtcGetProgramLog)(nvrtcProgram program, char *log);

/* ---- cuBLASLt (libcublasLt.so.13 / .12); GEMM descriptors come with the GPU session ---- */
typedef int cublasStatus_t;                        /* 0 == CUBLAS_STATUS_SUCCESS */
typedef struct cublasLtContext *cublasLtHandle_t;

typedef cublasStatus_t (*PFN_cublasLtCreate)(cublasLtHandle_t *handle);
typedef cublasStatus_t (*PFN_cublasLtDestroy)(cublasLtHandle_t handle);
typedef size_t (*PFN_cublasLtGetVersion)(void);

#endif
