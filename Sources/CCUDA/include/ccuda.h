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
typedef struct CUevent_st *CUevent;
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
typedef CUresult (*PFN_cuMemsetD8Async)(CUdeviceptr destination, unsigned char value, size_t count, CUstream stream);
typedef CUresult (*PFN_cuStreamCreate)(CUstream *stream, unsigned int flags);
typedef CUresult (*PFN_cuStreamSynchronize)(CUstream stream);
typedef CUresult (*PFN_cuMemHostAlloc)(void **pointer, size_t bytes, unsigned int flags);
typedef CUresult (*PFN_cuMemFreeHost)(void *pointer);
typedef CUresult (*PFN_cuMemcpyHtoDAsync_v2)(CUdeviceptr destination, const void *source, size_t bytes, CUstream stream);
typedef CUresult (*PFN_cuEventCreate)(CUevent *event, unsigned int flags);
typedef CUresult (*PFN_cuEventRecord)(CUevent event, CUstream stream);
typedef CUresult (*PFN_cuEventSynchronize)(CUevent event);
typedef CUresult (*PFN_cuEventDestroy_v2)(CUevent event);
typedef CUresult (*PFN_cuEventElapsedTime)(float *milliseconds, CUevent start, CUevent end);
typedef CUresult (*PFN_cuMemGetInfo_v2)(size_t *freeBytes, size_t *totalBytes);
typedef CUresult (*PFN_cuGetErrorString)(CUresult error, const char **message);

/* ---- NVRTC (libnvrtc.so.13 / .12) ---- */
typedef int nvrtcResult;                           /* 0 == NVRTC_SUCCESS */
typedef struct _nvrtcProgram *nvrtcProgram;

typedef const char *(*PFN_nvrtcGetErrorString)(nvrtcResult result);
typedef nvrtcResult (*PFN_nvrtcVersion)(int *major, int *minor);
typedef nvrtcResult (*PFN_nvrtcGetNumSupportedArchs)(int *count);
typedef nvrtcResult (*PFN_nvrtcGetSupportedArchs)(int *architectures);   /* 89 for sm_89, ascending */
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

/* ---- cuBLASLt (libcublasLt.so.13 / .12) ----
 * Every numeric value below is copied from the public headers: library_types.h (cudaDataType_t),
 * cublas_api.h (cublasComputeType_t, cublasOperation_t) and cublasLt.h (attributes, epilogues), which
 * have kept these values since CUDA 11.x. Struct layouts are cublasLt.h's (ABI-stable). */
#include <stdint.h>
typedef int cublasStatus_t;                        /* 0 == CUBLAS_STATUS_SUCCESS */
typedef struct cublasLtContext *cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque_t *cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque_t *cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque_t *cublasLtMatmulPreference_t;

/* cublasLt.h: typedef struct { uint64_t data[8]; } cublasLtMatmulAlgo_t; */
typedef struct { uint64_t data[8]; } cublasLtMatmulAlgo_t;
/* cublasLt.h: algo, workspaceSize, state, wavesCount, reserved[4] (96 bytes). */
typedef struct {
    cublasLtMatmulAlgo_t algo;
    size_t workspaceSize;
    cublasStatus_t state;
    float wavesCount;
    int reserved[4];
} cublasLtMatmulHeuristicResult_t;

enum {
    /* cublas_api.h, cublasStatus_t */
    CCUBLAS_STATUS_SUCCESS = 0,
    CCUBLAS_STATUS_EXECUTION_FAILED = 13,
    CCUBLAS_STATUS_NOT_SUPPORTED = 15,             /* from the heuristic: no algorithm for this configuration */
    /* library_types.h, cudaDataType_t */
    CCUDA_R_32F = 0,
    CCUDA_R_16BF = 14,
    /* cublas_api.h, cublasComputeType_t */
    CCUBLAS_COMPUTE_32F = 68,
    /* cublas_api.h, cublasOperation_t */
    CCUBLAS_OP_N = 0,
    CCUBLAS_OP_T = 1,
    /* cublasLt.h, cublasLtMatmulDescAttributes_t */
    CCUBLASLT_MATMUL_DESC_TRANSA = 3,              /* int32_t */
    CCUBLASLT_MATMUL_DESC_TRANSB = 4,              /* int32_t */
    CCUBLASLT_MATMUL_DESC_EPILOGUE = 7,            /* uint32_t */
    CCUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,        /* const void * */
    CCUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER = 11, /* void *: GELU input, D's type */
    CCUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD = 12,    /* int64_t, a multiple of 8, at least D's rows */
    CCUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE = 26,     /* int32_t cudaDataType_t of the bias (gradient); -1: D's type */
    /* cublasLt.h, cublasLtEpilogue_t */
    CCUBLASLT_EPILOGUE_DEFAULT = 1,
    CCUBLASLT_EPILOGUE_BIAS = 4,
    CCUBLASLT_EPILOGUE_GELU_AUX_BIAS = 164,        /* (GELU 32 | AUX 128) | BIAS 4 */
    CCUBLASLT_EPILOGUE_DGELU = 192,                /* 64 | AUX 128 */
    CCUBLASLT_EPILOGUE_BGRADB = 512,               /* bias pointer = Σ over k of op(B): one value per column of D */
    /* cublasLt.h, cublasLtMatmulPreferenceAttributes_t */
    CCUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1, /* uint64_t */
    CCUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5, /* uint32_t: the alignment A's pointer is promised to have */
    CCUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6, /* uint32_t */
    CCUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7, /* uint32_t */
    CCUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8, /* uint32_t */
};

typedef cublasStatus_t (*PFN_cublasLtCreate)(cublasLtHandle_t *handle);
typedef cublasStatus_t (*PFN_cublasLtDestroy)(cublasLtHandle_t handle);
typedef size_t (*PFN_cublasLtGetVersion)(void);
typedef const char *(*PFN_cublasLtGetStatusString)(cublasStatus_t status);
typedef cublasStatus_t (*PFN_cublasLtMatmulDescCreate)(cublasLtMatmulDesc_t *desc, int computeType, int scaleType);
typedef cublasStatus_t (*PFN_cublasLtMatmulDescDestroy)(cublasLtMatmulDesc_t desc);
typedef cublasStatus_t (*PFN_cublasLtMatmulDescSetAttribute)(cublasLtMatmulDesc_t desc, int attribute,
                                                             const void *value, size_t size);
typedef cublasStatus_t (*PFN_cublasLtMatrixLayoutCreate)(cublasLtMatrixLayout_t *layout, int type,
                                                         uint64_t rows, uint64_t cols, int64_t ld);
typedef cublasStatus_t (*PFN_cublasLtMatrixLayoutDestroy)(cublasLtMatrixLayout_t layout);
typedef cublasStatus_t (*PFN_cublasLtMatmulPreferenceCreate)(cublasLtMatmulPreference_t *preference);
typedef cublasStatus_t (*PFN_cublasLtMatmulPreferenceDestroy)(cublasLtMatmulPreference_t preference);
typedef cublasStatus_t (*PFN_cublasLtMatmulPreferenceSetAttribute)(cublasLtMatmulPreference_t preference,
                                                                   int attribute, const void *value, size_t size);
typedef cublasStatus_t (*PFN_cublasLtMatmulAlgoGetHeuristic)(
    cublasLtHandle_t handle, cublasLtMatmulDesc_t operation, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
    cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d, cublasLtMatmulPreference_t preference,
    int requestedCount, cublasLtMatmulHeuristicResult_t *results, int *returnedCount);
typedef cublasStatus_t (*PFN_cublasLtMatmul)(
    cublasLtHandle_t handle, cublasLtMatmulDesc_t operation, const void *alpha,
    const void *a, cublasLtMatrixLayout_t aLayout, const void *b, cublasLtMatrixLayout_t bLayout,
    const void *beta, const void *c, cublasLtMatrixLayout_t cLayout, void *d, cublasLtMatrixLayout_t dLayout,
    const cublasLtMatmulAlgo_t *algo, void *workspace, size_t workspaceBytes, CUstream stream);

#endif
