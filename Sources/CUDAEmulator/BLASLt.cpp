// The cuBLASLt entry points gpt2 uses (see CCUDA/include/ccuda.h), on the CPU. Descriptors record their
// attributes; the heuristic validates the whole GEMM (types, shapes, leading dimensions, epilogue) and
// returns one "algorithm" that remembers the alignments it was asked to assume; the matmul checks every
// operand against the device allocations and those alignments, then computes
//   D = α·op(A)·op(B) + β·C (+ bias broadcast over D's columns)
// with bf16 inputs widened exactly to fp32, an fp32 GEMM of its own (the same bits on any CPU), and one rounding
// to D's type; with BGRADB, the bias pointer also receives op(B)'s column sums (over k). A test can make the heuristic
// refuse one epilogue (cuemu_refuse_epilogue), as a GPU's cuBLASLt may, to exercise the backend's fallback,
// and make the next matmul fail (cuemu_fail_next_matmul), as a faulting GPU's does, to see that the backend
// reports that failure rather than taking it for a missing algorithm.

#include <algorithm>
#include <atomic>
#include <cmath>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "DeviceMemory.h"
#include "LastError.h"
#include "Versions.h"
#include "ccuda.h"
#include "device/cuda_bf16.h"

using namespace cuemu;

namespace {

// cublas_api.h's cublasStatus_t values the emulator returns.
enum : int { success = 0, notInitialized = 1, invalidValue = 7, executionFailed = 13, notSupported = 15 };

struct MatmulDesc {
    int computeType, scaleType;
    int32_t transA = CCUBLAS_OP_N, transB = CCUBLAS_OP_N;
    uint32_t epilogue = CCUBLASLT_EPILOGUE_DEFAULT;
    uint64_t bias = 0;   // read by BIAS and GELU_AUX_BIAS, written by BGRADB
    int32_t biasType = -1;   // CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: -1 is D's type
    uint64_t aux = 0;    // GELU input: written by GELU_AUX_BIAS, read by DGELU (D's type)
    int64_t auxLd = 0;
};

// GELU with the tanh approximation (the cuBLAS documentation's definition), and its derivative.
constexpr float geluScale = 0.7978845608028654f, geluCubic = 0.044715f;
float gelu(float x) { return 0.5f * x * (1.0f + tanhf(geluScale * (x + geluCubic * x * x * x))); }
float geluDerivative(float x) {
    const float th = tanhf(geluScale * (x + geluCubic * x * x * x));
    return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * geluScale * (1.0f + 3.0f * geluCubic * x * x);
}

struct Layout {
    int type;
    uint64_t rows, columns;
    int64_t ld;
};

struct Preference {
    uint64_t workspaceBytes = 0;
    uint32_t alignment[4] = {256, 256, 256, 256};   // A, B, C, D: what the caller promises
};

/// What the emulator's one algorithm per GEMM stores in cublasLtMatmulAlgo_t: a tag and the alignments.
constexpr uint64_t algorithmTag = 0x67707432656d75;   // "gpt2emu"

int handleToken;

/// The epilogue the heuristic finds no algorithm for (0: none), set by cuemu_refuse_epilogue.
std::atomic<uint32_t> refusedEpilogue{0};

/// How the heuristic reports that refusal, set by cuemu_set_refusal_form: each way cublasLt.h allows for "no
/// algorithm". 0: CUBLAS_STATUS_NOT_SUPPORTED; 1: success with no result; 2: success with one result whose
/// `state` is CUBLAS_STATUS_NOT_SUPPORTED (only results whose state is success are valid).
std::atomic<int> refusalForm{0};

/// The status the next cublasLtMatmul returns without computing anything (0: none), set by cuemu_fail_next_matmul.
std::atomic<int> nextMatmulFailure{0};

template <typename Attribute>
bool take(Attribute& field, const void* value, size_t size) {
    if (!value || size != sizeof(Attribute)) return false;
    std::memcpy(&field, value, sizeof(Attribute));
    return true;
}

/// The bias vector's type: CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, or D's when it was not set.
int biasType(const MatmulDesc& op, const Layout& d) { return op.biasType == -1 ? d.type : op.biasType; }

const char* typeName(int type) { return type == CCUDA_R_16BF ? "bf16" : type == CCUDA_R_32F ? "fp32" : "unsupported"; }
size_t typeBytes(int type) { return type == CCUDA_R_16BF ? 2 : 4; }

std::string shape(const Layout& layout) {
    return std::to_string(layout.rows) + "×" + std::to_string(layout.columns) + " " + typeName(layout.type) + " ld " +
           std::to_string(layout.ld);
}

/// Checks the GEMM the descriptors describe; an empty string when cuBLASLt would accept it.
std::string validate(const MatmulDesc& op, const Layout& a, const Layout& b, const Layout& c, const Layout& d) {
    if (op.computeType != CCUBLAS_COMPUTE_32F || op.scaleType != CCUDA_R_32F) return "only fp32 compute and scale are emulated";
    if (a.type != CCUDA_R_16BF || b.type != CCUDA_R_16BF) return "A and B must be bf16";
    if (d.type != CCUDA_R_16BF && d.type != CCUDA_R_32F) return "D must be bf16 or fp32";
    if (c.type != d.type || c.rows != d.rows || c.columns != d.columns) return "C must have D's type and shape";
    for (const Layout* layout : {&a, &b, &c, &d})
        if (layout->rows == 0 || layout->columns == 0 || layout->ld < int64_t(layout->rows))
            return "layout " + shape(*layout) + ": the leading dimension must be at least the rows (column-major)";
    const uint64_t m = d.rows, n = d.columns;
    const uint64_t aRows = op.transA == CCUBLAS_OP_N ? a.rows : a.columns, k = op.transA == CCUBLAS_OP_N ? a.columns : a.rows;
    const uint64_t bRows = op.transB == CCUBLAS_OP_N ? b.rows : b.columns, bColumns = op.transB == CCUBLAS_OP_N ? b.columns : b.rows;
    if (aRows != m || bRows != k || bColumns != n)
        return "op(A) is " + std::to_string(aRows) + "×" + std::to_string(k) + ", op(B) " + std::to_string(bRows) + "×" +
               std::to_string(bColumns) + ", D " + std::to_string(m) + "×" + std::to_string(n) + ": shapes do not chain";
    const uint32_t epilogue = op.epilogue;
    if (epilogue != CCUBLASLT_EPILOGUE_DEFAULT && epilogue != CCUBLASLT_EPILOGUE_BIAS &&
        epilogue != CCUBLASLT_EPILOGUE_GELU_AUX_BIAS && epilogue != CCUBLASLT_EPILOGUE_DGELU &&
        epilogue != CCUBLASLT_EPILOGUE_BGRADB)
        return "epilogue " + std::to_string(epilogue) + " is not emulated";
    if (op.biasType != -1 && op.biasType != CCUDA_R_16BF && op.biasType != CCUDA_R_32F) return "the bias type must be bf16 or fp32";
    if (epilogue == CCUBLASLT_EPILOGUE_GELU_AUX_BIAS || epilogue == CCUBLASLT_EPILOGUE_DGELU) {
        if (op.auxLd % 8 != 0 || op.auxLd < int64_t(d.rows))
            return "EPILOGUE_AUX_LD " + std::to_string(op.auxLd) + " must be a multiple of 8 and at least D's " +
                   std::to_string(d.rows) + " rows";
        if (epilogue == CCUBLASLT_EPILOGUE_DGELU && op.bias != 0) return "DGELU takes no bias";
    }
    return "";
}

float element(const void* base, int type, uint64_t index) {
    if (type == CCUDA_R_32F) return static_cast<const float*>(base)[index];
    return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[index]);
}

/// op(M) (M itself, or with `transposed` Mᵀ) widened to fp32 into `dense`, column-major with a leading dimension of
/// op(M)'s rows. The buffers are reused from call to call: a training step's GEMMs would otherwise map and fault in
/// ~100 MB each.
const float* widen(const void* base, const Layout& layout, bool transposed, std::vector<float>& dense) {
    const uint64_t rows = transposed ? layout.columns : layout.rows;   // op(M)'s
    dense.resize(layout.rows * layout.columns);
    for (uint64_t j = 0; j < layout.columns; j++)
        for (uint64_t i = 0; i < layout.rows; i++) {
            const float value = element(base, layout.type, j * layout.ld + i);   // M(i, j) = op(M)(j, i) when transposed
            dense[transposed ? i * rows + j : j * rows + i] = value;
        }
    return dense.data();
}

/// product (m × n, column-major) = α·A·B for dense column-major A (m × k) and B (k × n). Each element is one fp32 sum
/// over k in order, then scaled by α, whatever the shapes, the CPU and the threads: the emulated GPU gives the same
/// bits whatever the CPU backend beside it does. (OpenBLAS gives other last bits on one thread than on several on
/// some CPUs, AMD Zen for k as short as 8, and its thread count is one setting for the whole process, which the CPU
/// backend changes from op to op.) Blocks of 8 rows × 4 columns keep their sums in
/// registers.
void multiply(uint64_t m, uint64_t n, uint64_t k, float alpha, const float* a, const float* b, float* product) {
    constexpr uint64_t blockRows = 8, blockColumns = 4;
    for (uint64_t j0 = 0; j0 < n; j0 += blockColumns) {
        const uint64_t columns = std::min(blockColumns, n - j0);
        for (uint64_t i0 = 0; i0 < m; i0 += blockRows) {
            const uint64_t rows = std::min(blockRows, m - i0);
            float sums[blockColumns][blockRows] = {};
            if (rows == blockRows && columns == blockColumns) {   // (constant bounds, which the compiler unrolls)
                for (uint64_t p = 0; p < k; p++)
                    for (uint64_t c = 0; c < blockColumns; c++) {
                        const float factor = b[(j0 + c) * k + p];
                        for (uint64_t r = 0; r < blockRows; r++) sums[c][r] += a[p * m + i0 + r] * factor;
                    }
            } else {   // the edges: the same sums, in the same order
                for (uint64_t p = 0; p < k; p++)
                    for (uint64_t c = 0; c < columns; c++) {
                        const float factor = b[(j0 + c) * k + p];
                        for (uint64_t r = 0; r < rows; r++) sums[c][r] += a[p * m + i0 + r] * factor;
                    }
            }
            for (uint64_t c = 0; c < columns; c++)
                for (uint64_t r = 0; r < rows; r++) product[(j0 + c) * m + i0 + r] = alpha * sums[c][r];
        }
    }
}

bool isDeviceMatrix(const void* base, const Layout& layout) {
    const uint64_t bytes = ((layout.columns - 1) * layout.ld + layout.rows) * typeBytes(layout.type);
    return is_device_range(reinterpret_cast<uintptr_t>(base), bytes);
}

bool aligned(const void* pointer, uint32_t alignment) { return reinterpret_cast<uintptr_t>(pointer) % alignment == 0; }

}  // namespace

extern "C" {

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
    if (!handle) return invalidValue;
    *handle = reinterpret_cast<cublasLtHandle_t>(&handleToken);
    return success;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
    return handle == reinterpret_cast<cublasLtHandle_t>(&handleToken) ? success : notInitialized;
}

size_t cublasLtGetVersion(void) { return size_t(cublaslt_version()); }

const char* cublasLtGetStatusString(cublasStatus_t status) {
    switch (status) {
    case success: return "CUBLAS_STATUS_SUCCESS";
    case notInitialized: return describe_failure(status, "CUBLAS_STATUS_NOT_INITIALIZED");
    case invalidValue: return describe_failure(status, "CUBLAS_STATUS_INVALID_VALUE");
    case executionFailed: return describe_failure(status, "CUBLAS_STATUS_EXECUTION_FAILED");
    case notSupported: return describe_failure(status, "CUBLAS_STATUS_NOT_SUPPORTED");
    default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, int computeType, int scaleType) {
    if (!desc) return invalidValue;
    *desc = reinterpret_cast<cublasLtMatmulDesc_t>(new MatmulDesc{computeType, scaleType});
    return success;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
    delete reinterpret_cast<MatmulDesc*>(desc);
    return success;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, int attribute, const void* value, size_t size) {
    if (!desc) return invalidValue;
    auto& op = *reinterpret_cast<MatmulDesc*>(desc);
    bool taken = false;
    switch (attribute) {
    case CCUBLASLT_MATMUL_DESC_TRANSA: taken = take(op.transA, value, size); break;
    case CCUBLASLT_MATMUL_DESC_TRANSB: taken = take(op.transB, value, size); break;
    case CCUBLASLT_MATMUL_DESC_EPILOGUE: taken = take(op.epilogue, value, size); break;
    case CCUBLASLT_MATMUL_DESC_BIAS_POINTER: taken = take(op.bias, value, size); break;
    case CCUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER: taken = take(op.aux, value, size); break;
    case CCUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD: taken = take(op.auxLd, value, size); break;
    case CCUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: taken = take(op.biasType, value, size); break;
    default: return fail(invalidValue, "matmul attribute " + std::to_string(attribute) + " is not emulated");
    }
    if (!taken) return fail(invalidValue, "matmul attribute " + std::to_string(attribute) + " given " + std::to_string(size) + " bytes");
    if ((op.transA != CCUBLAS_OP_N && op.transA != CCUBLAS_OP_T) || (op.transB != CCUBLAS_OP_N && op.transB != CCUBLAS_OP_T))
        return fail(invalidValue, "transpose must be CUBLAS_OP_N or CUBLAS_OP_T");
    return success;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    if (!layout) return invalidValue;
    *layout = reinterpret_cast<cublasLtMatrixLayout_t>(new Layout{type, rows, cols, ld});
    return success;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
    delete reinterpret_cast<Layout*>(layout);
    return success;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* preference) {
    if (!preference) return invalidValue;
    *preference = reinterpret_cast<cublasLtMatmulPreference_t>(new Preference);
    return success;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t preference) {
    delete reinterpret_cast<Preference*>(preference);
    return success;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t preference, int attribute,
                                                    const void* value, size_t size) {
    if (!preference) return invalidValue;
    auto& chosen = *reinterpret_cast<Preference*>(preference);
    // MIN_ALIGNMENT_A/B/C/D_BYTES are consecutive (cublasLt.h), as `alignment` is laid out
    constexpr int firstAlignment = CCUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, lastAlignment = CCUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES;
    static_assert(lastAlignment - firstAlignment == 3, "MIN_ALIGNMENT_A…D_BYTES are four consecutive attributes");
    bool taken = attribute == CCUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES ? take(chosen.workspaceBytes, value, size)
                 : attribute >= firstAlignment && attribute <= lastAlignment
                     ? take(chosen.alignment[attribute - firstAlignment], value, size)
                     : false;
    if (!taken) return fail(invalidValue, "preference attribute " + std::to_string(attribute) + " (" + std::to_string(size) + " bytes)");
    return success;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t operation,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
                                              cublasLtMatrixLayout_t d, cublasLtMatmulPreference_t preference,
                                              int requestedCount, cublasLtMatmulHeuristicResult_t* results, int* returnedCount) {
    if (handle != reinterpret_cast<cublasLtHandle_t>(&handleToken)) return notInitialized;
    if (!operation || !a || !b || !c || !d || !preference || requestedCount < 1 || !results || !returnedCount) return invalidValue;
    const std::string problem = validate(*reinterpret_cast<MatmulDesc*>(operation), *reinterpret_cast<Layout*>(a),
                                         *reinterpret_cast<Layout*>(b), *reinterpret_cast<Layout*>(c), *reinterpret_cast<Layout*>(d));
    if (!problem.empty()) return fail(notSupported, problem);
    const uint32_t epilogue = reinterpret_cast<MatmulDesc*>(operation)->epilogue;
    std::memset(results, 0, sizeof *results);
    *returnedCount = 0;
    if (epilogue == refusedEpilogue.load()) {
        const std::string refusal = "no algorithm with epilogue " + std::to_string(epilogue) + " (cuemu_refuse_epilogue)";
        switch (refusalForm.load()) {
        case 1: return success;
        case 2:   // an algorithm the matmul does not accept (no tag), marked as unusable
            results->state = fail(notSupported, refusal);   // (the detail its status string then gives)
            *returnedCount = 1;
            return success;
        default: return fail(notSupported, refusal);
        }
    }
    const auto& chosen = *reinterpret_cast<Preference*>(preference);
    results->algo.data[0] = algorithmTag;
    for (int i = 0; i < 4; i++) results->algo.data[1 + i] = chosen.alignment[i];
    results->wavesCount = 1;
    *returnedCount = 1;
    return success;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t operation, const void* alpha, const void* a,
                              cublasLtMatrixLayout_t aLayout, const void* b, cublasLtMatrixLayout_t bLayout, const void* beta,
                              const void* c, cublasLtMatrixLayout_t cLayout, void* d, cublasLtMatrixLayout_t dLayout,
                              const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspaceBytes, CUstream) {
    if (handle != reinterpret_cast<cublasLtHandle_t>(&handleToken)) return notInitialized;
    if (const int failure = nextMatmulFailure.exchange(0); failure != 0)
        return fail(failure, "failed on request (cuemu_fail_next_matmul)");
    if (!operation || !alpha || !beta || !aLayout || !bLayout || !cLayout || !dLayout) return invalidValue;
    const auto& op = *reinterpret_cast<MatmulDesc*>(operation);
    const auto &la = *reinterpret_cast<Layout*>(aLayout), &lb = *reinterpret_cast<Layout*>(bLayout);
    const auto &lc = *reinterpret_cast<Layout*>(cLayout), &ld = *reinterpret_cast<Layout*>(dLayout);
    const std::string problem = validate(op, la, lb, lc, ld);
    if (!problem.empty()) return fail(invalidValue, problem);
    if (!algo || algo->data[0] != algorithmTag) return fail(invalidValue, "algo is not one the heuristic returned");
    const void* operands[4] = {a, b, c, d};
    const Layout* layouts[4] = {&la, &lb, &lc, &ld};
    const char* names = "ABCD";
    for (int i = 0; i < 4; i++) {
        if (!isDeviceMatrix(operands[i], *layouts[i]))
            return fail(invalidValue, std::string("matrix ") + names[i] + " (" + shape(*layouts[i]) + ") is not inside a device allocation");
        if (!aligned(operands[i], uint32_t(algo->data[1 + i])))
            return fail(invalidValue, std::string("matrix ") + names[i] + " is less aligned than the " +
                                          std::to_string(algo->data[1 + i]) + " bytes promised to the heuristic");
    }
    if (workspaceBytes && !is_device_range(reinterpret_cast<uintptr_t>(workspace), workspaceBytes))
        return fail(invalidValue, "the workspace is not inside a device allocation");
    const bool withBias = op.epilogue == CCUBLASLT_EPILOGUE_BIAS || op.epilogue == CCUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    const bool biasGradient = op.epilogue == CCUBLASLT_EPILOGUE_BGRADB;
    const int biasElementType = biasType(op, ld);
    const uint64_t biasCount = biasGradient ? ld.columns : ld.rows;
    if ((withBias || biasGradient) && !is_device_range(op.bias, biasCount * typeBytes(biasElementType)))
        return fail(invalidValue, "the bias pointer (" + std::to_string(biasCount) + " elements) is not inside a device allocation");
    if (biasGradient && *static_cast<const float*>(alpha) != 1.0f)
        return fail(invalidValue, "BGRADB with α ≠ 1 is not emulated (is the bias gradient scaled by α?)");
    const bool geluForward = op.epilogue == CCUBLASLT_EPILOGUE_GELU_AUX_BIAS, geluBackward = op.epilogue == CCUBLASLT_EPILOGUE_DGELU;
    const Layout auxLayout{ld.type, ld.rows, ld.columns, op.auxLd};
    if ((geluForward || geluBackward) && !isDeviceMatrix(reinterpret_cast<const void*>(op.aux), auxLayout))
        return fail(invalidValue, "the GELU aux matrix (" + shape(auxLayout) + ") is not inside a device allocation");
    void* aux = reinterpret_cast<void*>(op.aux);

    const uint64_t m = ld.rows, n = ld.columns, k = op.transA == CCUBLAS_OP_N ? la.columns : la.rows;
    thread_local std::vector<float> denseA, denseB, product;
    product.resize(m * n);
    const bool transposedA = op.transA != CCUBLAS_OP_N, transposedB = op.transB != CCUBLAS_OP_N;
    multiply(m, n, k, *static_cast<const float*>(alpha), widen(a, la, transposedA, denseA), widen(b, lb, transposedB, denseB),
             product.data());
    const float scaleC = *static_cast<const float*>(beta);
    auto store = [&](void* base, uint64_t index, float value) {
        if (ld.type == CCUDA_R_32F) static_cast<float*>(base)[index] = value;
        else static_cast<__nv_bfloat16*>(base)[index] = __float2bfloat16_rn(value);
    };
    for (uint64_t j = 0; j < n; j++)
        for (uint64_t i = 0; i < m; i++) {
            float value = product[j * m + i];
            if (scaleC != 0.0f) value += scaleC * element(c, lc.type, j * lc.ld + i);   // β = 0: C is not read
            if (withBias) value += element(reinterpret_cast<const void*>(op.bias), biasElementType, i);
            if (geluForward) {   // aux = the GELU input (rounded to D's type), D = GELU of the unrounded value
                store(aux, j * op.auxLd + i, value);
                value = gelu(value);
            }
            if (geluBackward) value *= geluDerivative(element(aux, ld.type, j * op.auxLd + i));
            store(d, j * ld.ld + i, value);
        }
    if (biasGradient) {   // bias[j] = Σ_kk op(B)[kk][j], an fp32 sum in order of kk
        for (uint64_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (uint64_t kk = 0; kk < k; kk++) sum += denseB[j * k + kk];
            if (biasElementType == CCUDA_R_32F) reinterpret_cast<float*>(op.bias)[j] = sum;
            else reinterpret_cast<__nv_bfloat16*>(op.bias)[j] = __float2bfloat16_rn(sum);
        }
    }
    return success;
}

/// Not a cuBLASLt function: makes the heuristic find no algorithm with `epilogue` (0: refuse none).
void cuemu_refuse_epilogue(uint32_t epilogue) { refusedEpilogue.store(epilogue); }

/// Not a cuBLASLt function: how the heuristic reports the refused epilogue (0, 1, 2: see `refusalForm`).
void cuemu_set_refusal_form(int form) { refusalForm.store(form); }

/// Not a cuBLASLt function: makes the next cublasLtMatmul return `status` (a cublasStatus_t; 0 cancels).
void cuemu_fail_next_matmul(int status) { nextMatmulFailure.store(status); }

}  // extern "C"
